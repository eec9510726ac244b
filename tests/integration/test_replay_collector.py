"""``replay()`` into the local collector over HTTP: counts, ids, faults, rate, recording."""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from b2b_events import Client, read_event_log, replay
from b2b_events.collector import running

EXAMPLES = Path(__file__).parents[2] / "examples"
ARCHIVE = EXAMPLES / "segment-logs"
SERVER_SET = {"receivedAt", "sentAt", "originalTimestamp", "version", "projectId"}


def archive_messages() -> list[dict[str, Any]]:
    return [line.message for line in read_event_log(ARCHIVE) if line.message is not None]


def write_log(path: Path, count: int, start: int = 0) -> list[str]:
    lines, ids = [], []
    for i in range(start, start + count):
        ids.append(f"m{i:05d}")
        message = {
            "type": "track",
            "event": "Signed In",
            "userId": f"u{i}",
            "messageId": ids[-1],
            "timestamp": "2026-11-22T10:00:00.000Z",
            "receivedAt": "2026-11-22T10:00:01.000Z",
            "context": {"groupId": "acct_1"},
        }
        lines.append(json.dumps(message))
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return ids


def test_the_sample_archive_replays_into_the_collector() -> None:
    archived = archive_messages()
    with running(write_key="key") as collector:
        report = replay(
            ARCHIVE,
            endpoint=collector.url,
            write_key="key",
            integrations={"All": False, "Mixpanel": True},
        )
        stored = collector.messages()

    assert report.ok
    assert report.delivered == report.lines == len(archived) == 168
    assert [s.message["messageId"] for s in stored] == [m["messageId"] for m in archived]
    assert all(s.ok for s in stored)
    for sent, original in zip((s.message for s in stored), archived, strict=True):
        assert not SERVER_SET & set(sent)
        assert sent["timestamp"] == original["timestamp"]
        assert sent["integrations"] == {"All": False, "Mixpanel": True}
        assert {k: v for k, v in sent.items() if k != "integrations"} == {
            k: v for k, v in original.items() if k not in SERVER_SET
        }


def test_the_sample_archive_is_what_its_script_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_segment_logs", EXAMPLES / "make_segment_logs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    written = script.main(tmp_path)

    for path in written:
        committed = ARCHIVE / path.relative_to(tmp_path)
        assert gzip.decompress(committed.read_bytes()) == gzip.decompress(path.read_bytes())
    assert committed.stat().st_size < 50_000


def test_rate_limits_and_server_errors_are_retried_until_delivered(tmp_path: Path) -> None:
    ids = write_log(tmp_path / "events.jsonl.gz", 1_000)
    with running() as collector:
        collector.faults.rate_limit_next(2, retry_after=0.05)
        report = replay(
            tmp_path / "events.jsonl.gz",
            endpoint=collector.url,
            write_key="k",
            max_batch_events=100,
            retry_backoff=0.01,
        )
        collector.faults.fail_next(3, status=503)
        again = replay(
            tmp_path / "events.jsonl.gz",
            endpoint=collector.url,
            write_key="k",
            max_batch_events=250,
            retry_backoff=0.01,
        )
        stored = [s.message["messageId"] for s in collector.messages()]

    assert report.ok
    assert report.retries == 2
    assert again.ok
    assert again.retries == 3
    assert stored == ids + ids  # each replay in order, every message once, same ids


def test_an_endpoint_that_keeps_failing_stops_the_replay_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    ids = write_log(tmp_path / "events.jsonl.gz", 500)
    checkpoint = tmp_path / "replay.ckpt"
    options: dict[str, Any] = {
        "write_key": "k",
        "checkpoint": checkpoint,
        "max_batch_events": 100,
        "retry_backoff": 0.01,
    }
    with running() as collector:
        collector.faults.fail_next(1_000, status=500)
        failed = replay(
            tmp_path / "events.jsonl.gz", endpoint=collector.url, max_retries=2, **options
        )
        collector.faults.clear()
        resumed = replay(tmp_path / "events.jsonl.gz", endpoint=collector.url, **options)
        stored = [s.message["messageId"] for s in collector.messages()]

    assert failed.stopped == (
        "the endpoint kept failing (HTTP 500: "
        '{"code": "injected_fault", "message": "injected fault", "error": "injected fault"})'
    )
    assert failed.delivered == 0
    assert resumed.ok
    assert stored == ids


def test_a_wrong_write_key_stops_at_once(tmp_path: Path) -> None:
    write_log(tmp_path / "events.jsonl.gz", 10)
    with running(write_key="right") as collector:
        report = replay(tmp_path / "events.jsonl.gz", endpoint=collector.url, write_key="wrong")
        assert collector.count() == 0

    assert report.stopped is not None
    assert "HTTP 401" in report.stopped
    assert report.retries == 0


def test_the_rate_is_kept_within_tolerance(tmp_path: Path) -> None:
    write_log(tmp_path / "events.jsonl.gz", 150)
    with running() as collector:
        start = time.monotonic()
        report = replay(
            tmp_path / "events.jsonl.gz", endpoint=collector.url, write_key="k", rate=300
        )
        elapsed = time.monotonic() - start
        assert collector.count() == 150

    assert report.ok
    # 150 events at 300/s cannot take less than 0.5 s (the limiter waits for each
    # batch's turn); no upper bound, which a loaded machine could break. The exact
    # pacing is checked against a fake clock in tests/unit/test_replay.py.
    assert elapsed >= 0.5 - 0.01


def test_what_a_client_records_replays_with_the_same_message_ids(tmp_path: Path) -> None:
    log = tmp_path / "record.jsonl.gz"
    with running() as first, running() as second:
        with Client(write_key="k", endpoint=first.url, record=log) as client:
            for i in range(25):
                client.track.signed_in(user_id=f"u{i}", group_id="acct_1")
            client.track.account_created(user_id="u0", group_id="acct_1", account_name="Initech")
        report = replay(log, endpoint=second.url, write_key="k")
        sent = [s.message for s in first.messages()]
        replayed = [s.message for s in second.messages()]

    assert report.ok
    assert report.delivered == 26
    assert replayed == sent
