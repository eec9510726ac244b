"""``b2b_events.validate`` on wire-format dicts: the right class, or every problem named."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import b2b_events
from b2b_events import InvalidEventError, Problem, validate
from b2b_events._delivery.wire import MAX_DEPTH
from b2b_events.events import (
    SPEC_EVENTS,
    AccountAddedUser,
    AccountCreated,
    AccountDeleted,
    AccountRemovedUser,
    Group,
    Identify,
    InviteSent,
    Message,
    SignedIn,
    SignedOut,
    SignedUp,
    Track,
    TrialEnded,
    TrialStarted,
)
from b2b_events.events._errors import depth_error, shallow_text
from b2b_events.events._validate import valid_name

TS_WIRE = "2026-11-22T10:00:00.000Z"
MID = "3f0c5b0e-8c1d-4a6e-9f3b-2d7c5e1a9b40"
TYPE_REASON = (
    "must be one of Segment's types: 'track', 'identify', 'group', 'page', 'screen', 'alias'"
)

REQUIRED_PROPERTIES: dict[str, dict[str, Any]] = {
    "Account Created": {"account_name": "Initech"},
    "Invite Sent": {"invitee_email": "milton@initech.com"},
    "Trial Started": {
        "trial_start_date": "2026-11-01",
        "trial_end_date": "2026-11-15",
        "trial_plan_name": "Pro",
    },
    "Trial Ended": {
        "trial_start_date": "2026-11-01T00:00:00.000Z",
        "trial_end_date": "2026-11-15T00:00:00.000Z",
        "trial_plan_name": "Pro",
    },
}


def track(event: str, **fields: Any) -> dict[str, Any]:
    """A valid wire dict for ``event`` (with its required properties), updated by ``fields``."""
    wire: dict[str, Any] = {
        "type": "track",
        "event": event,
        "userId": "u_1",
        "context": {"groupId": "acct_123"},
        "properties": dict(REQUIRED_PROPERTIES.get(event, {})),
        "timestamp": TS_WIRE,
        "messageId": MID,
    }
    wire.update(fields)
    return wire


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ("Account Created", AccountCreated),
        ("Account Deleted", AccountDeleted),
        ("Signed Up", SignedUp),
        ("Signed In", SignedIn),
        ("Signed Out", SignedOut),
        ("Invite Sent", InviteSent),
        ("Account Added User", AccountAddedUser),
        ("Account Removed User", AccountRemovedUser),
        ("Trial Started", TrialStarted),
        ("Trial Ended", TrialEnded),
    ],
)
def test_each_spec_event_comes_back_as_its_own_class(event: str, cls: type[Message]) -> None:
    message = validate(track(event))

    assert type(message) is cls
    assert message.name == event
    assert message.to_wire() == track(event)


def test_spec_events_are_the_ten_of_the_spec_in_order() -> None:
    assert list(SPEC_EVENTS) == [
        "Account Created",
        "Account Deleted",
        "Signed Up",
        "Signed In",
        "Signed Out",
        "Invite Sent",
        "Account Added User",
        "Account Removed User",
        "Trial Started",
        "Trial Ended",
    ]


def test_strict_accepts_the_spec_events() -> None:
    assert isinstance(validate(track("Signed In"), strict=True), SignedIn)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param("Report Exported", id="custom event"),
        pytest.param("User Signed Up", id="Object-Action name"),
        pytest.param("signed up", id="wrong case"),
    ],
)
def test_other_track_events_get_envelope_checks_only(event: str) -> None:
    # No groupId: that rule belongs to the ten spec events.
    message = validate({"type": "track", "event": event, "userId": "u_1"})

    assert type(message) is Track
    assert message.name == event


@pytest.mark.parametrize("event", ["Report Exported", "User Signed Up"])
def test_strict_rejects_track_events_outside_the_spec(event: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        validate({"type": "track", "event": event, "userId": "u_1"}, strict=True)

    assert str(info.value) == (
        f"{event}: event: {event!r} is not a B2B SaaS spec event (strict mode)"
    )
    assert "strict" in str(info.value)


def test_strict_lists_its_problem_before_the_envelope_problems() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate({"type": "track", "event": "Report Exported"}, strict=True)

    assert info.value.problems == (
        Problem("event", "'Report Exported' is not a B2B SaaS spec event (strict mode)"),
        Problem("userId", "required (or anonymousId)"),
    )


@pytest.mark.parametrize("event", [[], {}, 7, None])
def test_strict_with_an_event_that_is_not_a_string_is_an_invalid_event(event: object) -> None:
    with pytest.raises(InvalidEventError) as info:
        validate({"type": "track", "event": event, "userId": "u_1"}, strict=True)

    assert info.value.event == "track"
    assert info.value.problems[0].path == "event"


def test_strict_does_not_apply_to_identify_and_group() -> None:
    assert isinstance(validate({"type": "identify", "userId": "u_1"}, strict=True), Identify)
    assert isinstance(
        validate({"type": "group", "userId": "u_1", "groupId": "acct_1"}, strict=True), Group
    )


def test_identify_comes_back_as_identify_with_its_traits() -> None:
    wire = {
        "type": "identify",
        "anonymousId": "anon_1",
        "traits": {"email": "p@initech.com", "address": {"city": "Austin"}},
        "context": {"groupId": "acct_1"},
        "timestamp": TS_WIRE,
        "messageId": MID,
    }

    message = validate(wire)

    assert type(message) is Identify
    assert message.traits == {"email": "p@initech.com", "address": {"city": "Austin"}}
    assert message.to_wire() == wire


def test_group_comes_back_as_group_with_its_group_id_and_traits() -> None:
    wire = {
        "type": "group",
        "userId": "u_1",
        "groupId": "acct_1",
        "traits": {"name": "Initech", "employees": 120},
        "context": {},
        "timestamp": TS_WIRE,
        "messageId": MID,
    }

    message = validate(wire)

    assert type(message) is Group
    assert message.group_id == "acct_1"
    assert message.to_wire() == wire


def test_group_without_group_id_is_invalid() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate({"type": "group", "userId": "u_1"})

    assert str(info.value) == "group: groupId: required"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"type": "pageview", "userId": "u_1"}, id="not a Segment type"),
        pytest.param({"type": "Track", "userId": "u_1"}, id="wrong case"),
        pytest.param({"userId": "u_1"}, id="no type"),
        pytest.param({"type": ["track"], "userId": "u_1"}, id="type a list"),
    ],
)
def test_unknown_type_is_invalid(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventError) as info:
        validate(payload)

    assert str(info.value) == f"message: type: {TYPE_REASON}"
    assert info.value.event == "message"


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ([{"type": "identify", "userId": "u_1"}], "list"),
        ('{"type": "identify", "userId": "u_1"}', "str"),
        (None, "NoneType"),
        (42, "int"),
    ],
)
def test_input_that_is_not_a_mapping_is_invalid(payload: object, kind: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        validate(payload)  # type: ignore[arg-type]

    assert str(info.value) == f"message: must be a JSON object, not {kind}"
    assert info.value.problems == (Problem("", f"must be a JSON object, not {kind}"),)


def test_any_mapping_is_accepted() -> None:
    message = validate(MappingProxyType(track("Signed In")))

    assert isinstance(message, SignedIn)


def test_server_set_keys_of_an_archived_line_are_kept() -> None:
    wire = track(
        "Report Exported",
        receivedAt="2026-11-22T10:00:01.000Z",
        sentAt="2026-11-22T10:00:00.500Z",
        originalTimestamp=TS_WIRE,
    )

    message = validate(wire)

    assert message.to_wire() == wire
    assert message.model_extra == {
        "receivedAt": "2026-11-22T10:00:01.000Z",
        "sentAt": "2026-11-22T10:00:00.500Z",
        "originalTimestamp": TS_WIRE,
    }


def test_missing_message_id_and_timestamp_are_filled_in() -> None:
    wire = track("Signed In")
    del wire["messageId"], wire["timestamp"]

    message = validate(wire)

    assert message.message_id
    assert message.timestamp.tzinfo is not None
    assert message.to_wire()["messageId"] == message.message_id


def test_given_message_id_and_timestamp_are_kept() -> None:
    message = validate(track("Signed In"))

    assert message.message_id == MID
    assert message.timestamp == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def test_spec_event_without_group_id_is_invalid() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate(track("Signed In", context={}))

    assert str(info.value) == "Signed In: context.groupId: required"


def test_spec_event_without_context_is_invalid() -> None:
    wire = track("Signed In")
    del wire["context"]

    with pytest.raises(InvalidEventError) as info:
        validate(wire)

    assert str(info.value) == "Signed In: context.groupId: required"


def test_spec_event_without_properties_names_the_missing_ones() -> None:
    wire = track("Account Created")
    del wire["properties"]

    with pytest.raises(InvalidEventError) as info:
        validate(wire)

    assert str(info.value) == "Account Created: properties.account_name: required"


def test_account_in_properties_is_not_the_group_id() -> None:
    wire = track("Signed In", context={}, properties={"groupId": "acct_123"})

    with pytest.raises(InvalidEventError, match=r"context\.groupId: required"):
        validate(wire)


def test_every_problem_of_a_wire_dict_is_listed() -> None:
    wire = {
        "type": "track",
        "event": "Invite Sent",
        "context": {"groupId": ""},
        "properties": {"invitee_email": "nope", "invitee_role": 3},
        "timestamp": "yesterday",
    }

    with pytest.raises(InvalidEventError) as info:
        validate(wire)

    assert info.value.problems == (
        Problem("timestamp", "must be an ISO-8601 date-time such as 2026-11-22T10:00:00.000Z"),
        Problem("context.groupId", "must not be empty"),
        Problem("properties.invitee_email", "must be an email address"),
        Problem("properties.invitee_role", "must be a string"),
        Problem("userId", "required (or anonymousId)"),
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"event": 5}, "track: event: must be a string", id="event a number"),
        pytest.param({"event": ""}, "track: event: must not be empty", id="event empty"),
        pytest.param({"userId": 5}, "Report Exported: userId: must be a string", id="userId"),
        pytest.param(
            {"context": ["acct_1"]}, "Report Exported: context: must be an object", id="context"
        ),
        pytest.param(
            {"timestamp": 1_795_000_000},
            "Report Exported: timestamp: must be an ISO-8601 string or a datetime, not a number",
            id="timestamp a number",
        ),
        pytest.param(
            {"timestamp": "1795000000"},
            "Report Exported: timestamp: must be an ISO-8601 string or a datetime, not a number",
            id="timestamp a numeric string",
        ),
        pytest.param(
            {"timestamp": "0001-01-01T00:00:00+01:00"},
            "Report Exported: timestamp: out of range once converted to UTC",
            id="timestamp without a UTC form",
        ),
        pytest.param(
            {"messageId": "m" * 101},
            "Report Exported: messageId: must be at most 100 characters",
            id="messageId too long",
        ),
    ],
)
def test_envelope_problems_of_any_track_event(fields: dict[str, Any], expected: str) -> None:
    wire = {"type": "track", "event": "Report Exported", "userId": "u_1", **fields}

    with pytest.raises(InvalidEventError) as info:
        validate(wire)

    assert str(info.value) == expected


def test_trial_date_without_a_utc_form_is_invalid_not_a_crash() -> None:
    properties = {
        "trial_start_date": "0001-01-01T00:00:00+01:00",
        "trial_end_date": "0001-01-02",
        "trial_plan_name": "Pro",
    }

    with pytest.raises(InvalidEventError) as info:
        validate(track("Trial Started", properties=properties))

    assert [p.path for p in info.value.problems] == ["properties.trial_start_date"]


def test_extra_key_that_is_not_json_is_invalid() -> None:
    with pytest.raises(InvalidEventError) as info:
        validate({"type": "identify", "userId": "u_1", "sentAt": object()})

    assert str(info.value) == (
        "identify: sentAt: must be a JSON value (str, int, float, bool, None, list or dict), "
        "not object"
    )


LIBRARY_WIRE = {"name": "analytics-python", "version": "2.3.4"}
NOT_JSON = "must be a JSON value (str, int, float, bool, None, list or dict), not "
NOT_FINITE = "must be a finite number (JSON has no NaN or Infinity)"


@pytest.mark.parametrize(
    ("build", "line"),
    [
        (float("nan"), f"context.library.build: {NOT_FINITE}"),
        (float("-inf"), f"context.library.build: {NOT_FINITE}"),
        ([1, float("inf")], f"context.library.build.1: {NOT_FINITE}"),
        ({"sha": {"a", "b"}}, f"context.library.build.sha: {NOT_JSON}set"),
        (object(), f"context.library.build: {NOT_JSON}object"),
        ({1: "x"}, "context.library.build.1: keys must be strings"),
    ],
)
def test_extra_key_of_the_library_that_is_not_json_is_invalid(build: object, line: str) -> None:
    context = {"groupId": "acct_123", "library": {**LIBRARY_WIRE, "build": build}}

    with pytest.raises(InvalidEventError) as info:
        validate(track("Signed In", context=context))

    assert str(info.value) == f"Signed In: {line}"


def test_extra_keys_of_the_library_that_are_json_are_kept() -> None:
    library = {**LIBRARY_WIRE, "build": {"sha": "9f3b2d7", "flags": [True, None, 1.5]}}
    wire = track("Signed In", context={"groupId": "acct_123", "library": library})

    message = validate(wire)

    assert message.context.library == library
    assert message.to_wire() == wire
    assert json.loads(message.to_json()) == wire


def test_validate_is_exported_at_the_top_level() -> None:
    assert b2b_events.validate is validate


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("user_id", "u_2"), ("message_id", "m_2"), ("context", {}), ("event", "Signed Out")],
)
def test_messages_are_frozen(attribute: str, value: object) -> None:
    message = validate(track("Signed In"))

    with pytest.raises(ValidationError, match="frozen"):
        setattr(message, attribute, value)

    assert message.to_wire() == track("Signed In")


def test_nested_models_are_frozen_too() -> None:
    message = validate(track("Account Created"))
    assert isinstance(message, AccountCreated)

    with pytest.raises(ValidationError, match="frozen"):
        message.properties.account_name = "Initrode"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        message.context.group_id = "acct_other"  # type: ignore[misc]


def test_equal_wire_dicts_give_equal_messages() -> None:
    first, second = validate(track("Signed Out")), validate(track("Signed Out"))

    assert first == second
    assert first != validate(track("Signed Out", messageId="other"))


def test_validate_reads_what_the_tracker_writes() -> None:
    sent: list[Message] = []
    original = b2b_events.Tracker(sink=sent.append).invite_sent(
        user_id="u_1", group_id="acct_1", invitee_email="m@initech.com", properties={"n": 1}
    )

    again = validate(original.to_wire())

    assert again == original
    assert isinstance(again, InviteSent)


_json_trees = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(alphabet="{[a", max_size=3)),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=2)
    ),
    max_leaves=300,
)


@settings(max_examples=300, deadline=None)
@given(tree=_json_trees, depth=st.integers(0, MAX_DEPTH + 5))
def test_a_text_with_few_brackets_never_hides_a_message_nested_too_deep(
    tree: Any, depth: int
) -> None:
    for _ in range(depth):
        tree = [tree]
    message = {"type": "identify", "userId": "u_1", "traits": {"t": tree}}
    text = json.dumps(message).encode()
    if shallow_text(text):
        assert depth_error(message) is None
    name = valid_name(message, text=text)
    assert name == (None if depth_error(message) is not None else "identify")
