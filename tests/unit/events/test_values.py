"""Values analytics-python accepts (dates, Decimal, UUID, ...) become the JSON it sends."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pydantic
import pytest

from b2b_events import InvalidEventError, Tracker

UID = UUID("3f0c5b0e-8c1d-4a6e-9f3b-2d7c5e1a9b40")
CET = timezone(timedelta(hours=1))


class Plan(enum.Enum):
    PRO = "pro"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (date(2026, 11, 22), "2026-11-22"),
        (datetime(2026, 11, 22, 10, 0, tzinfo=CET), "2026-11-22T10:00:00+01:00"),
        (
            datetime(2026, 11, 22, 10, 0, 0, 5000, tzinfo=timezone.utc),
            "2026-11-22T10:00:00.005000+00:00",
        ),
        (datetime(2026, 11, 22, 10, 0), "2026-11-22T10:00:00"),  # naive: no offset, as given
        (Decimal("99.84"), 99.84),
        (UID, str(UID)),
        (Plan.PRO, "pro"),
        ((1, Decimal("2")), [1, 2.0]),
        ({"nested": [date(2026, 1, 2)]}, {"nested": ["2026-01-02"]}),
    ],
)
def test_custom_values_become_what_analytics_python_sends(value: Any, wire: Any) -> None:
    track = Tracker()

    event = track.signed_in(user_id="u", group_id="g", properties={"v": value})
    identify = track.identify(user_id="u", traits={"v": value}, context={"v": value})
    page = track.page(user_id="u", properties={"v": value})

    assert event.to_wire()["properties"]["v"] == wire
    assert identify.to_wire()["traits"]["v"] == wire
    assert identify.to_wire()["context"]["v"] == wire
    assert page.to_wire()["properties"]["v"] == wire


def test_a_set_becomes_a_list() -> None:
    page = Tracker().page(user_id="u", properties={"tags": {"a"}})

    assert page.to_wire()["properties"]["tags"] == ["a"]


def test_converted_values_still_meet_the_spec_rules() -> None:
    with pytest.raises(InvalidEventError) as info:
        Tracker().signed_up(user_id="u", group_id="g", email="nope", properties={"d": date.today()})

    assert str(info.value) == "Signed Up: properties.email: must be an email address"


@dataclasses.dataclass
class Seat:
    role: str


class Owner(pydantic.BaseModel):
    name: str


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (Seat("admin"), "not Seat; pass dataclasses.asdict(value) for a dataclass"),
        (Owner(name="P"), "not Owner; pass value.model_dump(mode='json') for a pydantic model"),
    ],
)
def test_other_objects_are_refused_with_how_to_fix_it(value: Any, hint: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        Tracker().page(user_id="u", properties={"seat": value})

    assert str(info.value) == (
        "page: properties.seat: must be a JSON value "
        f"(str, int, float, bool, None, list or dict), {hint}"
    )
