"""``CoreFirst``: timestamps and trial dates checked in pydantic-core, with the declared results.

The core-only members must accept a subset of what the declared type accepts,
with the same value, and every refusal must read as the declared type's. The
property tests pin both; a profiler pins that a valid value never calls back
into Python (what the members are for, #18).
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import FrameType
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError, WrapValidator

from b2b_events import InvalidEventError, validate
from b2b_events.events import _b2b
from b2b_events.events._common import Timestamp, TimestampRules
from b2b_events.events._errors import problems_from

DeclaredTrialDate = Annotated[
    TimestampRules | date,
    Field(union_mode="left_to_right"),
    WrapValidator(_b2b._one_error_for_trial_date),
]

PAIRS: list[tuple[TypeAdapter[Any], TypeAdapter[Any]]] = [
    (TypeAdapter(Timestamp), TypeAdapter(TimestampRules)),
    (TypeAdapter(_b2b.TrialDate), TypeAdapter(DeclaredTrialDate)),
]

_zones = st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-23))]
)
_datetimes = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
    _zones,
)
_texts = st.one_of(
    _datetimes.map(datetime.isoformat),
    _datetimes.map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.dates().map(date.isoformat),
    st.sampled_from(
        [
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00Z",
            "2026-11-22 10:00:00+01:00",
            "2026-11-22T10:00:00",
            "0001-01-01T00:30:00+01:00",
            "9999-12-31T23:30:00-01:00",
            "2026-13-01",
            "2026-11-31T10:00:00Z",
            "20261122",
            "1.5e9",
            " 12 ",
            "nan",
            "10:00",
            "",
            "not a date",
        ]
    ),
)
_values = st.one_of(
    _datetimes,
    st.dates(),
    _texts,
    _texts.map(str.encode),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.sampled_from([None, Decimal("1.5"), [], {}, True]),
)


def _outcome(adapter: TypeAdapter[Any], value: Any) -> tuple[str, Any]:
    try:
        result = adapter.validate_python(value)
    except ValidationError as exc:
        return "refused", [str(problem) for problem in problems_from(exc)]
    return "accepted", (type(result), result, adapter.dump_python(result, mode="json"))


@settings(max_examples=600, deadline=None)
@given(value=_values)
def test_core_first_types_agree_with_their_declared_rules(value: Any) -> None:
    for core_first, declared in PAIRS:
        assert _outcome(core_first, value) == _outcome(declared, value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (5, "must be an ISO-8601 string or a datetime, not a number"),
        ("2026-11-22T10:00:00", "naive datetime (no timezone)"),
        ("0001-01-01T00:30:00+01:00", "out of range once converted to UTC"),
        ("yesterday", "must be an ISO-8601 date-time such as 2026-11-22T10:00:00.000Z"),
    ],
)
def test_a_refused_timestamp_reads_as_before_at_its_own_path(value: Any, reason: str) -> None:
    wire = {"type": "identify", "userId": "u_1", "timestamp": value}
    with pytest.raises(InvalidEventError) as raised:
        validate(wire)
    ((problem),) = raised.value.problems
    assert problem.path == "timestamp"
    assert problem.reason.startswith(reason)


def _python_calls_while(call: Any) -> set[str]:
    """The names of the Python functions run while ``call()`` runs."""
    seen: set[str] = set()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.add(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


def test_valid_timestamps_and_trial_dates_are_checked_without_python_callbacks() -> None:
    wire = {
        "type": "track",
        "event": "Trial Started",
        "userId": "u_1",
        "timestamp": "2026-11-22T10:00:00.000Z",
        "context": {"groupId": "acct_1"},
        "properties": {
            "trial_start_date": "2026-11-22",
            "trial_end_date": "2026-12-06T10:00:00Z",
            "trial_plan_name": "Pro",
        },
    }
    validator = _b2b.TrialStarted.__pydantic_validator__.validate_python
    called = _python_calls_while(lambda: validator(wire))
    rules = {"_no_epoch_numbers", "_in_utc_range", "_one_error_for_trial_date"}
    assert not called & rules
    assert "_end_not_before_start" in called  # a model rule: still the model's, in Python
