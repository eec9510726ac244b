"""The ten B2B SaaS events, identify and group, as built by ``Tracker`` and put on the wire."""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

import b2b_events
from b2b_events import InvalidEventError, Problem, Tracker, validate
from b2b_events.events import (
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
    TrialEnded,
    TrialStarted,
)

TS = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
TS_WIRE = "2026-11-22T10:00:00.000Z"
MID = "3f0c5b0e-8c1d-4a6e-9f3b-2d7c5e1a9b40"
LIBRARY = {"name": "b2b-events", "version": b2b_events.__version__}
PLUS_2 = timezone(timedelta(hours=2))
MINUS_5 = timezone(timedelta(hours=-5))
TRIAL_DATE_REASON = "must be a date (2026-11-01) or an aware date-time (2026-11-01T10:00:00Z)"
NAIVE_REASON = (
    "naive datetime (no timezone): Segment would read it as UTC whatever your server's zone; "
    "pass an aware datetime, e.g. datetime.now(timezone.utc)"
)

Call = Callable[[Tracker], Message]


def untyped(value: object) -> Any:
    """Pass a value of the wrong type on purpose, past the type checker."""
    return value


@pytest.fixture
def sent() -> list[Message]:
    return []


@pytest.fixture
def tracker(sent: list[Message]) -> Tracker:
    return Tracker(sink=sent.append)


# -- the wire form of every event ---------------------------------------------

WIRE_CASES = [
    pytest.param(
        lambda t: t.account_created(
            user_id="019mr8mf4r",
            group_id="acct_123",
            account_name="Initech",
            timestamp=TS,
            message_id=MID,
        ),
        AccountCreated,
        {
            "type": "track",
            "event": "Account Created",
            "userId": "019mr8mf4r",
            "properties": {"account_name": "Initech"},
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Account Created",
    ),
    pytest.param(
        lambda t: t.account_deleted(
            user_id="u_1",
            group_id="acct_123",
            account_name="Initech",
            timestamp=TS,
            message_id=MID,
        ),
        AccountDeleted,
        {
            "type": "track",
            "event": "Account Deleted",
            "userId": "u_1",
            "properties": {"account_name": "Initech"},
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Account Deleted",
    ),
    pytest.param(
        lambda t: t.signed_up(
            user_id="u_1",
            group_id="acct_123",
            type="invited",
            first_name="Peter",
            last_name="Gibbons",
            email="peter@initech.com",
            phone="+1-555-0100",
            username="pgibbons",
            title="Programmer",
            properties={"referrer": "newsletter", "seats": 3},
            timestamp=TS,
            message_id=MID,
        ),
        SignedUp,
        {
            "type": "track",
            "event": "Signed Up",
            "userId": "u_1",
            "properties": {
                "type": "invited",
                "first_name": "Peter",
                "last_name": "Gibbons",
                "email": "peter@initech.com",
                "phone": "+1-555-0100",
                "username": "pgibbons",
                "title": "Programmer",
                "referrer": "newsletter",
                "seats": 3,
            },
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Signed Up",
    ),
    pytest.param(
        lambda t: t.signed_in(
            anonymous_id="anon_9",
            group_id="acct_123",
            username="pgibbons",
            integrations={"All": False, "Mixpanel": True},
            timestamp=TS,
            message_id=MID,
        ),
        SignedIn,
        {
            "type": "track",
            "event": "Signed In",
            "anonymousId": "anon_9",
            "properties": {"username": "pgibbons"},
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "integrations": {"All": False, "Mixpanel": True},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Signed In",
    ),
    pytest.param(
        lambda t: t.signed_out(
            user_id="u_1",
            anonymous_id="anon_9",
            group_id="acct_123",
            username="pgibbons",
            context={"ip": "203.0.113.7", "locale": "en-US"},
            timestamp=TS,
            message_id=MID,
        ),
        SignedOut,
        {
            "type": "track",
            "event": "Signed Out",
            "userId": "u_1",
            "anonymousId": "anon_9",
            "properties": {"username": "pgibbons"},
            "context": {
                "groupId": "acct_123",
                "library": LIBRARY,
                "ip": "203.0.113.7",
                "locale": "en-US",
            },
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Signed Out",
    ),
    pytest.param(
        lambda t: t.invite_sent(
            user_id="u_1",
            group_id="acct_123",
            invitee_email="milton@initech.com",
            invitee_first_name="Milton",
            invitee_last_name="Waddams",
            invitee_role="Collator",
            timestamp=TS,
            message_id=MID,
        ),
        InviteSent,
        {
            "type": "track",
            "event": "Invite Sent",
            "userId": "u_1",
            "properties": {
                "invitee_email": "milton@initech.com",
                "invitee_first_name": "Milton",
                "invitee_last_name": "Waddams",
                "invitee_role": "Collator",
            },
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Invite Sent",
    ),
    pytest.param(
        lambda t: t.account_added_user(
            user_id="u_2",
            group_id="acct_123",
            role="admin",
            timestamp=TS,
            message_id=MID,
        ),
        AccountAddedUser,
        {
            "type": "track",
            "event": "Account Added User",
            "userId": "u_2",
            "properties": {"role": "admin"},
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Account Added User",
    ),
    pytest.param(
        lambda t: t.account_removed_user(
            user_id="u_2", group_id="acct_123", timestamp=TS, message_id=MID
        ),
        AccountRemovedUser,
        {
            "type": "track",
            "event": "Account Removed User",
            "userId": "u_2",
            "properties": {},
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Account Removed User",
    ),
    pytest.param(
        lambda t: t.trial_started(
            user_id="u_1",
            group_id="acct_123",
            trial_start_date=date(2026, 11, 1),
            trial_end_date=date(2026, 11, 15),
            trial_plan_name="Pro",
            timestamp=TS,
            message_id=MID,
        ),
        TrialStarted,
        {
            "type": "track",
            "event": "Trial Started",
            "userId": "u_1",
            "properties": {
                "trial_start_date": "2026-11-01",
                "trial_end_date": "2026-11-15",
                "trial_plan_name": "Pro",
            },
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Trial Started",
    ),
    pytest.param(
        lambda t: t.trial_ended(
            user_id="u_1",
            group_id="acct_123",
            trial_start_date=datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc),
            trial_end_date=datetime(2026, 11, 15, 11, 30, tzinfo=PLUS_2),
            trial_plan_name="Pro",
            timestamp=TS,
            message_id=MID,
        ),
        TrialEnded,
        {
            "type": "track",
            "event": "Trial Ended",
            "userId": "u_1",
            "properties": {
                "trial_start_date": "2026-11-01T09:30:00.000Z",
                "trial_end_date": "2026-11-15T09:30:00.000Z",
                "trial_plan_name": "Pro",
            },
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="Trial Ended",
    ),
    pytest.param(
        lambda t: t.identify(
            user_id="u_1",
            traits={"email": "peter@initech.com", "name": "Peter Gibbons"},
            timestamp=TS,
            message_id=MID,
        ),
        Identify,
        {
            "type": "identify",
            "userId": "u_1",
            "traits": {"email": "peter@initech.com", "name": "Peter Gibbons"},
            "context": {"library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="identify",
    ),
    pytest.param(
        lambda t: t.identify(user_id="u_1", group_id="acct_123", timestamp=TS, message_id=MID),
        Identify,
        {
            "type": "identify",
            "userId": "u_1",
            "traits": {},
            "context": {"groupId": "acct_123", "library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="identify with group_id",
    ),
    pytest.param(
        lambda t: t.group(
            user_id="u_1",
            group_id="acct_123",
            traits={"name": "Initech", "plan": "Pro", "employees": 120},
            timestamp=TS,
            message_id=MID,
        ),
        Group,
        {
            "type": "group",
            "userId": "u_1",
            "groupId": "acct_123",
            "traits": {"name": "Initech", "plan": "Pro", "employees": 120},
            "context": {"library": LIBRARY},
            "timestamp": TS_WIRE,
            "messageId": MID,
        },
        id="group",
    ),
]


@pytest.mark.parametrize(("call", "cls", "wire"), WIRE_CASES)
def test_builder_puts_the_exact_wire_dict_on_the_sink(
    tracker: Tracker, sent: list[Message], call: Call, cls: type[Message], wire: dict[str, Any]
) -> None:
    message = call(tracker)

    assert type(message) is cls
    assert message.to_wire() == wire
    assert sent == [message]


def test_signed_up_with_only_the_required_arguments_has_empty_properties(
    tracker: Tracker,
) -> None:
    wire = tracker.signed_up(user_id="u_1", group_id="acct_1").to_wire()

    assert wire["properties"] == {}
    assert None not in wire.values()


def test_account_removed_user_keeps_custom_properties_next_to_no_semantic_ones(
    tracker: Tracker,
) -> None:
    message = tracker.account_removed_user(
        user_id="u_1", group_id="acct_1", properties={"reason": "left", "seats_left": 4}
    )

    assert message.to_wire()["properties"] == {"reason": "left", "seats_left": 4}


def test_none_values_in_the_properties_mapping_are_left_out(tracker: Tracker) -> None:
    message = tracker.signed_in(
        user_id="u_1", group_id="acct_1", properties={"plan": None, "seats": 2}
    )

    assert message.to_wire()["properties"] == {"seats": 2}


def test_library_in_the_context_is_always_b2b_events(tracker: Tracker) -> None:
    message = tracker.signed_in(
        user_id="u_1",
        group_id="acct_1",
        context={"library": {"name": "other", "version": "9"}, "ip": "203.0.113.7"},
    )

    assert message.to_wire()["context"] == {
        "groupId": "acct_1",
        "library": LIBRARY,
        "ip": "203.0.113.7",
    }


def test_group_id_may_come_from_the_context_mapping_alone(tracker: Tracker) -> None:
    message = tracker.signed_in(
        user_id="u_1", group_id=untyped(None), context={"groupId": "acct_1"}
    )

    assert message.group_id == "acct_1"


def test_group_id_in_the_context_equal_to_the_argument_is_accepted(tracker: Tracker) -> None:
    message = tracker.signed_in(user_id="u_1", group_id="acct_1", context={"groupId": "acct_1"})

    assert message.to_wire()["context"]["groupId"] == "acct_1"


def test_name_is_the_event_for_track_and_the_type_otherwise(tracker: Tracker) -> None:
    assert tracker.signed_in(user_id="u", group_id="g").name == "Signed In"
    assert tracker.identify(user_id="u").name == "identify"
    assert tracker.group(user_id="u", group_id="g").name == "group"


def test_tracker_without_a_sink_still_returns_the_message() -> None:
    message = Tracker().signed_in(user_id="u_1", group_id="acct_1")

    assert isinstance(message, SignedIn)


# -- every rule, broken ---------------------------------------------------------

FAILURES = [
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id=untyped(None)),
        "Signed Up: context.groupId: required",
        id="groupId missing",
    ),
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id=""),
        "Signed Up: context.groupId: must not be empty",
        id="groupId empty",
    ),
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id=" \t"),
        "Signed Up: context.groupId: must not be blank",
        id="groupId blank",
    ),
    pytest.param(
        lambda t: t.signed_in(group_id="g"),
        "Signed In: userId: required (or anonymousId)",
        id="no userId nor anonymousId",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id=" ", group_id="g"),
        "Signed In: userId: must not be blank",
        id="userId blank",
    ),
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id="g", email="peter.initech.com"),
        "Signed Up: properties.email: must be an email address",
        id="email without @",
    ),
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id="g", email="peter@initech"),
        "Signed Up: properties.email: must be an email address",
        id="email without a dot in the domain",
    ),
    pytest.param(
        lambda t: t.invite_sent(user_id="u", group_id="g", invitee_email=untyped(None)),
        "Invite Sent: properties.invitee_email: required",
        id="invitee_email missing",
    ),
    pytest.param(
        lambda t: t.invite_sent(user_id="u", group_id="g", invitee_email="milton at initech"),
        "Invite Sent: properties.invitee_email: must be an email address",
        id="invitee_email not an email",
    ),
    pytest.param(
        lambda t: t.account_created(user_id="u", group_id="g", account_name=untyped(None)),
        "Account Created: properties.account_name: required",
        id="account_name missing",
    ),
    pytest.param(
        lambda t: t.account_created(user_id="u", group_id="g", account_name="  "),
        "Account Created: properties.account_name: must not be blank",
        id="account_name blank",
    ),
    pytest.param(
        lambda t: t.account_deleted(user_id="u", group_id="g", account_name=untyped(42)),
        "Account Deleted: properties.account_name: must be a string",
        id="optional property of the wrong type",
    ),
    pytest.param(
        lambda t: t.trial_started(
            user_id="u",
            group_id="g",
            trial_start_date=untyped(None),
            trial_end_date=untyped(None),
            trial_plan_name=untyped(None),
        ),
        "Trial Started: properties.trial_start_date: required; "
        "properties.trial_end_date: required; properties.trial_plan_name: required",
        id="trial properties missing",
    ),
    pytest.param(
        lambda t: t.trial_ended(
            user_id="u",
            group_id="g",
            trial_start_date="next monday",
            trial_end_date="2026-13-01",
            trial_plan_name="Pro",
        ),
        f"Trial Ended: properties.trial_start_date: {TRIAL_DATE_REASON}; "
        f"properties.trial_end_date: {TRIAL_DATE_REASON}",
        id="trial dates unreadable",
    ),
    pytest.param(
        lambda t: t.trial_started(
            user_id="u",
            group_id="g",
            trial_start_date=date(2026, 11, 1),
            trial_end_date=date(2026, 11, 15),
            trial_plan_name=" ",
        ),
        "Trial Started: properties.trial_plan_name: must not be blank",
        id="trial_plan_name blank",
    ),
    pytest.param(
        lambda t: t.trial_started(
            user_id="u",
            group_id="g",
            trial_start_date=date(2026, 11, 15),
            trial_end_date=date(2026, 11, 14),
            trial_plan_name="Pro",
        ),
        "Trial Started: properties.trial_end_date: must not be before trial_start_date "
        "(2026-11-15)",
        id="trial end before start, dates",
    ),
    pytest.param(
        lambda t: t.trial_ended(
            user_id="u",
            group_id="g",
            trial_start_date=TS,
            trial_end_date=TS - timedelta(milliseconds=1),
            trial_plan_name="Pro",
        ),
        "Trial Ended: properties.trial_end_date: must not be before trial_start_date "
        "(2026-11-22T10:00:00+00:00)",
        id="trial end before start, datetimes",
    ),
    pytest.param(
        lambda t: t.trial_ended(
            user_id="u",
            group_id="g",
            trial_start_date=TS,
            # 11:00 at +02:00 is 09:00 UTC: earlier than the start although the clock reads later
            trial_end_date=datetime(2026, 11, 22, 11, 0, tzinfo=PLUS_2),
            trial_plan_name="Pro",
        ),
        "Trial Ended: properties.trial_end_date: must not be before trial_start_date "
        "(2026-11-22T10:00:00+00:00)",
        id="trial end before start, datetimes in different zones",
    ),
    pytest.param(
        lambda t: t.trial_started(
            user_id="u",
            group_id="g",
            trial_start_date=date(2026, 11, 23),
            trial_end_date=TS,
            trial_plan_name="Pro",
        ),
        "Trial Started: properties.trial_end_date: must not be before trial_start_date "
        "(2026-11-23)",
        id="trial end before start, date then datetime",
    ),
    pytest.param(
        lambda t: t.trial_started(
            user_id="u",
            group_id="g",
            trial_start_date=TS,
            trial_end_date=date(2026, 11, 21),
            trial_plan_name="Pro",
        ),
        "Trial Started: properties.trial_end_date: must not be before trial_start_date "
        "(2026-11-22T10:00:00+00:00)",
        id="trial end before start, datetime then date",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", timestamp=datetime(2026, 11, 22, 10)),
        f"Signed In: timestamp: {NAIVE_REASON}",
        id="naive timestamp",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", message_id="x" * 101),
        "Signed In: messageId: must be at most 100 characters",
        id="messageId over 100 characters",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", message_id=""),
        "Signed In: messageId: must not be empty",
        id="messageId empty",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", timestamp=untyped(1_795_000_000)),
        "Signed In: timestamp: must be an ISO-8601 string or a datetime, not a number",
        id="timestamp an int",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", timestamp=untyped(1_795_000_000.5)),
        "Signed In: timestamp: must be an ISO-8601 string or a datetime, not a number",
        id="timestamp a float",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", timestamp=untyped("1795000000")),
        "Signed In: timestamp: must be an ISO-8601 string or a datetime, not a number",
        id="timestamp a numeric string",
    ),
    pytest.param(
        lambda t: t.signed_in(
            user_id="u", group_id="g", timestamp=untyped(decimal.Decimal("1795000000"))
        ),
        "Signed In: timestamp: must be an ISO-8601 string or a datetime, not a number",
        id="timestamp a Decimal",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", properties={"seen": b"raw"}),
        "Signed In: properties.seen: "
        "must be a JSON value (str, int, float, bool, None, list or dict), not bytes",
        id="custom property bytes",
    ),
    pytest.param(
        lambda t: t.signed_in(user_id="u", group_id="g", properties={"when": (TS, b"raw")}),
        "Signed In: properties.when.1: "
        "must be a JSON value (str, int, float, bool, None, list or dict), not bytes",
        id="custom property a tuple of a datetime and bytes",
    ),
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id="g", properties={"email": 5}),
        "Signed Up: properties.email: must be a string",
        id="custom property shadowing a semantic one with the wrong type",
    ),
    pytest.param(
        lambda t: t.signed_up(
            user_id="u", group_id="g", email="a@initech.com", properties={"email": "b@initech.com"}
        ),
        "Signed Up: properties.email: given both as a keyword and in the mapping",
        id="keyword also in the properties mapping",
    ),
    pytest.param(
        lambda t: t.signed_up(user_id="u", group_id="acct_1", context={"groupId": "acct_2"}),
        "Signed Up: context.groupId: differs from the group_id argument",
        id="context.groupId differs from group_id",
    ),
    pytest.param(
        lambda t: t.identify(user_id="u", timestamp=datetime(2026, 11, 22, 10)),
        f"identify: timestamp: {NAIVE_REASON}",
        id="identify with a naive timestamp",
    ),
    pytest.param(
        lambda t: t.group(user_id="u", group_id=" "),
        "group: groupId: must not be blank",
        id="group with a blank groupId",
    ),
    pytest.param(
        lambda t: t.identify(traits={"email": "p@initech.com"}),
        "identify: userId: required (or anonymousId)",
        id="identify without userId nor anonymousId",
    ),
]


@pytest.mark.parametrize(("call", "expected"), FAILURES)
def test_invalid_input_raises_naming_event_and_problem_and_sends_nothing(
    tracker: Tracker, sent: list[Message], call: Call, expected: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        call(tracker)

    assert str(info.value) == expected
    assert sent == []


@pytest.mark.parametrize(
    "trial_date",
    [
        pytest.param(untyped(0), id="int"),
        pytest.param(untyped(1_795_000_000.0), id="float"),
        pytest.param("86400", id="numeric string"),
        pytest.param("20261101", id="digits only"),
        pytest.param(datetime(2026, 11, 1), id="naive datetime at midnight"),
        pytest.param(datetime(2026, 11, 1, 15, 30), id="naive datetime"),
        pytest.param("2026-11-01T00:00:00", id="naive string at midnight"),
        pytest.param("2026-11-01T15:30:00", id="naive string"),
    ],
)
def test_trial_date_must_be_a_date_or_an_aware_datetime(
    tracker: Tracker, sent: list[Message], trial_date: Any
) -> None:
    with pytest.raises(InvalidEventError) as info:
        tracker.trial_started(
            user_id="u",
            group_id="g",
            trial_start_date=trial_date,
            trial_end_date=date(2099, 1, 1),
            trial_plan_name="Pro",
        )

    assert info.value.problems == (Problem("properties.trial_start_date", TRIAL_DATE_REASON),)
    assert sent == []


def test_naive_timestamp_error_says_naive(tracker: Tracker) -> None:
    with pytest.raises(InvalidEventError, match="naive"):
        tracker.signed_in(user_id="u", group_id="g", timestamp=datetime(2026, 11, 22, 10))


def test_custom_property_shadowing_a_semantic_one_is_checked_by_validate() -> None:
    wire = {
        "type": "track",
        "event": "Signed Up",
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": {"email": 5},
    }

    with pytest.raises(InvalidEventError) as info:
        validate(wire)

    assert str(info.value) == "Signed Up: properties.email: must be a string"


def test_cyclic_and_too_deep_values_are_invalid_events_not_recursion_errors(
    tracker: Tracker,
) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(3_000):
        node["n"] = {}
        node = node["n"]

    with pytest.raises(InvalidEventError) as loop:
        tracker.signed_in(user_id="u", group_id="g", properties={"v": cyclic})
    with pytest.raises(InvalidEventError) as nested:
        tracker.signed_in(user_id="u", group_id="g", properties={"v": deep})

    assert str(loop.value) == (
        "Signed In: properties.v.self: a cyclic reference (it contains itself)"
    )
    assert str(nested.value).endswith("nested too deeply (over 100 levels)")


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (
            {"a": {"b": [1, {"c": 1j}]}},
            "properties.seen.a.b.1.c: must be a JSON value "
            "(str, int, float, bool, None, list or dict), not complex",
        ),
        (
            [0.5, float("inf")],
            "properties.seen.1: must be a finite number (JSON has no NaN or Infinity)",
        ),
        (
            decimal.Decimal("NaN"),
            "properties.seen: must be a finite number (JSON has no NaN or Infinity)",
        ),
        ({"a": {1: "x"}}, "properties.seen.a.1: keys must be strings"),
    ],
)
def test_a_custom_value_that_is_not_json_is_reported_where_it_breaks(
    tracker: Tracker, value: Any, line: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        tracker.signed_in(user_id="u", group_id="g", properties={"seen": value})

    assert str(info.value) == f"Signed In: {line}"


@pytest.mark.parametrize("key", ["groupId", "group_id"])
def test_the_account_in_properties_is_refused_for_the_ten_events(
    tracker: Tracker, key: str
) -> None:
    """SPEC: the account goes in context.groupId, never in properties."""
    with pytest.raises(InvalidEventError) as built:
        tracker.signed_in(user_id="u", group_id="g", properties={key: "acct_1"})
    wire = {
        "type": "track",
        "event": "Trial Ended",
        "userId": "u",
        "context": {"groupId": "acct_1"},
        "properties": {
            key: "acct_1",
            "trial_start_date": "2026-11-01",
            "trial_end_date": "2026-11-15",
            "trial_plan_name": "Pro",
        },
    }
    with pytest.raises(InvalidEventError) as validated:
        validate(wire)

    reason = "the account goes in context.groupId (group_id=), not in properties"
    assert str(built.value) == f"Signed In: properties.{key}: {reason}"
    assert str(validated.value) == f"Trial Ended: properties.{key}: {reason}"
    other = tracker.event("Report Exported", user_id="u", properties={key: "a"})
    assert other.to_wire()["properties"] == {key: "a"}  # other events: their business


@pytest.mark.parametrize(
    ("call", "line"),
    [
        (lambda t: t.signed_in(user_id="u", group_id="g", context=["g"]), "context"),
        (lambda t: t.signed_in(user_id="u", group_id="g", properties="x"), "properties"),
        (lambda t: t.event("Report Exported", user_id="u", properties=[1]), "properties"),
        (lambda t: t.identify(user_id="u", traits="x"), "traits"),
        (lambda t: t.group(user_id="u", group_id="g", traits=[("a", 1)]), "traits"),
    ],
)
def test_a_non_object_mapping_argument_is_a_clear_problem(
    tracker: Tracker, call: Callable[[Tracker], object], line: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        call(tracker)

    assert str(info.value).split(": ", 1)[1].startswith(f"{line}: must be an object, not ")


def test_custom_property_with_a_semantic_name_and_the_right_type_is_the_semantic_one(
    tracker: Tracker,
) -> None:
    message = tracker.signed_up(user_id="u", group_id="g", properties={"email": "p@initech.com"})

    assert message.properties.email == "p@initech.com"


def test_error_is_a_value_error_listing_every_problem_in_order(
    tracker: Tracker, sent: list[Message]
) -> None:
    with pytest.raises(ValueError, match=r"^Signed Up: ") as info:
        tracker.signed_up(
            group_id=" ",
            email="not-an-email",
            timestamp=datetime(2026, 11, 22, 10),
            message_id="m" * 101,
        )

    error = info.value
    assert isinstance(error, InvalidEventError)
    assert error.event == "Signed Up"
    assert error.problems == (
        Problem("messageId", "must be at most 100 characters"),
        Problem("timestamp", NAIVE_REASON),
        Problem("context.groupId", "must not be blank"),
        Problem("properties.email", "must be an email address"),
        Problem("userId", "required (or anonymousId)"),
    )
    assert str(error) == "Signed Up: " + "; ".join(str(p) for p in error.problems)
    assert sent == []


def test_missing_group_id_and_identity_are_both_reported(tracker: Tracker) -> None:
    with pytest.raises(InvalidEventError) as info:
        tracker.signed_in(group_id=untyped(None))

    assert info.value.problems == (
        Problem("context.groupId", "required"),
        Problem("userId", "required (or anonymousId)"),
    )


def test_every_clashing_key_is_reported(tracker: Tracker) -> None:
    with pytest.raises(InvalidEventError) as info:
        tracker.signed_up(
            user_id="u",
            group_id="g",
            first_name="Peter",
            email="p@initech.com",
            properties={"first_name": "Pete", "email": "p@initech.com", "plan": "Pro"},
        )

    assert [p.path for p in info.value.problems] == ["properties.email", "properties.first_name"]


def test_message_id_of_exactly_100_characters_is_accepted(tracker: Tracker) -> None:
    message = tracker.signed_in(user_id="u", group_id="g", message_id="x" * 100)

    assert message.to_wire()["messageId"] == "x" * 100


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda t: t.signed_up(user_id="u", group_id="g", emial="p@initech.com"),
            id="misspelt semantic property",
        ),
        pytest.param(
            lambda t: t.signed_in(user_id="u", group_id="g", groupId="g"), id="camelCase keyword"
        ),
        pytest.param(lambda t: t.signed_in("u", "g"), id="positional arguments"),
        pytest.param(lambda t: t.invite_sent(user_id="u", group_id="g"), id="required keyword"),
    ],
)
def test_wrong_keywords_raise_type_error_and_send_nothing(
    tracker: Tracker, sent: list[Message], call: Callable[[Any], object]
) -> None:
    with pytest.raises(TypeError):
        call(tracker)

    assert sent == []


# -- trial dates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept", "on_wire"),
    [
        pytest.param(date(2026, 11, 1), date(2026, 11, 1), "2026-11-01", id="date"),
        pytest.param("2026-11-01", date(2026, 11, 1), "2026-11-01", id="date-only string"),
        pytest.param(
            datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc),
            datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc),
            "2026-11-01T10:00:00.000Z",
            id="aware datetime",
        ),
        pytest.param(
            datetime(2026, 11, 1, 12, 0, tzinfo=PLUS_2),
            datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc),
            "2026-11-01T10:00:00.000Z",
            id="aware datetime outside UTC",
        ),
        pytest.param(
            "2026-11-01T10:00:00Z",
            datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc),
            "2026-11-01T10:00:00.000Z",
            id="ISO string in UTC",
        ),
        pytest.param(
            "2026-11-01T05:00:00.250-05:00",
            datetime(2026, 11, 1, 10, 0, 0, 250_000, tzinfo=timezone.utc),
            "2026-11-01T10:00:00.250Z",
            id="ISO string with an offset",
        ),
    ],
)
def test_trial_date_forms_are_kept_typed_and_sent_as_iso_strings(
    tracker: Tracker, given: date | datetime | str, kept: date, on_wire: str
) -> None:
    message = tracker.trial_started(
        user_id="u",
        group_id="g",
        trial_start_date=given,
        trial_end_date=given,
        trial_plan_name="Pro",
    )

    start = message.properties.trial_start_date
    assert type(start) is type(kept)
    assert start == kept
    assert message.to_wire()["properties"]["trial_start_date"] == on_wire
    assert message.to_wire()["properties"]["trial_end_date"] == on_wire


def test_trial_may_end_on_the_day_it_starts_when_date_meets_datetime(tracker: Tracker) -> None:
    message = tracker.trial_ended(
        user_id="u",
        group_id="g",
        trial_start_date=date(2026, 11, 22),
        trial_end_date=datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc),
        trial_plan_name="Pro",
    )

    assert message.properties.trial_end_date == datetime(2026, 11, 22, tzinfo=timezone.utc)


def test_date_meeting_datetime_compares_the_utc_calendar_day(tracker: Tracker) -> None:
    # 20:00 on the 21st at -05:00 is 01:00 UTC on the 22nd: the same day as the start.
    message = tracker.trial_ended(
        user_id="u",
        group_id="g",
        trial_start_date=date(2026, 11, 22),
        trial_end_date=datetime(2026, 11, 21, 20, 0, tzinfo=MINUS_5),
        trial_plan_name="Pro",
    )

    assert message.to_wire()["properties"]["trial_end_date"] == "2026-11-22T01:00:00.000Z"


# -- timestamps and message ids -------------------------------------------------


@pytest.mark.parametrize(
    ("given", "on_wire"),
    [
        pytest.param(datetime(2026, 11, 22, 12, 0, tzinfo=PLUS_2), TS_WIRE, id="east of UTC"),
        pytest.param(
            datetime(2026, 11, 21, 23, 30, tzinfo=MINUS_5),
            "2026-11-22T04:30:00.000Z",
            id="west of UTC, across midnight",
        ),
        pytest.param(
            datetime(2026, 11, 22, 10, 0, 0, 123_000, tzinfo=timezone.utc),
            "2026-11-22T10:00:00.123Z",
            id="milliseconds",
        ),
        pytest.param(
            datetime(2026, 11, 22, 10, 0, 0, 123_456, tzinfo=timezone.utc),
            "2026-11-22T10:00:00.123456Z",
            id="microseconds kept",
        ),
        pytest.param(
            datetime(2026, 11, 22, 10, 0, tzinfo=timezone(timedelta(0), "GMT")),
            TS_WIRE,
            id="zero offset under another name",
        ),
    ],
)
def test_timestamp_goes_on_the_wire_in_utc_with_a_z(
    tracker: Tracker, given: datetime, on_wire: str
) -> None:
    message = tracker.signed_in(user_id="u", group_id="g", timestamp=given)

    assert message.to_wire()["timestamp"] == on_wire
    assert message.timestamp == given


def test_default_message_id_is_a_canonical_uuid4(tracker: Tracker) -> None:
    message_id = tracker.signed_in(user_id="u", group_id="g").message_id

    parsed = uuid.UUID(message_id)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == message_id


def test_default_message_ids_are_unique(tracker: Tracker) -> None:
    # More than one block of pooled ids, so a refill is crossed too.
    ids = {tracker.identify(user_id="u").message_id for _ in range(600)}

    assert len(ids) == 600
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_default_timestamp_is_now_in_utc_to_the_millisecond(tracker: Tracker) -> None:
    before = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    message = tracker.signed_in(user_id="u", group_id="g")
    after = datetime.now(timezone.utc)

    stamp = message.timestamp
    assert stamp.utcoffset() == timedelta(0)
    assert stamp.microsecond % 1000 == 0
    assert before <= stamp <= after
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", message.to_wire()["timestamp"])


def test_default_timestamp_follows_the_clock_across_milliseconds(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # now() hands out one datetime per millisecond and iso_timestamp remembers
    # the last text it made: neither may hold on to a millisecond gone by.
    start = datetime(2026, 11, 22, 10, 0, 0, 7_000, tzinfo=timezone.utc)
    clock_ns = int(start.timestamp()) * 10**9 + 7_000_000
    monkeypatch.setattr("time.time_ns", lambda: clock_ns + 400_000)  # 0.4 ms into it
    first = tracker.signed_in(user_id="u", group_id="g")
    second = tracker.signed_in(user_id="u", group_id="g")
    monkeypatch.setattr("time.time_ns", lambda: clock_ns + 1_000_000)
    third = tracker.signed_in(user_id="u", group_id="g")

    assert first.timestamp == second.timestamp == start
    assert [m.to_wire()["timestamp"] for m in (first, second, third)] == [
        "2026-11-22T10:00:00.007Z",
        "2026-11-22T10:00:00.007Z",
        "2026-11-22T10:00:00.008Z",
    ]


def test_explicit_message_id_is_kept_as_given(tracker: Tracker) -> None:
    message = tracker.signed_in(user_id="u", group_id="g", message_id="retry-me-7")

    assert message.message_id == "retry-me-7"
    assert message.to_wire()["messageId"] == "retry-me-7"


def test_to_json_is_compact_utf8_of_the_wire_dict(tracker: Tracker) -> None:
    message = tracker.account_created(
        user_id="u", group_id="g", account_name="Café", timestamp=TS, message_id=MID
    )

    raw = message.to_json()
    assert b" " not in raw.replace(b'"Account Created"', b"")
    assert "Café".encode() in raw


def test_none_values_in_the_context_mapping_are_left_out(tracker: Tracker) -> None:
    msg = tracker.signed_in(user_id="u", group_id="g", context={"ip": None, "locale": "en"})
    assert msg.to_wire()["context"] == {
        "groupId": "g",
        "library": {"name": "b2b-events", "version": b2b_events.__version__},
        "locale": "en",
    }
    assert validate(msg.to_wire()) == msg


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_not_json_values(tracker: Tracker, bad: float) -> None:
    with pytest.raises(InvalidEventError) as info:
        tracker.signed_in(user_id="u", group_id="g", properties={"x": bad, "y": [1, {"z": bad}]})
    reason = "must be a finite number (JSON has no NaN or Infinity)"
    assert info.value.problems == (
        Problem("properties.x", reason),
        Problem("properties.y.1.z", reason),
    )
