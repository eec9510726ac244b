"""The client and engine with an in-memory transport: queue, overflow, lifecycle, modes."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import b2b_events
from b2b_events import Client, ConfigurationError, MessageTooLargeError, Response
from b2b_events._delivery.accounting import Accounting
from b2b_events._delivery.options import Options as EngineOptions
from b2b_events._delivery.worker import ThreadWorker
from b2b_events.events._common import iso_timestamp


class MemoryTransport:
    """Records batches; ``gate`` (when cleared) holds every send until it is set."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.batches: list[list[dict[str, Any]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.sending = threading.Event()
        self.closed = 0
        self.raises: Exception | None = None

    def send(self, messages: Sequence[bytes]) -> Response:
        self.sending.set()
        self.gate.wait(10)
        if self.raises is not None:
            raise self.raises
        self.batches.append([json.loads(m) for m in messages])
        return Response(self.status)

    def close(self) -> None:
        self.closed += 1

    def ids(self) -> list[str]:
        return [m["messageId"] for batch in self.batches for m in batch]


Drops = list[tuple[str, list[dict[str, Any]]]]


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def drops() -> Drops:
    return []


def client_for(transport: MemoryTransport, drops: Drops | None = None, **options: Any) -> Client:
    hook = (
        (lambda reason, messages: drops.append((reason, messages))) if drops is not None else None
    )
    return Client(transport=transport, on_drop=hook, retry_backoff=0.01, **options)


def track(client: Client, n: int, prefix: str = "u") -> list[str]:
    return [
        client.track.signed_in(user_id=f"{prefix}{i}", group_id="acct_1").message_id
        for i in range(n)
    ]


def stall(client: Client, transport: MemoryTransport) -> str:
    """Make the worker take one message and hang in send(); return that message's id."""
    transport.gate.clear()
    (first,) = track(client, 1, prefix="first")
    assert transport.sending.wait(5)
    return first


def test_a_burst_of_100k_events_at_default_settings_loses_nothing(
    transport: MemoryTransport,
) -> None:
    with client_for(transport) as client:
        ids = track(client, 100_000)
        assert client.flush(timeout=60)
        stats = client.stats
    assert stats.dropped_total == 0
    assert stats.delivered == stats.tracked == 100_000
    assert transport.ids() == ids
    assert all(len(batch) <= 1_000 for batch in transport.batches)


def test_drop_newest_drops_what_does_not_fit(transport: MemoryTransport, drops: Drops) -> None:
    with client_for(transport, drops, max_queue_events=10, max_batch_events=1) as client:
        first = stall(client, transport)
        ids = track(client, 15)
        transport.gate.set()
        assert client.flush(timeout=5)
        stats = client.stats
    assert transport.ids() == [first, *ids[:10]]
    assert stats.dropped["queue_full"] == 5
    assert [m["messageId"] for reason, ms in drops for m in ms] == ids[10:]
    assert {reason for reason, _ in drops} == {"queue_full"}


def test_drop_oldest_keeps_the_newest(transport: MemoryTransport, drops: Drops) -> None:
    with client_for(
        transport, drops, max_queue_events=10, max_batch_events=1, overflow="drop_oldest"
    ) as client:
        first = stall(client, transport)
        ids = track(client, 15)
        transport.gate.set()
        assert client.flush(timeout=5)
        stats = client.stats
    assert transport.ids() == [first, *ids[5:]]
    assert stats.dropped["queue_full"] == 5
    assert [m["messageId"] for _, ms in drops for m in ms] == ids[:5]
    assert stats.pending == 0


def test_block_waits_for_room_then_drops_after_its_timeout(
    transport: MemoryTransport, drops: Drops
) -> None:
    with client_for(
        transport,
        drops,
        max_queue_events=3,
        max_batch_events=1,
        overflow="block",
        block_timeout=0.2,
    ) as client:
        stall(client, transport)
        track(client, 3)
        started = time.monotonic()
        (late,) = track(client, 1, prefix="late")
        waited = time.monotonic() - started
        assert client.stats.dropped["queue_full"] == 1
        assert drops[0][1][0]["messageId"] == late
        assert waited >= 0.15  # it did block before giving up
        transport.gate.set()
        assert client.flush(timeout=5)


def test_block_succeeds_when_room_appears_in_time(transport: MemoryTransport) -> None:
    with client_for(
        transport, max_queue_events=3, max_batch_events=1, overflow="block", block_timeout=5
    ) as client:
        stall(client, transport)
        track(client, 3)
        threading.Timer(0.1, transport.gate.set).start()
        (late,) = track(client, 1, prefix="late")
        assert client.flush(timeout=5)
        assert client.stats.dropped_total == 0
    assert transport.ids()[-1] == late


def test_a_blocked_call_gets_the_worker_sending_before_the_flush_interval(
    transport: MemoryTransport,
) -> None:
    """The full queue is sent now, not after flush_interval, so the blocked call fits."""
    with client_for(
        transport,
        max_queue_events=5,
        flush_interval=60,
        overflow="block",
        block_timeout=3,
    ) as client:
        track(client, 5)  # full, and a batch is not due for a minute
        track(client, 1, prefix="late")
        assert client.stats.dropped_total == 0
        assert client.flush(timeout=5)
    assert len(transport.ids()) == 6


def test_sync_mode_flush_and_close_wait_for_sends_in_other_threads(
    transport: MemoryTransport, drops: Drops
) -> None:
    client = client_for(transport, drops, sync=True)
    transport.gate.clear()
    sender = threading.Thread(target=track, args=(client, 1))
    sender.start()
    assert transport.sending.wait(5)
    assert not client.flush(timeout=0.1)  # the send in the other thread is not done
    threading.Timer(0.2, transport.gate.set).start()
    assert client.flush(timeout=5)
    sender.join(5)
    transport.gate.clear()
    transport.sending.clear()
    sender = threading.Thread(target=track, args=(client, 1, "second"))
    sender.start()
    assert transport.sending.wait(5)
    threading.Timer(0.2, transport.gate.set).start()
    client.close(timeout=5)  # waits for the send instead of counting it as timed out
    sender.join(5)
    assert drops == []
    assert client.stats.delivered == 2


def wait_until_flushing(client: Client) -> None:
    """Until a flush() in another thread has taken its target and waits."""
    deadline = time.monotonic() + 5
    while not client._worker.queue.flush_waiters:
        assert time.monotonic() < deadline, "flush() did not start waiting"
        time.sleep(0.005)


def test_sync_flush_is_not_ended_by_a_later_send_that_finishes_first() -> None:
    """flush() waits for what was tracked before it, not for as many events as that."""

    class SlowForSome(MemoryTransport):
        def send(self, messages: Sequence[bytes]) -> Response:
            if json.loads(messages[0])["userId"].startswith("slow"):
                self.sending.set()
                self.gate.wait(10)
            self.batches.append([json.loads(m) for m in messages])
            return Response(self.status)

    transport = SlowForSome()
    transport.gate.clear()
    client = client_for(transport, sync=True)
    slow = threading.Thread(target=track, args=(client, 1, "slow"))
    slow.start()
    assert transport.sending.wait(5)
    result: list[bool] = []
    flushing = threading.Thread(target=lambda: result.append(client.flush(timeout=1.0)))
    flushing.start()
    wait_until_flushing(client)
    track(client, 1, prefix="fast")  # tracked after the flush began, and sent at once
    flushing.join(5)
    assert result == [False]  # the slow send, tracked before it, was still running
    transport.gate.set()
    slow.join(5)
    assert client.flush(timeout=5)
    client.close()


def test_flush_is_not_ended_by_evicting_newer_events(drops: Drops) -> None:
    """drop_oldest evicts queued events; the older batch in flight still counts."""
    transport = MemoryTransport()
    transport.gate.clear()
    client = client_for(
        transport, drops, max_queue_events=4, max_batch_events=1, overflow="drop_oldest"
    )
    track(client, 1, prefix="first")
    assert transport.sending.wait(5)  # "first" is in flight, held
    track(client, 4, prefix="queued")
    result: list[bool] = []
    flushing = threading.Thread(target=lambda: result.append(client.flush(timeout=1.0)))
    flushing.start()
    wait_until_flushing(client)
    track(client, 5, prefix="later")  # evicts the four queued and one later: five settled
    flushing.join(5)
    assert result == [False]  # "first" is still in flight
    assert sum(len(messages) for _, messages in drops) == 5
    transport.gate.set()
    assert client.flush(timeout=5)
    client.close()


def test_a_second_close_with_less_time_does_not_cut_the_first_short(
    transport: MemoryTransport, drops: Drops
) -> None:
    client = client_for(transport, drops, max_batch_events=1)
    stall(client, transport)
    track(client, 3)
    first = threading.Thread(target=client.close, kwargs={"timeout": 10})
    first.start()
    time.sleep(0.05)
    client.close(timeout=0)  # e.g. a signal handler: returns, drops nothing
    assert drops == []
    transport.gate.set()
    first.join(10)
    assert drops == []
    assert client.stats.delivered == 4


def test_queue_is_bounded_by_bytes_too(transport: MemoryTransport) -> None:
    pad = "x" * 20_000
    with client_for(transport, max_queue_bytes=50_000, max_batch_events=1) as client:
        stall(client, transport)
        for i in range(4):
            client.track.signed_in(user_id=f"u{i}", group_id="g", properties={"pad": pad})
        transport.gate.set()
        assert client.flush(timeout=5)
        assert client.stats.dropped["queue_full"] == 2  # two of ~20 KB fit in 50 KB


def test_events_after_close_are_counted_as_closed(transport: MemoryTransport, drops: Drops) -> None:
    client = client_for(transport, drops)
    client.close()
    msg = client.track.signed_in(user_id="u", group_id="g")
    assert client.stats.dropped["closed"] == 1
    assert drops == [("closed", [msg.to_wire()])]
    assert transport.batches == []


def test_close_is_idempotent_and_closes_the_transport_once(transport: MemoryTransport) -> None:
    client = client_for(transport)
    track(client, 5)
    client.close()
    client.close()
    assert client.closed
    assert transport.closed == 1
    assert len(transport.ids()) == 5
    assert client.flush(timeout=0.1)


def test_close_without_a_started_worker_returns_at_once(transport: MemoryTransport) -> None:
    client = client_for(transport)
    client.close(timeout=10)
    assert transport.closed == 1
    assert client.stats.tracked == 0


def test_close_drops_queued_events_as_timeout_and_the_unanswered_send_as_unconfirmed(
    transport: MemoryTransport, drops: Drops
) -> None:
    client = client_for(transport, drops, max_batch_events=1)
    first = stall(client, transport)
    ids = track(client, 4)
    client.close(timeout=0.2)
    stats = client.stats
    assert stats.dropped["timeout"] == 4  # never sent
    assert stats.dropped["unconfirmed"] == 1  # sent, no answer yet: maybe stored
    assert stats.pending == 0
    by_reason = {reason: [m["messageId"] for m in ms] for reason, ms in drops}
    assert by_reason == {"timeout": ids, "unconfirmed": [first]}
    transport.gate.set()  # the abandoned send finishes: not counted twice
    time.sleep(0.1)
    assert client.stats.delivered == 0
    assert client.stats.dropped_total == 5


def test_close_still_sends_the_batches_after_one_it_gave_up_on() -> None:
    """A Retry-After beyond close()'s time drops that batch, not the ones after it."""
    sent: list[str] = []

    class Busy:
        def send(self, messages: Sequence[bytes]) -> Response:
            users = [json.loads(m)["userId"] for m in messages]
            if "a" in users:
                return Response(503, retry_after=10.0)
            sent.extend(users)
            return Response(200)

        def close(self) -> None:
            pass

    client = Client(transport=Busy(), max_batch_events=1, flush_interval=0.01)
    for user in "abc":
        client.track.signed_in(user_id=user, group_id="g")
    start = time.monotonic()
    client.close(timeout=3)
    assert sent == ["b", "c"]
    assert client.stats.dropped["timeout"] == 1  # "a": its retry was due after the deadline
    assert time.monotonic() - start < 2.5  # it did not wait out the timeout doing nothing


def test_failing_attempts_are_one_warning_with_the_retry_plan_not_one_per_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class FlakyTransport(MemoryTransport):
        def send(self, messages: Sequence[bytes]) -> Response:
            self.attempts = getattr(self, "attempts", 0) + 1
            if self.attempts <= 4:
                return Response(0, detail="ConnectError: connection refused")
            return super().send(messages)

    caplog.set_level(logging.INFO, logger="b2b_events")
    transport = FlakyTransport()
    with client_for(transport, max_retries=5, max_retry_time=30) as client:
        track(client, 2)
        assert client.flush(timeout=5)
        assert client.stats.delivered == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "delivery failed (ConnectError: connection refused); retrying in" in warned[0]
    assert "up to 6 attempts per batch within 30 s" in warned[0]
    retried = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retried) == 4  # the later attempts at INFO


def test_a_transport_that_raises_is_retried_then_dropped(
    transport: MemoryTransport, drops: Drops
) -> None:
    transport.raises = RuntimeError("boom")
    with client_for(transport, drops, max_retries=2) as client:
        track(client, 3)
        assert client.flush(timeout=5)
        stats = client.stats
    assert stats.retries == 2
    assert stats.dropped["retries_exhausted"] == 3


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_killed_by_a_base_exception_is_replaced(drops: Drops) -> None:
    class Stop(BaseException):  # as gevent's Timeout: not an Exception, so not swallowed
        pass

    class KilledOnce(MemoryTransport):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def send(self, messages: Sequence[bytes]) -> Response:
            self.calls += 1
            if self.calls == 1:
                self.sending.set()
                self.gate.wait(10)  # held until the queue behind it is full
                raise Stop
            return super().send(messages)

    killing = KilledOnce()
    killing.gate.clear()
    client = client_for(killing, drops, max_queue_events=2, max_batch_events=1)
    client.track.signed_in(user_id="first", group_id="g")
    assert killing.sending.wait(5)
    for user in ("second", "third"):  # the queue is full now
        client.track.signed_in(user_id=user, group_id="g")
    first_worker = client._worker._thread
    assert first_worker is not None
    killing.gate.set()  # the worker dies; another must take the queue, with no track() to ask
    first_worker.join(5)  # its exception is reported now, within this test
    deadline = time.monotonic() + 10
    while len(killing.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [m["userId"] for batch in killing.batches for m in batch] == ["second", "third"]
    assert [reason for reason, _ in drops] == ["rejected"]  # "first": accounted, not pending
    assert client.stats.pending == 0
    client.close()


def test_oversize_message_raises_at_the_call_site(transport: MemoryTransport) -> None:
    with client_for(transport) as client:
        with pytest.raises(MessageTooLargeError, match=r"Signed In: message is [\d,]+ bytes"):
            client.track.signed_in(user_id="u", group_id="g", properties={"pad": "x" * 40_000})
        assert client.flush(timeout=5)
        assert client.stats.tracked == 0
    assert transport.batches == []


def test_drop_mode_counts_oversize_and_invalid_without_raising(
    transport: MemoryTransport, drops: Drops, caplog: pytest.LogCaptureFixture
) -> None:
    with client_for(transport, drops, on_invalid="drop") as client:
        big = client.track.signed_in(user_id="u", group_id="g", properties={"pad": "x" * 40_000})
        bad = client.track.signed_up(user_id="u", group_id="", email="nope")
        assert client.flush(timeout=5)
        stats = client.stats
    assert big.user_id == "u"
    assert bad.event == "Signed Up"  # returned unvalidated, never sent
    assert stats.dropped["oversize"] == 1
    assert stats.dropped["invalid"] == 1
    assert [reason for reason, _ in drops] == ["oversize", "invalid"]
    assert drops[1][1][0]["context"]["groupId"] == ""
    assert drops[1][1][0]["timestamp"] == iso_timestamp(bad.timestamp)  # as on the wire: ...Z
    assert "context.groupId: must not be empty" in caplog.text
    assert transport.batches == []


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    return loop


UNSERIALIZABLE = {
    "cyclic": lambda: {"loop": cyclic()},
    "tuple key": lambda: {("a", 1): "x"},
    "100k deep": lambda: {"deep": nested(100_000)},
}


@pytest.mark.parametrize("make", UNSERIALIZABLE.values(), ids=UNSERIALIZABLE.keys())
def test_drop_mode_counts_properties_json_cannot_write_without_raising(
    transport: MemoryTransport, drops: Drops, make: Any
) -> None:
    with client_for(transport, drops, on_invalid="drop") as client:
        client.track.signed_in(user_id="u", group_id="g", properties=make())
        assert client.flush(timeout=5)
        stats = client.stats
    assert stats.dropped["invalid"] == 1
    ((reason, (message,)),) = drops
    assert reason == "invalid"
    assert message["userId"] == "u"
    assert transport.batches == []


def test_drop_mode_keeps_what_it_can_of_a_cyclic_message(
    transport: MemoryTransport, drops: Drops
) -> None:
    with client_for(transport, drops, on_invalid="drop") as client:
        properties: dict[Any, Any] = {"loop": cyclic(), 2: "b"}
        client.track.signed_in(user_id="u", group_id="g", properties=properties)
    (message,) = drops[0][1]
    assert message["properties"]["loop"] == {"name": "loop", "self": "<cycle>"}
    assert message["properties"]["2"] == "b"


@pytest.mark.parametrize("make", UNSERIALIZABLE.values(), ids=UNSERIALIZABLE.keys())
def test_raise_mode_raises_invalid_event_error_for_the_same_properties(
    transport: MemoryTransport, make: Any
) -> None:
    with client_for(transport) as client, pytest.raises(b2b_events.InvalidEventError):
        client.track.signed_in(user_id="u", group_id="g", properties=make())


def test_tracked_counts_every_event_so_drops_never_outnumber_it(
    transport: MemoryTransport,
) -> None:
    client = client_for(transport, on_invalid="drop", max_queue_events=2)
    stall(client, transport)  # one in flight
    track(client, 3)  # two queued, one queue_full
    client.track.signed_in(user_id="u", group_id="")  # invalid
    client.track.signed_in(user_id="u", group_id="g", properties={"pad": "x" * 40_000})
    transport.gate.set()
    assert client.flush(timeout=5)
    client.close()
    track(client, 2)  # closed

    stats = client.stats
    assert stats.tracked == 1 + 3 + 1 + 1 + 2
    assert stats.delivered == 3
    assert {r: n for r, n in stats.dropped.items() if n} == {
        "queue_full": 1,
        "invalid": 1,
        "oversize": 1,
        "closed": 2,
    }
    assert stats.tracked == stats.delivered + stats.dropped_total + stats.pending


def test_a_flush_after_everything_was_refused_is_true_and_stats_say_why() -> None:
    client = client_for(MemoryTransport(status=401))
    track(client, 3)
    assert client.flush(timeout=5) is True  # nothing pending: settled, as refused
    stats = client.stats
    client.close()
    assert (stats.tracked, stats.delivered, stats.dropped["rejected"]) == (3, 0, 3)
    assert stats.last_drop == "rejected: HTTP 401"


def test_raise_mode_raises_invalid_input_and_sends_nothing(transport: MemoryTransport) -> None:
    with client_for(transport) as client:
        with pytest.raises(b2b_events.InvalidEventError, match=r"properties\.email"):
            client.track.signed_up(user_id="u", group_id="g", email="nope")
        assert client.stats.tracked == 0


def test_identify_and_group_are_delivered(transport: MemoryTransport) -> None:
    with client_for(transport) as client:
        client.identify(user_id="u_1", traits={"email": "a@example.com"})
        client.group(user_id="u_1", group_id="acct_1", traits={"name": "Initech"})
        assert client.flush(timeout=5)
    kinds = [m["type"] for batch in transport.batches for m in batch]
    assert kinds == ["identify", "group"]


def test_flush_reports_false_while_a_send_is_stuck(transport: MemoryTransport) -> None:
    with client_for(transport) as client:
        stall(client, transport)
        assert client.flush(timeout=0.1) is False
        transport.gate.set()
        assert client.flush(timeout=5) is True


def test_a_failing_on_drop_hook_is_logged_not_raised(
    transport: MemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(reason: str, messages: list[dict[str, Any]]) -> None:
        raise ValueError("hook broke")

    client = Client(transport=transport, on_drop=hook)
    client.close()
    client.track.signed_in(user_id="u", group_id="g")  # must not raise
    assert "on_drop hook raised" in caplog.text
    assert client.stats.dropped["closed"] == 1


def test_drop_warnings_are_rate_limited(
    transport: MemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="b2b_events")
    client = client_for(transport)
    client.close()
    track(client, 50)
    warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(warnings) == 1
    assert client.stats.dropped["closed"] == 50


# -- the default client ----------------------------------------------------------


@pytest.fixture
def no_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("B2B_EVENTS_WRITE_KEY", raising=False)
    b2b_events.close()
    b2b_events._default._swap_default(None)
    yield
    b2b_events.close()
    b2b_events._default._swap_default(None)


@pytest.mark.usefixtures("no_default")
def test_module_level_track_uses_the_client_from_init(transport: MemoryTransport) -> None:
    client = b2b_events.init(transport=transport)
    assert b2b_events.default_client() is client
    b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
    b2b_events.identify(user_id="u_1", traits={"plan": "pro"})
    b2b_events.group(user_id="u_1", group_id="acct_1")
    assert b2b_events.flush(timeout=5)
    assert [m["type"] for b in transport.batches for m in b] == ["track", "identify", "group"]


@pytest.mark.usefixtures("no_default")
def test_init_again_closes_the_previous_default_client(transport: MemoryTransport) -> None:
    first = b2b_events.init(transport=transport)
    b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
    second = b2b_events.init(transport=MemoryTransport())
    assert first.closed
    assert not second.closed
    assert len(transport.ids()) == 1  # delivered by the close


@pytest.mark.usefixtures("no_default")
def test_module_level_track_without_a_client_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="B2B_EVENTS_WRITE_KEY"):
        b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
    assert b2b_events.flush(timeout=0.1) is True


@pytest.mark.usefixtures("no_default")
def test_default_client_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("B2B_EVENTS_WRITE_KEY", "env-key")
    monkeypatch.setenv("B2B_EVENTS_ENDPOINT", "http://127.0.0.1:9")
    client = b2b_events.default_client()
    assert "http://127.0.0.1:9" in repr(client)
    assert "env-key" not in repr(client)
    assert b2b_events.default_client() is client


@pytest.mark.usefixtures("no_default")
@pytest.mark.parametrize("made_by", ["init", "environment"])
def test_after_close_module_level_track_counts_closed_drops_however_the_client_was_made(
    monkeypatch: pytest.MonkeyPatch, made_by: str
) -> None:
    transport = MemoryTransport()
    if made_by == "init":
        b2b_events.init(transport=transport)
    else:
        monkeypatch.setenv("B2B_EVENTS_WRITE_KEY", "env-key")
        monkeypatch.setattr(b2b_events._client, "_override", transport)  # no HTTP
    b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
    client = b2b_events.default_client()
    b2b_events.close()

    b2b_events.track.signed_in(user_id="u_2", group_id="acct_1")  # neither raises nor sends

    assert b2b_events.default_client() is client
    assert client.closed
    assert client.stats.dropped["closed"] == 1
    assert [m["userId"] for m in transport.batches[0]] == ["u_1"]
    assert b2b_events.flush(timeout=1) is True


@pytest.mark.usefixtures("no_default")
def test_init_after_close_starts_a_new_default_client(transport: MemoryTransport) -> None:
    first = b2b_events.init(transport=MemoryTransport())
    b2b_events.close()
    second = b2b_events.init(transport=transport)
    b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
    assert second is not first
    assert b2b_events.flush(timeout=5)
    assert len(transport.ids()) == 1


@pytest.mark.usefixtures("no_default")
def test_module_level_drop_mode_follows_the_default_client(transport: MemoryTransport) -> None:
    b2b_events.init(transport=transport, on_invalid="drop")
    b2b_events.track.signed_in(user_id="u_1", group_id="")
    assert b2b_events.default_client().stats.dropped["invalid"] == 1


def test_drop_mode_also_covers_arguments_given_twice(
    transport: MemoryTransport, drops: Drops
) -> None:
    with client_for(transport, drops, on_invalid="drop") as client:
        client.track.signed_in(
            user_id="u", group_id="g", username="a", properties={"username": "b"}
        )
        client.track.signed_in(user_id="u", group_id="g", context={"groupId": "other"})
        assert client.flush(timeout=5)
        assert client.stats.dropped["invalid"] == 2
    assert transport.batches == []
    assert [reason for reason, _ in drops] == ["invalid", "invalid"]


@pytest.mark.parametrize(
    ("max_batch_bytes", "sizes"),
    [
        pytest.param(32, [3, 1], id="three fit exactly: 10+1+10+1+10 bytes"),
        pytest.param(31, [2, 2], id="one byte short for the third"),
        pytest.param(5, [1, 1, 1, 1], id="a message over the budget still goes alone"),
    ],
)
def test_a_batch_fills_the_byte_budget_commas_included(
    transport: MemoryTransport, max_batch_bytes: int, sizes: list[int]
) -> None:
    options = EngineOptions(max_batch_bytes=max_batch_bytes, flush_interval=60)
    engine = ThreadWorker(transport, Accounting(), options, batch_overhead=0)
    messages = [b'"message%d"' % i for i in range(4)]  # 10 bytes each
    for message in messages:
        engine.submit(message)
    engine.close(5)

    assert [len(batch) for batch in transport.batches] == sizes
    sent: list[Any] = [m for batch in transport.batches for m in batch]  # JSON strings here
    assert sent == [f"message{i}" for i in range(4)]
