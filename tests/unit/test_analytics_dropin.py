"""``b2b_events.analytics``: analytics-python 2.4's surface, checked against its own source."""

from __future__ import annotations

import inspect
import logging
import pickle
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import segment.analytics as segment_analytics
from segment.analytics import Client as SegmentClient

import b2b_events
import b2b_events.analytics as dropin
from b2b_events import ConfigurationError, InvalidEventError, MessageTooLargeError, Response
from b2b_events._client import override_transport
from b2b_events.analytics import Client, DeliveryError
from b2b_events.analytics._client import _proxy_for
from b2b_events.testing import capture

CALLS = ("track", "identify", "group", "page", "screen", "alias", "flush", "join", "shutdown")
SETTINGS = (
    "write_key",
    "host",
    "on_error",
    "debug",
    "send",
    "sync_mode",
    "gzip",
    "max_queue_size",
    "max_retries",
    "timeout",
)


@pytest.fixture(autouse=True)
def no_default_clients() -> Iterator[None]:
    dropin.default_client = None
    yield
    if dropin.default_client is not None:
        dropin.default_client.join()
    dropin.default_client = None
    b2b_events.close()


def parameters(function: Any) -> list[tuple[str, Any]]:
    return [
        (p.name, p.default)
        for p in inspect.signature(function).parameters.values()
        if p.name != "self"
    ]


@pytest.mark.parametrize("method", CALLS)
def test_each_call_has_analytics_python_parameters_order_and_defaults(method: str) -> None:
    assert parameters(getattr(Client, method)) == parameters(getattr(SegmentClient, method))


def test_client_takes_analytics_python_client_arguments_in_order_with_defaults() -> None:
    assert parameters(Client.__init__) == parameters(SegmentClient.__init__)


def test_module_has_analytics_python_settings_with_its_defaults() -> None:
    for name in SETTINGS:
        assert getattr(dropin, name) == getattr(segment_analytics, name), name
    assert (dropin.upload_size, dropin.upload_interval) == (100, 0.5)  # Client's defaults there


@pytest.mark.parametrize("function", [*CALLS])
def test_module_functions_exist_and_are_public(function: str) -> None:
    assert callable(getattr(dropin, function))
    assert function in dropin.__all__


def test_calls_positional_as_analytics_python_reach_the_capture() -> None:
    with capture() as cap:
        client = Client("key")
        assert client.track("u_1", "Signed In", {"x": 1}, {"groupId": "acct_1"})[0] is True
        client.identify("u_1", {"email": "a@b.co"})
        client.group("u_1", "acct_1", {"name": "Initech"})
        client.page("u_1", "Docs", "Python", {"url": "https://x.io"})
        client.screen("u_1", "Food", "Pie")
        client.alias("anon_1", "u_1")
        client.shutdown()

    page, screen, alias = (cap.messages(type=kind)[0] for kind in ("page", "screen", "alias"))
    assert (page["category"], page["name"], page["properties"]) == (
        "Docs",
        "Python",
        {"url": "https://x.io"},
    )
    assert (screen["category"], screen["name"]) == ("Food", "Pie")
    assert (alias["previousId"], alias["userId"]) == ("anon_1", "u_1")
    cap.assert_tracked("Signed In", group_id="acct_1", properties={"x": 1})
    cap.assert_tracked("group", group_id="acct_1", traits={"name": "Initech"})
    assert all(m["integrations"] == {} for m in cap.messages)


def test_numeric_ids_are_sent_as_strings() -> None:
    with capture() as cap:
        client = Client("key")
        client.group(7, 42)
        client.alias(1, 2)

    assert cap.messages[0]["userId"] == "7"
    assert cap.messages[0]["groupId"] == "42"
    assert (cap.messages[1]["previousId"], cap.messages[1]["userId"]) == ("1", "2")


def test_an_invalid_message_is_counted_logged_and_given_to_on_error_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    with capture(strict=False) as cap:
        client = Client("key", on_error=lambda error, batch: errors.append((error, batch)))
        accepted, message = client.track("u_1", "Invite Sent", {"invitee_email": "nope"})

    assert accepted is False
    ((error, batch),) = errors
    assert isinstance(error, InvalidEventError)
    assert str(error) == (
        "Invite Sent: context.groupId: required; properties.invitee_email: must be an email address"
    )
    assert batch == [message]
    assert client.engine is not None
    assert client.engine.stats.dropped["invalid"] == 1
    assert "Invite Sent: context.groupId: required" in caplog.text
    assert [v.message["event"] for v in cap.violations] == ["Invite Sent"]


def test_an_on_error_that_raises_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    def broken(error: Exception, batch: list[dict[str, Any]]) -> None:
        raise RuntimeError("boom")

    with capture(strict=False):
        Client("key", on_error=broken).track(None, "Report Exported")

    assert "on_error raised" in caplog.text


class Refusing:
    """A transport whose endpoint refuses every batch for good."""

    def send(self, messages: Sequence[bytes]) -> Response:
        return Response(400)

    def close(self) -> None:
        pass


def test_events_dropped_after_the_call_reach_on_error_with_the_reason() -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    previous = override_transport(Refusing())
    try:
        client = Client("key", on_error=lambda error, batch: errors.append((error, batch)))
        client.track("u_1", "Report Exported", {"rows": 3})
        client.flush()
    finally:
        override_transport(previous)

    ((error, batch),) = errors
    assert isinstance(error, DeliveryError)
    assert error.reason == "rejected"
    assert [m["event"] for m in batch] == ["Report Exported"]


def test_send_false_builds_and_checks_but_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[Exception] = []
    client = Client("key", send=False, on_error=lambda error, batch: errors.append(error))

    accepted, message = client.track("u_1", "Report Exported", {"rows": 3})
    rejected, _ = client.track("u_1", "Signed In")
    client.shutdown()

    assert client.engine is None
    assert accepted is True
    assert message["properties"] == {"rows": 3}
    assert rejected is False
    assert [str(e) for e in errors] == ["Signed In: context.groupId: required"]
    assert "invalid message not sent" in caplog.text


def test_oauth_is_refused_rather_than_ignored() -> None:
    with pytest.raises(ConfigurationError, match="OAuth"):
        Client("key", oauth_client_id="id", oauth_client_key="k", oauth_key_id="kid")


def test_no_write_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("B2B_EVENTS_WRITE_KEY", raising=False)

    with pytest.raises(ConfigurationError, match="no write key"):
        dropin.track("u_1", "Report Exported")


def test_debug_logs_at_debug_level_through_a_handler() -> None:
    logger = logging.getLogger("b2b_events")
    level, handlers = logger.level, list(logger.handlers)
    try:
        with capture():
            Client("key", debug=True)
        assert logger.level == logging.DEBUG
        assert any(type(h) is logging.StreamHandler for h in logger.handlers)
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def test_a_naive_timestamp_is_guessed_as_analytics_python_guesses() -> None:
    long_ago = datetime(2026, 11, 1, 9, 30, 0, 123456)
    just_now = datetime.now()
    with capture() as cap:
        client = Client("key")
        client.identify("u_1", timestamp=long_ago)
        client.identify("u_1", timestamp=just_now)

    first, second = (datetime.fromisoformat(m["timestamp"]) for m in cap.messages)
    assert first == long_ago.replace(microsecond=123000, tzinfo=timezone.utc)
    local = just_now.astimezone()
    assert second == local.replace(microsecond=local.microsecond // 1000 * 1000)
    assert abs(second - datetime.now(timezone.utc)) < timedelta(hours=1)


def test_the_module_functions_use_one_default_client_from_the_settings() -> None:
    with capture() as cap:
        dropin.write_key = "key"
        try:
            dropin.page("u_1", None, "Home")
            first = dropin.default_client
            dropin.alias("a_1", "u_1")
            assert dropin.default_client is first
            dropin.shutdown()
        finally:
            dropin.write_key = None

    assert [m["type"] for m in cap.messages] == ["page", "alias"]


def test_an_oversized_message_is_reported_with_its_error_not_raised() -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    with capture(strict=False) as cap:
        client = Client("key", on_error=lambda error, batch: errors.append((error, batch)))
        accepted, message = client.track("u_1", "Report Exported", {"blob": "x" * 40_000})

    assert accepted is False
    ((error, batch),) = errors
    assert isinstance(error, MessageTooLargeError)
    assert batch == [message]
    assert message["properties"]["blob"] == "x" * 40_000
    assert client.engine is not None
    assert client.engine.stats.dropped["oversize"] == 1
    assert cap.messages == []
    assert [type(v.error) for v in cap.violations] == [MessageTooLargeError]


def test_calls_after_join_are_counted_and_reported_as_closed() -> None:
    errors: list[Exception] = []
    with capture():
        client = Client("key", on_error=lambda error, batch: errors.append(error))
        client.join()
        accepted, message = client.track("u_1", "Report Exported")

    assert (accepted, message["event"]) == (False, "Report Exported")  # not (True, ...): not sent
    assert [(type(e), getattr(e, "reason", None)) for e in errors] == [(DeliveryError, "closed")]
    assert client.engine is not None
    assert client.engine.stats.dropped["closed"] == 1


def test_thread_below_one_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="thread must be >= 1"):
        Client("key", thread=0)


def test_log_handler_is_added_to_the_b2b_events_logger() -> None:
    logger = logging.getLogger("b2b_events")
    handler = logging.NullHandler()
    try:
        with capture():
            Client("key", log_handler=handler)
        assert handler in logger.handlers
    finally:
        logger.removeHandler(handler)


def test_delivery_error_pickles_with_its_reason() -> None:
    error = pickle.loads(pickle.dumps(DeliveryError("rejected")))

    assert (type(error), error.reason, str(error)) == (
        DeliveryError,
        "rejected",
        "events dropped: rejected",
    )


@pytest.mark.parametrize(
    ("proxies", "host", "expected"),
    [
        (None, None, None),
        ({"https": "http://proxy:3128"}, None, "http://proxy:3128"),
        ({"https": "http://s:1", "http": "http://p:2"}, "http://127.0.0.1:8088", "http://p:2"),
        ({"all": "http://a:1"}, "https://api.segment.io", "http://a:1"),
        ({"http": "http://p:2"}, "https://api.segment.io", None),
    ],
)
def test_proxies_pick_the_proxy_requests_would_use_for_the_host(
    proxies: dict[str, str] | None, host: str | None, expected: str | None
) -> None:
    assert _proxy_for(proxies, host) == expected


def test_the_module_join_stops_the_default_client() -> None:
    with capture():
        dropin.write_key = "key"
        try:
            dropin.identify("u_1")
            dropin.join()
        finally:
            dropin.write_key = None
        assert dropin.default_client is not None
        assert dropin.default_client.engine is not None
        assert dropin.default_client.engine.closed
