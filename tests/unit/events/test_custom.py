"""Your own events as models: checked where built, tracked like the ten, validated by name."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Literal
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

import b2b_events
from b2b_events import Event, InvalidEventError, Tracker, TrackingPlan
from b2b_events._delivery.wire import MAX_DEPTH
from b2b_events.events import Date, DateTime, TrackMessage
from b2b_events.testing import Capture


class ReportExported(Event, name="Report Exported", group=True):
    """A report was exported (``csv`` or ``pdf``)."""

    report_id: str
    format: Literal["csv", "pdf"]
    rows: int | None = None


class SeatLimitReached(Event, name="Seat Limit Reached"):
    """The account used its last seat."""

    seats: int
    since: DateTime | None = None
    renewal: Date | None = None


class CartShared(Event, name="Cart Shared"):
    """A property whose type is defined further down: resolved on first use."""

    cart: Cart


class Cart(BaseModel):
    sku: str


class Shade(Enum):
    DARK = "dark"


PLAN = TrackingPlan.b2b_saas().with_events(ReportExported, SeatLimitReached)


def _problems(exc: pytest.ExceptionInfo[InvalidEventError]) -> list[str]:
    return [str(problem) for problem in exc.value.problems]


def test_building_an_event_checks_its_properties() -> None:
    with pytest.raises(InvalidEventError) as exc:
        ReportExported(report_id=1, format="xls")  # type: ignore[arg-type]
    assert exc.value.event == "Report Exported"
    assert _problems(exc) == [
        "properties.report_id: must be a string",
        "properties.format: must be 'csv' or 'pdf'",
    ]


def test_a_missing_required_property_is_named() -> None:
    with pytest.raises(InvalidEventError, match=r"properties\.format: required"):
        ReportExported(report_id="r_1")  # type: ignore[call-arg]


def test_properties_are_strict_as_json_schema_reads_them() -> None:
    with pytest.raises(InvalidEventError, match=r"properties\.rows: must be an integer"):
        ReportExported(report_id="r_1", format="csv", rows="5")  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError, match=r"properties\.seats: must be an integer"):
        SeatLimitReached(seats=True)


def test_dates_take_objects_and_iso_strings_but_not_naive_or_inexact_ones() -> None:
    event = SeatLimitReached(seats=3, since="2026-11-01T10:00:00Z", renewal="2027-01-01")  # type: ignore[arg-type]
    assert event.since == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    assert event.renewal == date(2027, 1, 1)
    with pytest.raises(
        InvalidEventError, match=r"properties\.since: must be an RFC 3339 date-time"
    ):
        SeatLimitReached(seats=3, since="2026-11-01T10:00:00")  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError, match=r"properties\.renewal: must be a date"):
        SeatLimitReached(seats=3, renewal="2027-01-01T00:00:00")  # type: ignore[arg-type]


def test_extra_properties_take_what_track_takes_and_declared_ones_stay_strict() -> None:
    """Dates, Decimal, UUID, Enum and tuples next to the declared properties are made JSON."""
    key = UUID("12345678-1234-5678-1234-567812345678")
    event = ReportExported(
        report_id="r_1",
        format="csv",
        amount=Decimal("12.50"),  # type: ignore[call-arg]
        on=date(2026, 11, 1),
        key=key,
        shade=Shade.DARK,
        tags=("a", "b"),
    )
    assert event.model_extra == {
        "amount": 12.5,
        "on": "2026-11-01",
        "key": str(key),
        "shade": "dark",
        "tags": ["a", "b"],
    }
    with pytest.raises(InvalidEventError) as exc:  # the declared ones are not converted
        ReportExported(report_id=key, format="csv", amount=Decimal(1))  # type: ignore[arg-type, call-arg]
    assert _problems(exc) == ["properties.report_id: must be a string"]
    with pytest.raises(InvalidEventError, match=r"properties\.blob: must be a JSON value"):
        ReportExported(report_id="r_1", format="csv", blob=object())  # type: ignore[call-arg]


def test_a_float_property_takes_a_decimal_as_a_float_and_an_int_one_refuses_it() -> None:
    """As undeclared properties and ``track(properties=)`` do: a Decimal is sent as a float."""

    class Invoiced(Event, name="Invoice Paid"):
        amount: float
        seats: int | None = None

    paid = Invoiced(amount=Decimal("19.99"))  # type: ignore[arg-type]  # typed: a float
    assert type(paid.amount) is float
    assert paid.model_dump_json() == '{"amount":19.99,"seats":null}'
    with pytest.raises(InvalidEventError) as exc:
        Invoiced(amount="19.99", seats=Decimal(2))  # type: ignore[arg-type]
    assert _problems(exc) == [
        "properties.amount: must be a number",
        "properties.seats: must be an integer",
    ]


def test_a_declared_property_given_by_its_alias_is_not_converted() -> None:
    class Linked(Event, name="Report Linked"):
        ref: str = Field(alias="refId")

    key = UUID("12345678-1234-5678-1234-567812345678")
    assert Linked(refId="r_1").ref == "r_1"
    with pytest.raises(InvalidEventError, match=r"properties\.refId: must be a string"):
        Linked(refId=key)  # type: ignore[arg-type]


def test_the_account_never_goes_in_the_properties_of_a_group_event() -> None:
    with pytest.raises(InvalidEventError, match=r"properties\.groupId: the account goes"):
        ReportExported(report_id="r_1", format="csv", groupId="acct_1")  # type: ignore[call-arg]
    assert SeatLimitReached(seats=1, groupId="x").model_extra == {"groupId": "x"}  # type: ignore[call-arg]


def test_tracking_an_event_puts_it_on_the_wire_like_the_ten() -> None:
    sent: list[b2b_events.events.Message] = []
    at = datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
    message = Tracker(sink=sent.append)(
        ReportExported(report_id="r_1", format="csv"),
        user_id="u_1",
        group_id="acct_1",
        properties={"source": "api"},
        context={"ip": "203.0.113.7"},
        timestamp=at,
        message_id="m_1",
    )
    assert sent == [message]
    assert isinstance(message, TrackMessage)
    assert message.to_wire() == {
        "type": "track",
        "event": "Report Exported",
        "userId": "u_1",
        "messageId": "m_1",
        "timestamp": "2026-11-22T10:00:00.000Z",
        "context": {
            "ip": "203.0.113.7",
            "groupId": "acct_1",
            "library": {"name": "b2b-events", "version": b2b_events.__version__},
        },
        "properties": {"report_id": "r_1", "format": "csv", "source": "api"},
    }


def test_a_group_event_requires_group_id_and_others_do_not() -> None:
    track = Tracker()
    with pytest.raises(InvalidEventError) as exc:
        track(ReportExported(report_id="r_1", format="csv"), user_id="u_1")
    assert _problems(exc) == ["context.groupId: required"]
    message = track(SeatLimitReached(seats=5), anonymous_id="a_1")
    assert "groupId" not in message.to_wire()["context"]


def test_tracking_checks_the_envelope_and_repeated_properties() -> None:
    with pytest.raises(InvalidEventError) as exc:
        Tracker()(SeatLimitReached(seats=5), properties={"seats": 6})
    assert _problems(exc) == [
        "properties.seats: given both as a keyword and in the mapping",
        "userId: required (or anonymousId)",
    ]


def test_a_custom_event_has_the_one_nesting_limit_of_every_message() -> None:
    deep: dict[str, object] = {}
    level = deep
    for _ in range(MAX_DEPTH):
        level["a"] = level = {}

    with pytest.raises(InvalidEventError, match=f"nested too deeply \\(over {MAX_DEPTH} levels\\)"):
        Tracker()(SeatLimitReached(seats=5), user_id="u_1", properties={"deep": deep})
    # Extra properties given to the event itself are held to the same limit.
    with pytest.raises(InvalidEventError) as raised:
        SeatLimitReached(seats=5, deep=deep)  # type: ignore[call-arg]  # an extra property
    (problem,) = raised.value.problems
    assert problem.path.startswith("properties.deep.a.a")
    assert problem.reason == f"nested too deeply (over {MAX_DEPTH} levels)"
    assert str(raised.value).startswith("Seat Limit Reached: properties.deep.a")


def test_tracking_something_else_than_an_event_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"track\.event\(name"):
        Tracker()("Report Exported", user_id="u_1")  # type: ignore[arg-type]


def test_the_module_level_track_and_both_clients_take_an_event(
    b2b_events_capture: Capture,
) -> None:
    b2b_events.init()
    b2b_events.track(SeatLimitReached(seats=5), user_id="u_1")
    with b2b_events.Client() as client:
        client.track(SeatLimitReached(seats=6), user_id="u_2")

    async def in_a_loop() -> None:
        async with b2b_events.AsyncClient() as client:
            client.track(ReportExported(report_id="r", format="pdf"), user_id="u_3", group_id="g")

    asyncio.run(in_a_loop())
    b2b_events.close()
    assert [(m["userId"], m["event"]) for m in b2b_events_capture.messages] == [
        ("u_1", "Seat Limit Reached"),
        ("u_2", "Seat Limit Reached"),
        ("u_3", "Report Exported"),
    ]


@pytest.mark.parametrize(
    ("properties", "problems"),
    [
        ({"report_id": "r", "format": "csv"}, []),
        ({"report_id": "r", "format": "xls"}, ["properties.format: must be 'csv' or 'pdf'"]),
        ({"format": "csv", "rows": 1.5}, ["properties.report_id: required"]),
    ],
)
def test_validate_with_a_plan_checks_an_event_by_its_model(
    properties: dict[str, object], problems: list[str]
) -> None:
    payload = {
        "type": "track",
        "event": "Report Exported",
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": properties,
    }
    if not problems:
        message = b2b_events.validate(payload, plan=PLAN)
        assert isinstance(message, TrackMessage)
        assert isinstance(message.properties, ReportExported)
        return
    with pytest.raises(InvalidEventError) as exc:
        b2b_events.validate(payload, plan=PLAN)
    assert _problems(exc)[: len(problems)] == problems


def test_an_event_needs_a_name_other_than_a_spec_event() -> None:
    with pytest.raises(TypeError, match="spec event"):

        class SignedUpAgain(Event, name="Signed Up"):  # pragma: no cover - refused
            pass

    with pytest.raises(TypeError):

        class Nameless(Event):  # pragma: no cover - refused
            pass


def test_a_property_type_defined_after_the_event_is_resolved_on_first_use() -> None:
    message = Tracker()(CartShared(cart=Cart(sku="s_1")), user_id="u_1")
    assert message.to_wire()["properties"] == {"cart": {"sku": "s_1"}}
    with pytest.raises(InvalidEventError, match=r"properties\.cart\.sku: required"):
        b2b_events.validate(
            {"type": "track", "event": "Cart Shared", "userId": "u", "properties": {"cart": {}}},
            plan=TrackingPlan(events=[CartShared]),
        )
