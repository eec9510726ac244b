"""Property tests: an Event's constructor, ``validate()``, its JSON Schema and the plan read
back from its Segment export accept and refuse the same messages."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from b2b_events import Event, InvalidEventError, TrackingPlan, validate
from b2b_events.events import Date, DateTime


class ProbeChecked(Event, name="Probe Checked", group=True):
    """One of each kind of property a team declares."""

    label: str
    kind: Literal["a", "b"]
    count: int | None = None
    ratio: float | None = None
    flag: bool = False
    at: DateTime | None = None
    day: Date | None = None
    tags: list[str] | None = None


PLAN = TrackingPlan(name="Probes", events=[ProbeChecked])
SCHEMA = Draft7Validator(
    PLAN.json_schema("Probe Checked"), format_checker=Draft7Validator.FORMAT_CHECKER
)
IMPORTED = TrackingPlan.from_segment(json.loads(json.dumps(PLAN.to_segment())))

_ZONES = st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
# From 1900: on the calendar's first day an offset date-time has no UTC form, which the
# models refuse and RFC 3339 does not care about.
_MOMENTS = st.builds(
    lambda moment, zone, spec, sep: moment.replace(tzinfo=zone).isoformat(sep, spec),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 1, 1)),
    _ZONES,
    st.sampled_from(["auto", "minutes", "milliseconds"]),
    st.sampled_from(["T", " ", "t"]),
)
_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    # JSON Schema counts 1.0 as an integer, the models do not: JSON writers emit 1, not 1.0.
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=6),
    st.integers().map(str),
    st.sampled_from(["a", "b", "c", "A"]),
    _MOMENTS,
    st.dates().map(date.isoformat),
)
_DAYS = st.dates().map(date.isoformat)
_VALUES = st.one_of(_JSON_SCALARS, st.lists(_JSON_SCALARS, max_size=3))
_FIELDS = [*ProbeChecked.model_fields, "groupId", "custom"]
# A valid core with a few fields replaced or dropped: each message is near the boundary.
_PROPERTIES = st.builds(
    lambda changes, dropped: {
        key: value
        for key, value in {"label": "x", "kind": "a", **changes}.items()
        if key not in dropped
    },
    st.one_of(
        st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=3),
        st.fixed_dictionaries({"at": _MOMENTS | _DAYS}),
        st.fixed_dictionaries({"day": _MOMENTS | _DAYS | _DAYS.map(lambda d: d + "T00:00:00")}),
    ),
    st.sets(st.sampled_from(["label", "kind"]), max_size=1),
)


def _accepts(check: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except InvalidEventError:
        return False
    return True


def _message(properties: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Probe Checked",
        "userId": "u_1",
        "context": context,
        "properties": properties,
    }


@settings(max_examples=400, deadline=None)
@given(properties=_PROPERTIES, grouped=st.booleans())
def test_constructor_validate_schema_and_the_imported_plan_agree(
    properties: dict[str, Any], grouped: bool
) -> None:
    message = _message(properties, {"groupId": "acct_1"} if grouped else {})
    by_validate = _accepts(validate, message, plan=PLAN)
    assert SCHEMA.is_valid(message) == by_validate, list(SCHEMA.iter_errors(message))
    assert _accepts(IMPORTED.validate, message) == by_validate
    if grouped:
        assert _accepts(ProbeChecked, **properties) == by_validate


@settings(max_examples=200, deadline=None)
@given(
    label=st.text(),
    kind=st.sampled_from(["a", "b"]),
    count=st.none() | st.integers(),
    at=st.none() | st.datetimes(timezones=st.just(timezone.utc), min_value=datetime(1900, 1, 1)),
    day=st.none() | st.dates(),
)
def test_every_event_the_constructor_builds_passes_all_three_checks(
    label: str, kind: str, count: int | None, at: datetime | None, day: date | None
) -> None:
    event = ProbeChecked(label=label, kind=kind, count=count, at=at, day=day)  # type: ignore[arg-type]
    wire = json.loads(json.dumps(event.model_dump(mode="json", exclude_none=True)))
    message = _message(wire, {"groupId": "acct_1"})
    assert validate(message, plan=PLAN).properties == event  # type: ignore[union-attr]
    assert SCHEMA.is_valid(message)
    assert _accepts(IMPORTED.validate, message)
