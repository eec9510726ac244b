"""Property tests: what the builders write, ``validate`` reads back the same; junk never crashes."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2b_events import InvalidEventError, Tracker, validate
from b2b_events.events import SPEC_EVENTS, Message, Properties

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every semantic property of every event: a custom property must not reuse one
# with a value of another type, so generated custom keys avoid them all; nor the
# account's keys, which the spec keeps out of properties.


def properties_class(event: str) -> type[Properties]:
    return cast("type[Properties]", SPEC_EVENTS[event].model_fields["properties"].annotation)


SEMANTIC: frozenset[str] = frozenset().union(*(properties_class(e).semantic for e in SPEC_EVENTS))
ACCOUNT_KEYS = frozenset({"groupId", "group_id"})


def _has_non_space(text: str) -> bool:
    # Conservative against the model's r"\S": str.isspace() counts a few more characters.
    return any(not char.isspace() for char in text)


ids = st.text(min_size=1, max_size=24).filter(_has_non_space)
texts = st.text(max_size=24)
optional_texts = st.none() | texts
emails = st.emails()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
custom_properties = st.dictionaries(
    st.text(max_size=12).filter(lambda key: key not in SEMANTIC and key not in ACCOUNT_KEYS),
    json_values,
    max_size=4,
)
# Top-level None values of the context are left out of the wire form (exclude_none),
# so a message holding one would not equal its wire form read back: keep them out.
contexts = st.dictionaries(
    st.sampled_from(["ip", "locale", "userAgent", "timezone", "page", "campaign"]),
    json_values.filter(lambda value: value is not None),
    max_size=3,
)
integrations = st.dictionaries(
    st.sampled_from(["All", "Mixpanel", "Amplitude", "Salesforce"]), st.booleans(), max_size=3
)
zones = st.just(timezone.utc) | st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=zones
)


@st.composite
def envelopes(draw: st.DrawFn, *, group: bool = True) -> dict[str, Any]:
    """The keyword arguments every builder shares; at least one of userId / anonymousId."""
    who = draw(st.sampled_from(["user", "anonymous", "both"]))
    kwargs: dict[str, Any] = {
        "user_id": draw(ids) if who != "anonymous" else None,
        "anonymous_id": draw(ids) if who != "user" else None,
        "context": draw(st.none() | contexts),
        "integrations": draw(st.none() | integrations),
        "timestamp": draw(st.none() | aware_datetimes),
        "message_id": draw(st.none() | ids.filter(lambda text: len(text) <= 100)),
    }
    if group:
        kwargs["group_id"] = draw(ids)
    return kwargs


@st.composite
def trial_dates(draw: st.DrawFn) -> dict[str, Any]:
    """A start and an end no earlier than it, each as a date, a datetime or an ISO string."""
    start = draw(aware_datetimes)
    end = start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))

    def form(moment: datetime) -> date | datetime | str:
        day = moment.astimezone(timezone.utc).date()
        forms: list[date | datetime | str] = [moment, day, moment.isoformat(), day.isoformat()]
        return draw(st.sampled_from(forms))

    return {"trial_start_date": form(start), "trial_end_date": form(end)}


@st.composite
def builder_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A Tracker method name and valid keyword arguments for it."""
    method = draw(
        st.sampled_from(
            [
                "account_created",
                "account_deleted",
                "signed_up",
                "signed_in",
                "signed_out",
                "invite_sent",
                "account_added_user",
                "account_removed_user",
                "trial_started",
                "trial_ended",
                "identify",
                "group",
            ]
        )
    )
    if method in ("identify", "group"):
        kwargs = draw(envelopes(group=False))
        kwargs["traits"] = draw(st.none() | custom_properties)
        kwargs["group_id"] = draw(ids) if method == "group" else draw(st.none() | ids)
        return method, kwargs
    kwargs = draw(envelopes())
    kwargs["properties"] = draw(st.none() | custom_properties)
    if method == "account_created":
        kwargs["account_name"] = draw(ids)
    elif method == "account_deleted":
        kwargs["account_name"] = draw(optional_texts)
    elif method == "signed_up":
        for name in ("type", "first_name", "last_name", "phone", "username", "title"):
            kwargs[name] = draw(optional_texts)
        kwargs["email"] = draw(st.none() | emails)
    elif method in ("signed_in", "signed_out"):
        kwargs["username"] = draw(optional_texts)
    elif method == "invite_sent":
        kwargs["invitee_email"] = draw(emails)
        for name in ("invitee_first_name", "invitee_last_name", "invitee_role"):
            kwargs[name] = draw(optional_texts)
    elif method == "account_added_user":
        kwargs["role"] = draw(optional_texts)
    elif method in ("trial_started", "trial_ended"):
        kwargs.update(draw(trial_dates()))
        kwargs["trial_plan_name"] = draw(ids)
    return method, kwargs


@SETTINGS
@given(builder_calls())
def test_validate_reads_back_what_every_builder_writes(call: tuple[str, dict[str, Any]]) -> None:
    method, kwargs = call
    sent: list[Message] = []
    message: Message = getattr(Tracker(sink=sent.append), method)(**kwargs)
    wire = message.to_wire()

    again = validate(wire)

    assert sent == [message]
    assert type(again) is type(message)
    assert again == message
    assert again.to_wire() == wire
    assert json.loads(message.to_json()) == wire


@SETTINGS
@given(builder_calls())
def test_wire_form_is_plain_json_with_utc_timestamps(call: tuple[str, dict[str, Any]]) -> None:
    method, kwargs = call
    wire = getattr(Tracker(), method)(**kwargs).to_wire()

    assert json.loads(json.dumps(wire)) == wire
    assert wire["timestamp"].endswith("Z")
    assert datetime.fromisoformat(wire["timestamp"][:-1]).tzinfo is None
    if kwargs.get("timestamp") is not None:
        stamp = datetime.fromisoformat(wire["timestamp"][:-1]).replace(tzinfo=timezone.utc)
        assert stamp == kwargs["timestamp"]


# -- junk ---------------------------------------------------------------------------

json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
any_datetimes = st.datetimes(timezones=st.none() | zones)
timestamps = (
    any_datetimes.map(lambda moment: moment.isoformat())
    | st.dates().map(lambda day: day.isoformat())
    | json_junk
)
semantic_properties = st.dictionaries(
    st.sampled_from(sorted(SEMANTIC)) | st.text(max_size=10), timestamps, max_size=5
)
# Containers where a string is expected, often: an unhashable value breaks naive lookups.
containers = st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2
)
junk_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "track", "identify", "group", "page"]) | json_junk},
    optional={
        "event": st.sampled_from([*SPEC_EVENTS, "Report Exported", "", " "])
        | containers
        | json_junk,
        "userId": st.sampled_from(["u_1", "", " "]) | json_junk,
        "anonymousId": st.sampled_from(["a_1", ""]) | json_junk,
        "groupId": st.sampled_from(["acct_1", ""]) | json_junk,
        "messageId": st.text(max_size=120) | json_junk,
        "timestamp": timestamps,
        "context": st.fixed_dictionaries(
            {}, optional={"groupId": st.sampled_from(["acct_1", "", " "]) | json_junk}
        )
        | json_junk,
        "properties": semantic_properties | json_junk,
        "traits": json_junk,
        "integrations": json_junk,
        "receivedAt": timestamps,
    },
)


def _validate_or_error(payload: Any, strict: bool) -> Message | InvalidEventError:
    try:
        return validate(payload, strict=strict)
    except InvalidEventError as error:
        return error


def _check_junk(payload: Any, strict: bool) -> None:
    result = _validate_or_error(payload, strict)
    if isinstance(result, InvalidEventError):
        assert result.problems
        assert str(result).startswith(f"{result.event}: ")
    else:
        assert isinstance(result, Message)
        # Whatever validate accepts can go on the wire and be read again.
        assert type(validate(result.to_wire(), strict=strict)) is type(result)


@SETTINGS
@given(json_junk, st.booleans())
def test_validate_on_any_json_value_returns_a_message_or_raises_invalid_event(
    payload: Any, strict: bool
) -> None:
    _check_junk(payload, strict)


@SETTINGS
@given(junk_messages, st.booleans())
def test_validate_on_message_shaped_junk_returns_a_message_or_raises_invalid_event(
    payload: dict[str, Any], strict: bool
) -> None:
    _check_junk(payload, strict)


@SETTINGS
@given(st.floats(allow_nan=False) | st.integers(), st.sampled_from(sorted(SEMANTIC)))
def test_numbers_are_never_accepted_where_a_string_or_date_is_expected(
    number: float, name: str
) -> None:
    event = next(event for event in SPEC_EVENTS if name in properties_class(event).semantic)
    wire = {
        "type": "track",
        "event": event,
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": {name: number},
    }

    with pytest.raises(InvalidEventError) as info:
        validate(wire)

    assert f"properties.{name}" in [problem.path for problem in info.value.problems]
