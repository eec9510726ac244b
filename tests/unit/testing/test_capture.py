"""``b2b_events.testing`` without pytest: capture, helpers and their failure text, batch checks."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest
import respx
from segment.analytics import Client as SegmentClient
from segment.analytics import request as segment_request

import b2b_events
import b2b_events.testing
from b2b_events import Client, ConfigurationError, InvalidEventError, Response
from b2b_events._client import override_transport
from b2b_events.events import SignedIn, SignedUp, Track, TrialStarted
from b2b_events.testing import (
    Capture,
    CapturingTransport,
    InvalidBatchError,
    Violation,
    assert_valid,
    capture,
    validate_batch,
)

ENV_KEY = "B2B_EVENTS_WRITE_KEY"


class Recorder:
    """A transport that keeps what it is sent: stands for a real endpoint."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def send(self, messages: Sequence[bytes]) -> Response:
        self.sent.extend(messages)
        return Response(200)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def no_default_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_KEY, raising=False)
    b2b_events.close()
    b2b_events._default._swap_default(None)
    yield
    b2b_events.close()
    b2b_events._default._swap_default(None)


def wire(event: str = "Signed In", **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": {},
    }
    message.update(fields)
    return message


def tracked(cap: Capture) -> Client:
    """A client sending synchronously into ``cap``, as ``capture()`` gives every new client."""
    return Client(transport=cap.transport, sync=True)


# -- public names ----------------------------------------------------------------


def test_testing_public_names_are_pinned() -> None:
    assert sorted(b2b_events.testing.__all__) == [
        "Capture",
        "CapturingTransport",
        "InvalidBatchError",
        "Messages",
        "Violation",
        "assert_valid",
        "capture",
        "validate_batch",
    ]


def test_testing_imports_without_pytest() -> None:
    code = "import sys; sys.modules['pytest'] = None; import b2b_events.testing; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# -- capture(): routing ------------------------------------------------------------


def test_default_client_and_new_clients_are_captured_without_a_write_key() -> None:
    with capture() as cap:
        b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
        client = Client()
        client.track.signed_out(user_id="u_1", group_id="acct_1")

    assert [m["event"] for m in cap.messages] == ["Signed In", "Signed Out"]


def test_previous_default_client_is_restored_untouched() -> None:
    recorder = Recorder()
    original = b2b_events.init(transport=recorder, sync=True)

    with capture() as cap:
        assert b2b_events.default_client() is not original
        b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")

    assert b2b_events.default_client() is original
    assert not original.closed
    assert recorder.sent == []
    assert len(cap.messages) == 1


def test_init_inside_capture_is_captured_and_closed_when_it_ends() -> None:
    with capture() as cap:
        client = b2b_events.init(write_key="real-key", endpoint="https://example.invalid")
        b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")

    assert client.closed
    assert len(cap.messages) == 1
    with pytest.raises(ConfigurationError, match="no default client"):
        b2b_events.default_client()


def test_clients_need_a_write_key_again_after_capture() -> None:
    with capture():
        Client()

    with pytest.raises(ConfigurationError, match="no write key"):
        Client()


def test_clients_created_before_the_block_are_captured_with_their_name() -> None:
    client = Client(write_key="wk_live", endpoint="https://api.segment.io")
    async_client = b2b_events.AsyncClient(write_key="wk_live", endpoint="https://api.segment.io")
    given = Client(transport=b2b_events.HttpTransport(write_key="k", endpoint="https://x.test"))

    with capture() as cap:
        client.track.signed_in(user_id="u_1", group_id="acct_1")
        async_client.track.signed_in(user_id="u_2", group_id="acct_1")
        given.track.signed_in(user_id="u_3", group_id="acct_1")  # an HttpTransport of its own

    assert [m["userId"] for m in cap.messages] == ["u_1", "u_2", "u_3"]
    assert client.stats.delivered == 1
    assert client.stats.pending == async_client.stats.pending == 0


def test_a_dropped_invalid_event_names_the_client_and_where_it_was_created() -> None:
    lenient = Client(write_key="wk_live", on_invalid="drop")  # this line is named below
    line = sys._getframe().f_lineno - 1

    with capture(strict=False) as cap:
        lenient.track.signed_in(user_id="u_1", group_id="")

    (violation,) = cap.violations
    here = os.path.relpath(__file__)
    assert violation.sender == (
        f"b2b_events.Client for https://api.segment.io, created at {here}:{line} in "
        "test_a_dropped_invalid_event_names_the_client_and_where_it_was_created"
    )
    assert f"sent by {violation.sender}" in str(violation)


def test_an_override_that_refuses_makes_the_event_a_rejected_drop() -> None:
    class Refusing:
        def send(self, messages: Sequence[bytes]) -> Response:
            return Response(400)

        def close(self) -> None:
            pass

    client = Client(write_key="wk_live")
    previous = override_transport(Refusing())
    try:
        client.track.signed_in(user_id="u_1", group_id="acct_1")
    finally:
        override_transport(previous)

    assert client.stats.dropped["rejected"] == 1
    assert client.stats.delivered == 0


def test_a_closed_client_drops_as_closed_under_capture() -> None:
    client = Client(write_key="wk_live")
    client.close()

    with capture() as cap:
        client.track.signed_in(user_id="u_1", group_id="acct_1")

    assert cap.messages == []
    assert client.stats.dropped["closed"] == 1


def test_a_client_with_its_own_transport_is_not_captured() -> None:
    recorder = Recorder()
    with capture() as cap:
        Client(transport=recorder, sync=True).track.signed_in(user_id="u_1", group_id="acct_1")

    assert cap.messages == []
    assert len(recorder.sent) == 1


def test_nested_captures_each_get_their_own_messages() -> None:
    with capture() as outer:
        b2b_events.track.signed_in(user_id="outer", group_id="acct_1")
        with capture() as inner:
            b2b_events.track.signed_in(user_id="inner", group_id="acct_1")
        b2b_events.track.signed_out(user_id="outer", group_id="acct_1")

    assert [m["userId"] for m in inner.messages] == ["inner"]
    assert [m["event"] for m in outer.messages] == ["Signed In", "Signed Out"]


def test_strict_capture_fails_at_the_end_of_the_block_for_violations() -> None:
    checked = pytest.raises(AssertionError, match="1 captured b2b-events message breaks the spec")
    with checked, capture() as cap:
        cap.transport.send([json.dumps(wire(context={})).encode()])


def test_an_error_in_the_block_is_not_masked_by_the_violation_check() -> None:
    def app_bug() -> None:
        with capture() as cap:
            cap.transport.send([json.dumps(wire(context={})).encode()])
            raise KeyError("app bug")

    with pytest.raises(KeyError, match="app bug"):
        app_bug()


def test_non_strict_capture_keeps_violations_without_failing() -> None:
    with capture(strict=False) as cap:
        cap.transport.send([json.dumps(wire(context={})).encode()])

    (violation,) = cap.violations
    assert violation.error.event == "Signed In"
    assert [str(p) for p in violation.error.problems] == ["context.groupId: required"]


# -- the transport and recording -------------------------------------------------


def test_transport_records_each_message_and_answers_200() -> None:
    cap = Capture()
    response = cap.transport.send([json.dumps(wire()).encode(), json.dumps(wire()).encode()])

    assert response.ok
    assert len(cap.messages) == 2
    assert isinstance(cap.transport, CapturingTransport)
    assert isinstance(cap.transport, b2b_events.Transport)
    assert cap.transport.capture is cap
    assert "2 message(s)" in repr(cap.transport)
    assert repr(cap) == "<b2b_events.testing.Capture 2 message(s), 0 violation(s)>"
    cap.transport.close()
    assert len(cap.messages) == 2


def test_a_client_delivers_into_the_capture_and_counts_it_delivered() -> None:
    cap = Capture()
    client = tracked(cap)
    client.track.signed_in(user_id="u_1", group_id="acct_1")

    assert client.stats.delivered == 1
    assert cap.messages[0]["context"]["library"]["name"] == "b2b-events"


def test_record_takes_dicts_and_converts_datetimes_to_the_wire_form() -> None:
    cap = Capture()
    when = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
    cap.record(wire(timestamp=when, properties={"day": date(2026, 11, 1)}))
    cap.record(json.dumps(wire()))

    first = cap.messages[0]
    assert first["timestamp"] == "2026-11-22T10:00:00.000Z"
    assert first["properties"] == {"day": "2026-11-01"}
    assert cap.violations == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
    ],
)
def test_a_message_that_is_not_a_json_object_is_a_violation(data: bytes, reason: str) -> None:
    cap = Capture(strict=False)
    cap.transport.send([data])

    (violation,) = cap.violations
    assert violation.error.event == "message"
    assert reason in str(violation.error)
    assert cap.messages == [{"raw": data.decode()}]


def test_spec_only_counts_custom_track_events_as_violations() -> None:
    cap = Capture(strict=False, spec_only=True)
    client = tracked(cap)
    client.track.event("User Signed Up", user_id="u_1", group_id="acct_1")
    client.track.signed_up(user_id="u_1", group_id="acct_1")

    (violation,) = cap.violations
    assert violation.error.event == "User Signed Up"
    assert "not a B2B SaaS spec event" in str(violation)
    assert cap.strict is False
    assert cap.spec_only is True


def _track_custom_event(client: Client) -> int:
    line = sys._getframe().f_lineno + 1
    client.track.event("Report Exported", user_id="u_1", group_id="acct_1")
    return line


def test_a_violation_names_the_line_that_tracked_it() -> None:
    cap = Capture(strict=False, spec_only=True)
    line = _track_custom_event(tracked(cap))

    (violation,) = cap.violations
    assert violation.call_site == f"{_relative(__file__)}:{line} in _track_custom_event"
    assert f"Report Exported, tracked at {violation.call_site}" in str(violation)


def _relative(path: str) -> str:
    return os.path.relpath(path)


def test_a_violation_sent_by_a_background_worker_has_no_call_site() -> None:
    cap = Capture(strict=False, spec_only=True)
    client = Client(transport=cap.transport)
    client.track.event("Report Exported", user_id="u_1", group_id="acct_1")
    assert client.flush(timeout=5)
    client.close()

    (violation,) = cap.violations
    assert violation.call_site is None
    assert "tracked at" not in str(violation)


def test_violation_text_lists_every_problem_and_the_message() -> None:
    with pytest.raises(InvalidEventError) as invalid:
        b2b_events.validate(wire("Signed Up", context={}, properties={"email": "nope"}))
    text = str(Violation({"event": "Signed Up"}, invalid.value, "app.py:3 in signup"))

    assert text.splitlines() == [
        "Signed Up, tracked at app.py:3 in signup",
        "    context.groupId: required",
        "    properties.email: must be an email address",
        '    message: {"event":"Signed Up"}',
    ]


# -- queries ------------------------------------------------------------------------


def test_events_filter_by_name_user_anonymous_id_and_account() -> None:
    cap = Capture()
    client = tracked(cap)
    client.track.signed_in(user_id="u_1", group_id="acct_1")
    client.track.signed_in(anonymous_id="anon", group_id="acct_2")
    client.identify(user_id="u_1", traits={"email": "a@b.co"})
    client.group(user_id="u_1", group_id="acct_2", traits={"name": "Initech"})

    assert len(cap.events()) == 4
    assert len(cap.events("Signed In")) == 2
    assert [m["type"] for m in cap.events(user_id="u_1")] == ["track", "identify", "group"]
    assert [m["anonymousId"] for m in cap.events(anonymous_id="anon")] == ["anon"]
    assert [m["type"] for m in cap.events(group_id="acct_2")] == ["track", "group"]
    assert [m["type"] for m in cap.events("identify")] == ["identify"]
    assert cap.events("Signed Up") == []


def test_clear_forgets_messages_but_keeps_violations() -> None:
    cap = Capture(strict=False)
    cap.record(wire())
    cap.record(wire(context={}))

    cap.clear()

    assert cap.messages == []
    assert len(cap.violations) == 1


# -- assert_tracked and friends ---------------------------------------------------------


def test_assert_tracked_matches_subsets_and_returns_the_first_match() -> None:
    cap = Capture()
    client = tracked(cap)
    client.track.signed_up(user_id="u_1", group_id="acct_1", email="a@b.co", type="organic")
    client.track.signed_up(user_id="u_2", group_id="acct_1", email="a@b.co")

    found = cap.assert_tracked(
        "Signed Up",
        group_id="acct_1",
        properties={"email": "a@b.co"},
        context={"library": {"name": "b2b-events"}},
    )

    assert found["userId"] == "u_1"


def test_assert_tracked_compares_dates_in_their_wire_form() -> None:
    cap = Capture()
    tracked(cap).track.trial_started(
        user_id="u_1",
        group_id="acct_1",
        trial_start_date=date(2026, 11, 1),
        trial_end_date=datetime(2026, 11, 15, 12, tzinfo=timezone.utc),
        trial_plan_name="Pro",
    )

    cap.assert_tracked(
        "Trial Started",
        properties={
            "trial_start_date": date(2026, 11, 1),
            "trial_end_date": datetime(2026, 11, 15, 12, tzinfo=timezone.utc),
        },
    )


def test_assert_tracked_matches_traits_of_identify_and_group_calls() -> None:
    cap = Capture()
    client = tracked(cap)
    client.group(user_id="u_1", group_id="acct_1", traits={"name": "Initech", "plan": "pro"})

    cap.assert_tracked("group", group_id="acct_1", traits={"plan": "pro"})
    with pytest.raises(AssertionError, match="'group' with traits including"):
        cap.assert_tracked("group", traits={"plan": "free"})


def test_a_boolean_does_not_match_a_number() -> None:
    cap = Capture()
    cap.record(wire(properties={"count": 1}))

    with pytest.raises(AssertionError):
        cap.assert_tracked("Signed In", properties={"count": True})


@pytest.mark.parametrize(
    ("expected", "captured"),
    [
        ({"flags": [True, False]}, {"flags": [1, 0]}),
        ({"flags": [1, 0]}, {"flags": [True, False]}),
        ({"rows": [{"on": True}]}, {"rows": [{"on": 1}]}),
        ({"grid": [[0, 1]]}, {"grid": [[False, True]]}),
        ({"outer": {"inner": [True]}}, {"outer": {"inner": [1.0]}}),
        ({"flags": (True,)}, {"flags": [1]}),  # a tuple in a query is a list on the wire
    ],
)
def test_a_boolean_does_not_match_a_number_inside_lists_at_any_depth(
    expected: dict[str, Any], captured: dict[str, Any]
) -> None:
    cap = Capture()
    cap.record(wire(properties=captured))

    with pytest.raises(AssertionError):
        cap.assert_tracked("Signed In", properties=expected)


@pytest.mark.parametrize(
    "properties",
    [
        {"flags": [True, False]},
        {"counts": [1, 0, 2.5]},
        {"rows": [{"on": True, "n": 1}]},
        {"grid": [[0, 1], [True]]},
        {"outer": {"inner": [True, 1]}},
    ],
)
def test_lists_match_when_equal_as_json(properties: dict[str, Any]) -> None:
    cap = Capture()
    cap.record(wire(properties={**properties, "other": "x"}))

    cap.assert_tracked("Signed In", properties=properties)


@pytest.mark.parametrize(
    "expected",
    [
        {"rows": [{"on": True}]},  # a dict inside a list is compared whole, as before
        {"rows": [{"on": True, "n": 1}, {"on": False}]},
        {"counts": [1, 0]},
    ],
)
def test_lists_still_match_whole_not_as_subsets(expected: dict[str, Any]) -> None:
    cap = Capture()
    cap.record(wire(properties={"rows": [{"on": True, "n": 1}], "counts": [1, 0, 2.5]}))

    with pytest.raises(AssertionError):
        cap.assert_tracked("Signed In", properties=expected)


def test_assert_tracked_failure_shows_the_closest_message_as_a_diff() -> None:
    cap = Capture()
    cap.record(wire("Account Created", properties={"account_name": "Initech"}))
    cap.record(wire("Signed Up", context={"groupId": "acct_2"}, properties={"email": "a@b.co"}))

    with pytest.raises(AssertionError) as failure:
        cap.assert_tracked(
            "Signed Up", user_id="u_1", group_id="acct_1", properties={"email": "x@b.co"}
        )

    assert str(failure.value).splitlines() == [
        "'Signed Up' with user_id='u_1', group_id='acct_1', "
        "properties including {'email': 'x@b.co'} was not tracked.",
        "Captured 2 messages: Account Created, Signed Up.",
        "Closest captured message (- captured, + expected):",
        "   {",
        '     "context": {',
        '  -    "groupId": "acct_2"',
        '  +    "groupId": "acct_1"',
        "     },",
        '     "event": "Signed Up",',
        '     "properties": {',
        '  -    "email": "a@b.co"',
        '  +    "email": "x@b.co"',
        "     },",
        '     "type": "track",',
        '     "userId": "u_1"',
        "   }",
    ]


def test_the_diff_adds_what_the_closest_message_lacks() -> None:
    cap = Capture()
    cap.record(wire("Signed In", properties={}))

    with pytest.raises(AssertionError) as failure:
        cap.assert_tracked("Signed Up", properties={"type": "organic"})

    text = str(failure.value)
    assert '  -  "event": "Signed In",' in text
    assert '  +  "event": "Signed Up",' in text
    assert '  +    "type": "organic"' in text


def test_the_diff_shows_identify_and_group_fields_where_they_belong() -> None:
    cap = Capture()
    client = tracked(cap)
    client.group(user_id="u_1", group_id="acct_1")
    client.track.signed_in(user_id="u_1", group_id="acct_1")

    with pytest.raises(AssertionError) as group:
        cap.assert_tracked("group", anonymous_id="a_1", group_id="acct_2", traits={"tags": ("a",)})
    with pytest.raises(AssertionError) as identify:
        cap.assert_tracked("identify", traits={"email": "a@b.co"})

    lines = str(group.value).splitlines()
    assert '  +  "anonymousId": "a_1",' in lines
    assert '  -  "groupId": "acct_1",' in lines
    assert '  +  "groupId": "acct_2",' in lines
    assert '  +      "a"' in lines  # the tuple is compared as a JSON list
    lines = str(identify.value).splitlines()
    assert '  -  "type": "group",' in lines  # the first of two equally close messages
    assert '  +  "type": "identify",' in lines


def test_the_closest_message_is_one_with_the_same_event_name() -> None:
    cap = Capture()
    cap.record(wire("Signed In", userId="u_9", properties={"email": "a@b.co"}))
    cap.record(wire("Signed Up", userId="u_2"))

    with pytest.raises(AssertionError) as failure:
        cap.assert_tracked("Signed Up", user_id="u_9", properties={"email": "a@b.co"})

    assert '  -  "userId": "u_2"' in str(failure.value)


def test_assert_tracked_with_nothing_captured_says_so() -> None:
    with pytest.raises(AssertionError) as failure:
        Capture().assert_tracked("Signed Up")

    assert str(failure.value) == "'Signed Up' was not tracked.\nNothing was captured."


def test_the_summary_names_at_most_twenty_messages() -> None:
    cap = Capture()
    for _ in range(25):
        cap.record(wire())

    with pytest.raises(AssertionError, match=r"Captured 25 messages: (Signed In, ){19}Signed In"):
        cap.assert_tracked("Signed Up")
    with pytest.raises(AssertionError, match="and 5 more"):
        cap.assert_tracked("Signed Up")


def test_assert_tracked_once() -> None:
    cap = Capture()
    cap.record(wire(userId="u_1"))
    cap.record(wire(userId="u_2"))

    assert cap.assert_tracked_once("Signed In", user_id="u_2")["userId"] == "u_2"
    with pytest.raises(AssertionError) as twice:
        cap.assert_tracked_once("Signed In")
    with pytest.raises(AssertionError) as never:
        cap.assert_tracked_once("Signed In", user_id="u_3")

    lines = str(twice.value).splitlines()
    assert lines[0] == "'Signed In' was tracked 2 times, expected once:"
    assert lines[1].startswith('  {"context":{"groupId":"acct_1"},"event":"Signed In"')
    assert len(lines) == 3
    assert str(never.value).startswith(
        "'Signed In' with user_id='u_3' was not tracked (expected once)."
    )
    assert '  -  "userId": "u_1"' in str(never.value)


def test_assert_not_tracked() -> None:
    cap = Capture()
    cap.assert_not_tracked()
    cap.record(wire(userId="u_1"))

    cap.assert_not_tracked("Signed Up")
    cap.assert_not_tracked("Signed In", user_id="u_2")
    with pytest.raises(AssertionError) as failure:
        cap.assert_not_tracked("Signed In", group_id="acct_1")
    with pytest.raises(AssertionError, match=r"^a message was tracked once, expected never:"):
        cap.assert_not_tracked()

    assert str(failure.value).startswith(
        "'Signed In' with group_id='acct_1' was tracked once, expected never:\n  {"
    )


def test_assert_order_allows_other_messages_between() -> None:
    cap = Capture()
    for event in ("Account Created", "Signed In", "Signed Up", "Invite Sent"):
        cap.record(wire(event, properties={"account_name": "x", "invitee_email": "a@b.co"}))

    cap.assert_order("Account Created", "Signed Up", "Invite Sent")
    cap.assert_order("Signed Up")


def test_assert_order_failure_names_the_event_out_of_order() -> None:
    cap = Capture()
    cap.record(wire("Signed Up"))
    cap.record(wire("Account Created", properties={"account_name": "Initech"}))

    with pytest.raises(AssertionError) as failure:
        cap.assert_order("Account Created", "Signed Up")
    with pytest.raises(AssertionError, match=r"'Trial Started' was not tracked\.\n"):
        cap.assert_order("Trial Started", "Signed Up")

    assert str(failure.value) == (
        "expected 'Account Created' -> 'Signed Up' in this order; "
        "'Signed Up' was not tracked after 'Account Created'.\n"
        "Captured 2 messages: Signed Up, Account Created."
    )


def test_assert_order_can_look_at_one_user_or_account_only() -> None:
    cap = Capture()
    cap.record(wire("Signed Up", userId="u_2"))
    cap.record(wire("Signed In", userId="u_1"))
    cap.record(wire("Signed Up", userId="u_1", context={"groupId": "acct_2"}))

    cap.assert_order("Signed In", "Signed Up", user_id="u_1")
    with pytest.raises(AssertionError, match="in this order with group_id='acct_1'"):
        cap.assert_order("Signed In", "Signed Up", group_id="acct_1")


def test_assert_order_needs_a_name() -> None:
    with pytest.raises(TypeError, match="at least one event name"):
        Capture().assert_order()


def test_helpers_report_violations_first_in_strict_mode_and_only_once() -> None:
    cap = Capture()
    cap.record(wire(context={}))

    with pytest.raises(AssertionError, match="breaks the spec") as failure:
        cap.assert_tracked("Signed In")
    cap.assert_tracked("Signed In")
    cap.check()

    assert "context.groupId: required" in str(failure.value)
    assert "strict=False" in str(failure.value)


def test_check_reports_violations_in_non_strict_mode_when_asked() -> None:
    cap = Capture(strict=False)
    cap.record(wire(context={}))
    cap.record(wire(userId=None))

    cap.assert_tracked("Signed In")
    with pytest.raises(AssertionError, match=r"^2 captured b2b-events messages break the spec:"):
        cap.check()


# -- assert_valid ---------------------------------------------------------------------


def test_assert_valid_returns_the_typed_message() -> None:
    assert isinstance(assert_valid(wire()), SignedIn)
    assert isinstance(assert_valid(json.dumps(wire("Signed Up"))), SignedUp)
    assert isinstance(assert_valid(json.dumps(wire("Report Exported")).encode()), Track)


def test_assert_valid_lists_every_problem() -> None:
    with pytest.raises(AssertionError) as failure:
        assert_valid(wire("Invite Sent", context={"groupId": ""}))

    assert str(failure.value).splitlines() == [
        "Invite Sent breaks the spec:",
        "  context.groupId: must not be empty",
        "  properties.invitee_email: required",
    ]


def test_assert_valid_spec_only_and_non_json() -> None:
    with pytest.raises(AssertionError, match="not a B2B SaaS spec event"):
        assert_valid(wire("Report Exported"), spec_only=True)
    with pytest.raises(AssertionError, match="message is not JSON"):
        assert_valid("{")


class ReportExported(b2b_events.Event, name="Report Exported", group=True):
    report_id: str


MY_PLAN = b2b_events.TrackingPlan.b2b_saas().with_events(ReportExported)


def test_assert_valid_checks_against_a_plan() -> None:
    exported = wire("Report Exported", properties={"report_id": "r_1"})

    assert assert_valid(exported, plan=MY_PLAN, spec_only=True).name == "Report Exported"
    with pytest.raises(AssertionError, match=r"properties\.report_id: required"):
        assert_valid(wire("Report Exported"), plan=MY_PLAN)
    with pytest.raises(AssertionError, match="is not in the plan"):
        assert_valid(wire("Report Viewed"), plan=MY_PLAN, spec_only=True)


# -- validate_batch ---------------------------------------------------------------------


def body(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"batch": list(messages), "sentAt": "2026-11-22T10:00:00.000Z", "writeKey": "k"}


def test_validate_batch_takes_dicts_json_gzip_and_httpx_requests() -> None:
    data = body(wire(), wire("Signed Up"))
    raw = json.dumps(data).encode()
    request = httpx.Request("POST", "https://api.segment.io/v1/batch", content=gzip.compress(raw))

    for given in (data, raw.decode(), raw, gzip.compress(raw), request):
        messages = validate_batch(given)
        assert [type(m) for m in messages] == [SignedIn, SignedUp]


def test_validate_batch_lists_problems_per_message_index() -> None:
    data = body(
        wire(),
        wire("Signed Up", context={}),
        wire("Invite Sent", properties={"invitee_email": "nope"}),
    )

    with pytest.raises(InvalidBatchError) as failure:
        validate_batch(data)

    error = failure.value
    assert str(error).splitlines() == [
        "/v1/batch body: 2 of 3 messages invalid",
        "  batch[1] Signed Up: context.groupId: required",
        "  batch[2] Invite Sent: properties.invitee_email: must be an email address",
    ]
    assert sorted(error.errors) == [1, 2]
    assert error.event == "batch"
    assert [str(p) for p in error.problems] == [
        "batch[1].context.groupId: required",
        "batch[2].properties.invitee_email: must be an email address",
    ]
    assert isinstance(error, InvalidEventError)
    assert isinstance(error, ValueError)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_validate_batch_spec_only() -> None:
    assert len(validate_batch(body(wire("Report Exported")))) == 1
    with pytest.raises(InvalidBatchError, match=r"batch\[0\] Report Exported: event"):
        validate_batch(body(wire("Report Exported")), spec_only=True)


def test_validate_batch_checks_each_message_against_a_plan() -> None:
    good = wire("Report Exported", properties={"report_id": "r_1"})
    data = body(good, wire("Report Exported"), wire())

    with pytest.raises(InvalidBatchError) as failure:
        validate_batch(data, plan=MY_PLAN)

    assert str(failure.value).splitlines() == [
        "/v1/batch body: 1 of 3 messages invalid",
        "  batch[1] Report Exported: properties.report_id: required",
    ]
    assert [m.name for m in validate_batch(body(good, wire()), plan=MY_PLAN)] == [
        "Report Exported",
        "Signed In",
    ]


@pytest.mark.parametrize(
    ("given", "line"),
    [
        (b"[]", "body: must be a JSON object, not list"),
        (b"{", "body: is not JSON"),
        (b"\x1f\x8b not really", "body: is not valid gzip"),
        ({"sentAt": "x"}, "batch: required"),
        ({"batch": {"type": "track"}}, "batch: must be a list of messages"),
    ],
)
def test_validate_batch_rejects_a_malformed_body(given: Any, line: str) -> None:
    with pytest.raises(InvalidBatchError) as failure:
        validate_batch(given)

    assert str(failure.value).splitlines()[0] == "/v1/batch body"
    assert str(failure.value).splitlines()[1].startswith(f"  {line}")


def test_validate_batch_checks_segments_limits() -> None:
    big = wire(properties={"blob": "x" * 40_000})
    many = body(*[wire() for _ in range(2_501)])

    with pytest.raises(InvalidBatchError, match="over the 32,768 limit") as oversize:
        validate_batch(body(wire(), big))
    with pytest.raises(InvalidBatchError, match="batch: has 2,501 messages, over the 2,500 limit"):
        validate_batch(many)
    with pytest.raises(InvalidBatchError, match=r"body: is [\d,]+ bytes, over the 500,000"):
        validate_batch(body(*[wire(properties={"blob": "x" * 30_000}) for _ in range(20)]))

    assert list(oversize.value.errors) == [1]


def test_validate_batch_counts_sizes_in_utf_8_as_sent() -> None:
    """16 KB of accented text is 16 KB on the wire, not 48 KB of \\u escapes."""
    accented = wire(properties={"note": "é" * 8_000})
    assert len(validate_batch(body(accented))) == 1
    assert len(validate_batch(body(*[accented] * 20))) == 20  # 320 KB, under 500,000


@pytest.mark.b2b_events(send=True)  # to respx
@respx.mock
def test_validate_batch_reads_a_request_recorded_by_respx() -> None:
    route = respx.post("https://api.segment.io/v1/batch").mock(return_value=httpx.Response(200))
    with Client(write_key="k", sync=True) as client:
        client.track.signed_up(user_id="u_1", group_id="acct_1", email="a@b.co")

    (message,) = validate_batch(route.calls.last.request)
    assert isinstance(message, SignedUp)
    assert message.properties.email == "a@b.co"


def test_validate_batch_checks_a_body_from_segments_python_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bodies: list[bytes] = []

    class Accepted:
        status_code = 200

    def post(url: str, data: bytes | str, **kwargs: Any) -> Accepted:
        bodies.append(data.encode() if isinstance(data, str) else data)
        return Accepted()

    monkeypatch.setattr(segment_request._session, "post", post)
    segment = SegmentClient("k", sync_mode=True, gzip=True, send=True)
    segment.track(
        user_id="u_1",
        event="Trial Started",
        properties={
            "trial_start_date": "2026-11-01",
            "trial_end_date": "2026-11-15",
            "trial_plan_name": "Pro",
        },
        context={"groupId": "acct_1"},
    )
    segment.track(user_id="u_1", event="Signed Up", properties={"email": "a@b.co"})

    (first, second) = bodies
    (message,) = validate_batch(first)
    assert isinstance(message, TrialStarted)
    with pytest.raises(InvalidBatchError, match=r"batch\[0\] Signed Up: context.groupId: required"):
        validate_batch(second)


def test_a_drop_mode_client_still_reports_its_invalid_events_to_the_capture() -> None:
    with capture(strict=False) as cap:
        client = Client(on_invalid="drop")
        client.track.invite_sent(user_id="u_1", group_id="", invitee_email="nope")
        assert client.stats.dropped["invalid"] == 1

    assert cap.messages == []
    (violation,) = cap.violations
    assert violation.error.event == "Invite Sent"
    assert [str(p) for p in violation.error.problems] == [
        "context.groupId: must not be empty",
        "properties.invitee_email: must be an email address",
    ]
    assert violation.call_site is not None
    assert "test_capture.py" in violation.call_site


def test_strict_capture_fails_on_events_a_drop_mode_client_dropped() -> None:
    with pytest.raises(AssertionError, match="Invite Sent"), capture():
        Client(on_invalid="drop").track.invite_sent(
            user_id="u_1", group_id="acct_1", invitee_email="nope"
        )
