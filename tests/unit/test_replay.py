"""``replay()`` through a scripted transport: what is sent, in what order, and resuming."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from b2b_events import ConfigurationError, ReplayReport, Response, replay
from b2b_events._delivery.wire import MAX_DEPTH
from b2b_events._logs import replay as _replay
from b2b_events._logs.replay import SERVER_SET_FIELDS, prepare_for_replay

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def archived(i: int, event: str = "Signed In", **extra: Any) -> dict[str, Any]:
    """A message as Segment's archives hold it: server-set fields included."""
    stamp = (T0 + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
    return {
        "type": "track",
        "event": event,
        "userId": f"u{i}",
        "messageId": f"m{i}",
        "timestamp": stamp,
        "originalTimestamp": stamp,
        "receivedAt": stamp,
        "sentAt": stamp,
        "version": 2,
        "projectId": "src1",
        "context": {"groupId": "acct_1"},
        **extra,
    }


def write_log(path: Path, messages: Sequence[dict[str, Any] | str]) -> Path:
    text = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


class Scripted:
    """A transport answering from a script (default 200), keeping every delivered batch."""

    def __init__(self, answer: Callable[[list[dict[str, Any]]], Response] | None = None) -> None:
        self.answer = answer or (lambda batch: Response(200))
        self.attempts: list[list[dict[str, Any]]] = []
        self.delivered: list[dict[str, Any]] = []
        self.closed = False

    def send(self, messages: Sequence[bytes]) -> Response:
        batch = [json.loads(m) for m in messages]
        self.attempts.append(batch)
        response = self.answer(batch)
        if response.ok:
            self.delivered.extend(batch)
        return response

    def close(self) -> None:
        self.closed = True

    def ids(self) -> list[str]:
        return [m["messageId"] for m in self.delivered]


FAST: dict[str, Any] = {"retry_backoff": 0.001, "max_retry_after": 0.01}


# -- preparing a message ------------------------------------------------------


def test_server_set_fields_are_dropped_and_id_and_timestamp_kept() -> None:
    message = prepare_for_replay(archived(1, writeKey="secret"))

    assert not set(SERVER_SET_FIELDS) & set(message)
    assert message["messageId"] == "m1"
    assert message["timestamp"] == "2026-11-22T10:01:00Z"


def test_a_missing_timestamp_comes_from_original_timestamp_then_received_at() -> None:
    message = archived(1)
    del message["timestamp"]
    message["originalTimestamp"] = "2026-11-22T09:00:00.000Z"
    assert prepare_for_replay(message)["timestamp"] == "2026-11-22T09:00:00.000Z"

    message = archived(1)
    del message["timestamp"], message["originalTimestamp"]
    message["receivedAt"] = "2026-11-22T08:00:00.000Z"
    assert prepare_for_replay(message)["timestamp"] == "2026-11-22T08:00:00.000Z"

    message = {"type": "identify", "userId": "u"}
    assert "timestamp" not in prepare_for_replay(message)


def test_a_missing_message_id_is_derived_from_the_content_the_same_every_time() -> None:
    first, again, other = archived(1), archived(1), archived(2)
    for message in (first, again, other):
        del message["messageId"]

    ids = [prepare_for_replay(m)["messageId"] for m in (first, again, other)]

    assert ids[0] == ids[1] != ids[2]
    assert len(ids[0]) == 36


def test_integrations_are_replaced() -> None:
    message = prepare_for_replay(
        archived(1, integrations={"All": True}), {"All": False, "Mixpanel": True}
    )
    assert message["integrations"] == {"All": False, "Mixpanel": True}


# -- replaying ----------------------------------------------------------------


def test_valid_lines_are_sent_in_order_invalid_ones_reported_never_sent(tmp_path: Path) -> None:
    missing_group = archived(3)
    missing_group["context"] = {}
    wrong_type = archived(4, properties={"username": 42})
    log = write_log(
        tmp_path / "events.jsonl.gz",
        [archived(1), "{not json", archived(2), missing_group, "", wrong_type, archived(5)],
    )
    transport = Scripted()

    report = replay(log, transport=transport)

    assert transport.ids() == ["m1", "m2", "m5"]
    assert transport.closed is False  # given to replay: yours to close
    assert (report.lines, report.invalid, report.selected, report.delivered) == (6, 3, 3, 3)
    assert report.errors == (
        f"{log}:2: not valid JSON: key must be a string (column 2)",
        f"{log}:4: Signed In: context.groupId: required",
        f"{log}:6: Signed In: properties.username: must be a string",
    )
    assert not report.ok
    assert all("receivedAt" not in m and "sentAt" not in m for m in transport.delivered)


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("integrations", [None, {"All": True}])
def test_replay_keeps_the_nesting_limit_whatever_the_text(
    tmp_path: Path, integrations: dict[str, Any] | None
) -> None:
    # The message is level 1, properties level 2, "deep" level 3.
    at_limit = archived(1, properties={"deep": _nested(MAX_DEPTH - 2)})
    over = archived(2, properties={"deep": _nested(MAX_DEPTH - 1)})
    log = write_log(tmp_path / "events.jsonl", [archived(0), at_limit, over])
    transport = Scripted()

    report = replay(log, transport=transport, integrations=integrations)

    assert transport.ids() == ["m0", "m1"]
    (error,) = report.errors
    assert error.startswith(f"{log}:3: Signed In: properties.deep.a.a")
    assert error.endswith(f"nested too deeply (over {MAX_DEPTH} levels)")


def test_an_all_valid_replay_is_ok_and_counts_every_line(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(10)])

    report = replay(log, transport=Scripted())

    assert report.ok
    assert report == ReplayReport(
        lines=10,
        selected=10,
        delivered=10,
        delivered_now=10,
        files=1,
        position=10,
        elapsed=report.elapsed,
    )


def test_filters_by_event_and_time(tmp_path: Path) -> None:
    messages = [archived(i, "Signed Up" if i % 2 else "Signed In") for i in range(10)]
    messages.append({"type": "identify", "userId": "u", "messageId": "id1", "timestamp": "x"})
    log = write_log(tmp_path / "events.jsonl", messages)
    transport = Scripted()

    report = replay(
        log,
        transport=transport,
        events=["Signed Up", "identify"],
        since=T0 + timedelta(minutes=2),
        until=T0 + timedelta(minutes=7),
    )

    assert transport.ids() == ["m3", "m5"]
    assert (report.filtered, report.invalid, report.selected) == (8, 1, 2)

    one = replay(log, transport=Scripted(), events="Signed In")  # a single name
    assert one.selected == 5


def test_a_dry_run_sends_nothing_and_needs_no_key(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(4)])
    checkpoint = tmp_path / "replay.ckpt"

    report = replay(log, dry_run=True, checkpoint=checkpoint)

    assert report.dry_run
    assert report.ok
    assert (report.selected, report.delivered, report.undelivered) == (4, 0, 0)
    assert not checkpoint.exists()


def test_batches_stay_within_the_count_and_byte_limits(tmp_path: Path) -> None:
    big = "x" * 30_000  # each message just under Segment's 32 KB
    log = write_log(
        tmp_path / "events.jsonl",
        [archived(i, properties={"blob": big}) for i in range(40)]
        + [archived(i) for i in range(40, 47)],
    )
    transport = Scripted()

    replay(log, transport=transport, max_batch_events=5)

    sizes = [len(batch) for batch in transport.attempts]
    assert sum(sizes) == 47
    assert max(sizes) <= 5
    assert all(sum(len(json.dumps(m)) for m in batch) < 475_000 for batch in transport.attempts)

    transport = Scripted()
    replay(log, transport=transport)
    assert [len(batch) for batch in transport.attempts] == [15, 15, 17]


def test_an_oversized_message_is_invalid(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(0, properties={"blob": "x" * 40_000})])

    report = replay(log, transport=Scripted())

    assert report.invalid == 1
    assert "over the 32,768 limit" in report.errors[0]


def test_a_message_refused_alone_is_rejected_and_the_rest_delivered(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(8)])

    def refuse_m5(batch: list[dict[str, Any]]) -> Response:
        if any(m["messageId"] == "m5" for m in batch):
            return Response(400, detail="bad message")
        return Response(200)

    transport = Scripted(refuse_m5)
    problems: list[str] = []

    report = replay(log, transport=transport, on_problem=problems.append)

    assert sorted(transport.ids()) == [f"m{i}" for i in range(8) if i != 5]
    assert (report.delivered, report.rejected, report.undelivered) == (7, 1, 1)
    assert problems == [f"{log}:6: Signed In: refused by the endpoint (HTTP 400: bad message)"]
    assert not report.ok


def test_retryable_failures_are_retried_with_the_same_message_ids(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(3)])
    answers = iter([Response(503), Response(429, retry_after=0.001), Response(0, detail="reset")])
    transport = Scripted(lambda batch: next(answers, Response(200)))

    report = replay(log, transport=transport, **FAST)

    assert report.ok
    assert report.retries == 3
    assert [[m["messageId"] for m in batch] for batch in transport.attempts] == [
        ["m0", "m1", "m2"]
    ] * 4


def test_each_retry_is_told_with_its_attempt_reason_and_wait(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(4)])
    answers = iter([Response(503), Response(429, retry_after=0.004), Response(200)] * 2)
    told: list[tuple[int, str, float]] = []

    report = replay(
        log,
        transport=Scripted(lambda batch: next(answers)),
        max_batch_events=2,
        on_retry=lambda *retry: told.append(retry),
        retry_backoff=0.001,
    )

    assert report.ok
    assert [(attempt, reason) for attempt, reason, _ in told] == [
        (1, "HTTP 503"),
        (2, "HTTP 429"),
        (1, "HTTP 503"),  # a new request counts from 1 again
        (2, "HTTP 429"),
    ]
    assert [wait for _, _, wait in told][1::2] == [0.004, 0.004]  # Retry-After


def test_a_transport_that_raises_is_retried_as_a_failure(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(0)])
    calls = iter([True])

    def flaky(batch: list[dict[str, Any]]) -> Response:
        if next(calls, False):
            raise RuntimeError("broken transport")
        return Response(200)

    report = replay(log, transport=Scripted(flaky), **FAST)

    assert report.ok
    assert report.retries == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (503, "the endpoint kept failing (HTTP 503)"),
        (401, "the endpoint answered HTTP 401: check the endpoint and the write key"),
        (422, "the endpoint refused a batch (HTTP 422)"),
    ],
)
def test_the_replay_stops_where_the_endpoint_fails_and_resumes_there(
    tmp_path: Path, status: int, reason: str
) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(10)])
    checkpoint = tmp_path / "replay.ckpt"
    failing = Scripted(lambda batch: Response(status if batch[0]["messageId"] == "m4" else 200))

    report = replay(
        log, transport=failing, checkpoint=checkpoint, max_batch_events=2, max_retries=1, **FAST
    )

    assert report.stopped == reason
    assert failing.ids() == ["m0", "m1", "m2", "m3"]
    assert report.undelivered >= 2  # what was read ahead; the rest was not read
    assert report.resume_from == f"{log}:5"
    assert not report.ok

    healthy = Scripted()
    resumed = replay(log, transport=healthy, checkpoint=checkpoint, max_batch_events=2)

    assert healthy.ids() == [f"m{i}" for i in range(4, 10)]
    assert resumed.ok
    assert (resumed.lines, resumed.delivered, resumed.delivered_now) == (10, 10, 6)
    assert resumed.resumed_lines == 4


def test_a_stop_keeps_what_was_acknowledged_and_a_rerun_sends_the_rest(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "a.jsonl", [archived(i) for i in range(30)])
    write_log(logs / "b.jsonl.gz", [archived(i) for i in range(30, 60)])
    checkpoint = tmp_path / "replay.ckpt"
    stop = threading.Event()
    transport = Scripted()
    progress: list[ReplayReport] = []

    def after_batch(report: ReplayReport) -> None:
        progress.append(report)
        if report.delivered >= 20:
            stop.set()

    first = replay(
        logs,
        transport=transport,
        checkpoint=checkpoint,
        max_batch_events=10,
        stop=stop,
        on_progress=after_batch,
    )

    assert first.interrupted
    assert not first.ok
    assert 20 <= first.delivered < 60
    assert [r.position for r in progress][:2] == [10, 20]
    again = replay(logs, transport=transport, checkpoint=checkpoint, max_batch_events=10)

    assert again.ok
    assert sorted(transport.ids(), key=lambda i: int(i[1:])) == [f"m{i}" for i in range(60)]
    assert again.files == 2 if first.delivered < 30 else again.files == 1
    finished = replay(logs, transport=transport, checkpoint=checkpoint)  # nothing left to do
    assert finished.ok
    assert finished.files == 0
    assert len(transport.ids()) == 60


def test_ctrl_c_saves_the_checkpoint_then_propagates(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(10)] + ["{bad"])
    checkpoint = tmp_path / "replay.ckpt"
    transport = Scripted()

    def interrupt(text: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(
            log,
            transport=transport,
            checkpoint=checkpoint,
            max_batch_events=4,
            on_problem=interrupt,
        )

    saved = json.loads(checkpoint.read_text())
    assert saved["line"] == len(transport.ids())
    replay(log, transport=transport, checkpoint=checkpoint, max_batch_events=4)
    assert transport.ids() == [f"m{i}" for i in range(10)]


def test_a_checkpoint_is_for_the_same_replay_only(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(0)])
    checkpoint = tmp_path / "replay.ckpt"
    replay(log, transport=Scripted(), checkpoint=checkpoint)

    with pytest.raises(ConfigurationError, match="other inputs, endpoint, filters"):
        replay(log, transport=Scripted(), checkpoint=checkpoint, events=["Signed Up"])


def test_a_checkpoint_that_cannot_be_written_stops_the_replay_before_it_sends(
    tmp_path: Path,
) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(3)])
    transport = Scripted()

    with pytest.raises(ConfigurationError, match="cannot write the checkpoint"):
        replay(log, transport=transport, checkpoint=tmp_path / "missing" / "replay.ckpt")
    assert transport.attempts == []  # nothing sent that a rerun could not know about


class FakeClock:
    """Time that passes only when the replay waits: pacing checked exactly, not timed."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.releases: list[float] = []  # the time after each wait

    def __call__(self) -> float:
        return self.now


class WaitOnClock(threading.Event):
    """A stop event whose waits move the fake clock on instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None and not self.is_set():
            self.clock.now += timeout
            self.clock.releases.append(self.clock.now)
        return self.is_set()


def test_the_rate_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_replay, "_monotonic", clock)
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(60)])
    transport = Scripted()
    start = clock.now

    report = replay(log, transport=transport, rate=200, stop=WaitOnClock(clock))

    assert report.ok
    assert len(transport.ids()) == 60
    # Batches of 0.1 s of events (20), each released when its last event's turn
    # comes: never ahead of 200/s, and not later either.
    assert [round(t - start, 9) for t in clock.releases] == [0.1, 0.2, 0.3]
    assert [len(batch) for batch in transport.attempts] == [20, 20, 20]
    assert report.elapsed == pytest.approx(60 / 200)


def test_a_nan_in_an_archived_line_is_invalid_and_never_sent(tmp_path: Path) -> None:
    # json.dumps writes NaN and Infinity; JSON has neither, and re-sent they would become
    # null. In a server-set field, dropped before checking, it does not matter.
    log = write_log(
        tmp_path / "events.jsonl",
        [archived(0), archived(1, properties={"x": float("nan")}), archived(2, sentAt=1e400)],
    )
    transport = Scripted()

    report = replay(log, transport=transport)

    assert transport.ids() == ["m0", "m2"]
    assert (report.invalid, report.delivered) == (1, 2)
    assert report.errors == (
        f"{log}:2: Signed In: properties.x: must be a finite number (JSON has no NaN or Infinity)",
    )


def test_a_file_that_breaks_before_the_checkpoint_is_reported_on_resume(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(i) for i in range(10)])
    checkpoint = tmp_path / "replay.ckpt"
    failing = Scripted(lambda batch: Response(503 if batch[0]["messageId"] == "m4" else 200))
    first = replay(
        log, transport=failing, checkpoint=checkpoint, max_batch_events=2, max_retries=0, **FAST
    )
    assert first.resume_from == f"{log}:5"
    # Meanwhile the file was replaced by a gzip stream cut before line 5.
    data = gzip.compress(b"".join(json.dumps(archived(i)).encode() + b"\n" for i in range(10)))
    log.write_bytes(data[:20])

    again = replay(log, transport=Scripted(), checkpoint=checkpoint, max_batch_events=2)

    assert not again.ok
    assert again.invalid == 1
    assert again.errors == (f"{log}:1: gzip stream truncated: the file ends in the middle",)


def test_what_is_not_a_regular_file_in_a_directory_is_skipped_and_in_the_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "a.jsonl", [archived(0)])
    listening = socket.socket(socket.AF_UNIX)  # opening a socket file fails at once
    listening.bind(str(logs / "b.jsonl"))
    transport = Scripted()
    try:
        report = replay(logs, transport=transport)
    finally:
        listening.close()

    assert report.ok
    assert transport.ids() == ["m0"]
    assert report.skipped == (f"{logs / 'b.jsonl'}: a socket, not a regular file",)
    assert report.invalid == 0
    assert caplog.records == []  # in the report, not (also) in the log


def test_callbacks_that_raise_are_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(0), "{bad"])

    answers = iter([Response(503)])

    def broken(*values: object) -> None:
        raise ValueError("oops")

    report = replay(
        log,
        transport=Scripted(lambda batch: next(answers, Response(200))),
        on_progress=broken,
        on_problem=broken,
        on_retry=broken,
        **FAST,
    )

    assert report.delivered == 1
    assert [r.getMessage() for r in caplog.records if "callback failed" in r.getMessage()] == [
        "b2b-events: the replay problem callback failed",
        "b2b-events: the replay retry callback failed",
        "b2b-events: the replay progress callback failed",
    ]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"rate": 0}, "rate must be > 0"),
        ({"max_batch_events": 2_501}, "max_batch_events must be 1..2500"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"since": datetime(2026, 1, 1)}, "since must be an aware datetime"),
        ({"since": T0, "until": T0}, "since must be before until"),
        ({"integrations": ["All"]}, "integrations must be a mapping"),
        ({"endpoint": "http://x"}, "endpoint configures the HTTP transport"),
        ({"retry_backoff": 0}, "retry_backoff must be > 0"),
    ],
)
def test_options_that_cannot_work_are_refused(
    tmp_path: Path, options: dict[str, Any], match: str
) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(0)])
    with pytest.raises(ConfigurationError, match=match):
        replay(log, transport=Scripted(), **options)


def test_sending_needs_paths_a_write_key_and_a_good_endpoint(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", [archived(0)])
    with pytest.raises(ConfigurationError, match="at least one path"):
        replay(transport=Scripted())
    with pytest.raises(ConfigurationError, match="needs the write key"):
        replay(log)
    with pytest.raises(ConfigurationError, match="endpoint must be a base http"):
        replay(log, write_key="k", endpoint="ftp://example.com")
    with pytest.raises(FileNotFoundError):
        replay(tmp_path / "missing.jsonl", transport=Scripted())
