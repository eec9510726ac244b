"""Event logs on disk: ``EventLogWriter``, ``EventLogTransport`` and ``Client(record=...)``."""

from __future__ import annotations

import asyncio
import errno
import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import b2b_events._logs.writer as eventlog
from b2b_events import (
    AsyncClient,
    Client,
    ConfigurationError,
    EventLogTransport,
    InvalidEventError,
    Response,
    read_event_log,
)
from b2b_events._logs.writer import EventLogWriter


def message(i: int) -> bytes:
    return json.dumps(
        {"type": "track", "event": "Signed In", "userId": f"u{i}", "messageId": f"m{i}"},
        separators=(",", ":"),
    ).encode()


def ids(*paths: str | Path) -> list[str]:
    return [line.message["messageId"] for line in read_event_log(*paths) if line.message]


class Sent:
    """A transport that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def send(self, messages: Sequence[bytes]) -> Response:
        self.messages.extend(messages)
        return Response(200)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_each_message_is_one_line_plain_or_gzip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with EventLogWriter(path) as writer:
        writer.write(message(0))
        writer.write_many([message(1), message(2)])

    assert ids(path) == ["m0", "m1", "m2"]
    raw = path.read_bytes()
    text = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert text == b"".join(message(i) + b"\n" for i in range(3))


def test_writers_in_many_threads_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    writer = EventLogWriter(path)

    def write(start: int) -> None:
        for i in range(start, start + 500):
            writer.write(message(i))

    threads = [threading.Thread(target=write, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()

    lines = list(read_event_log(path))
    assert all(line.error is None for line in lines)
    assert sorted(ids(path)) == sorted(f"m{n * 1000 + i}" for n in range(8) for i in range(500))


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_rotation_keeps_files_under_the_limit_and_names_them_in_order(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"events{suffix}"
    line = len(message(0)) + 1
    with EventLogWriter(path, max_bytes=10 * line) as writer:
        for i in range(35):
            writer.write(message(i))

    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"events.00000{n}{suffix}" for n in (1, 2, 3)] + [f"events{suffix}"]
    for file in tmp_path.iterdir():
        content = (
            gzip.decompress(file.read_bytes()) if suffix.endswith(".gz") else file.read_bytes()
        )
        assert len(content) <= 10 * line
    # Names sort in the order written: the directory reads back as one log.
    assert ids(tmp_path) == [f"m{i}" for i in range(35)]


def test_a_line_larger_than_the_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLogWriter(path, max_bytes=10) as writer:
        writer.write_many([message(0), message(1)])

    assert ids(tmp_path / "events.000001.jsonl") == ["m0"]
    assert ids(path) == ["m1"]


def test_an_existing_log_is_moved_aside_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    with EventLogWriter(path) as first:
        first.write(message(1))
    (tmp_path / "events.000004.jsonl.gz").write_bytes(gzip.compress(message(0) + b"\n"))
    with EventLogWriter(path) as second:
        second.write(message(2))

    assert ids(tmp_path / "events.000005.jsonl.gz") == ["m1"]
    assert ids(path) == ["m2"]
    # An empty file is reused rather than moved aside.
    with EventLogWriter(tmp_path / "empty.jsonl"):
        pass
    with EventLogWriter(tmp_path / "empty.jsonl"):
        pass
    assert sorted(p.name for p in tmp_path.glob("empty*")) == ["empty.jsonl"]


def test_a_gzip_log_is_readable_up_to_the_last_flush_before_close(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    writer = EventLogWriter(path)
    writer.write_many([message(0), message(1)])
    writer.flush()

    lines = list(read_event_log(path))  # the gzip trailer is not written yet
    assert [line.message["messageId"] for line in lines[:2] if line.message] == ["m0", "m1"]
    assert lines[2].error is not None
    assert "truncated" in lines[2].error
    writer.close()
    writer.close()  # idempotent
    writer.write(message(3))  # after close: ignored
    assert ids(path) == ["m0", "m1"]


def test_lines_are_written_out_after_a_second_without_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eventlog, "_FLUSH_EVERY", 0.0)
    path = tmp_path / "events.jsonl"
    with EventLogWriter(path) as writer:
        writer.write(message(0))
        assert path.read_bytes() == message(0) + b"\n"


@pytest.mark.parametrize(
    ("path", "options", "match"),
    [
        ("events.json", {}, "ends in .jsonl or .jsonl.gz"),
        (".jsonl", {}, "ends in .jsonl or .jsonl.gz"),
        ("events.jsonl", {"max_bytes": 0}, "max_bytes must be >= 1"),
        ("missing/events.jsonl", {}, "cannot write the event log"),
    ],
)
def test_bad_paths_and_options_are_configuration_errors(
    tmp_path: Path, path: str, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        EventLogWriter(tmp_path / path, **options)


def test_a_failed_write_raises_or_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    strict = EventLogWriter(tmp_path / "strict.jsonl")
    lenient = EventLogWriter(tmp_path / "lenient.jsonl", log_errors=True)
    monkeypatch.setattr(os, "write", disk_full)
    strict.write(message(0))  # buffered: nothing written yet
    with pytest.raises(OSError, match="No space"):
        strict.flush()
    with caplog.at_level(logging.ERROR, logger="b2b_events.eventlog"):
        lenient.write(message(0))
        lenient.flush()
        lenient.write(message(1))
        lenient.flush()
        lenient.close()
    assert len(caplog.records) == 1
    assert "no longer recorded" in caplog.records[0].getMessage()
    monkeypatch.undo()
    strict.close()


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_a_write_that_fails_halfway_loses_and_tears_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A disk full for a moment: what the write did not take is written later, in order."""
    real_write = os.write
    failures = [2]

    def flaky(fd: int, data: Any) -> int:
        if failures[0]:
            failures[0] -= 1
            if failures[0]:  # the first call takes half, the second fails outright
                return real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    path = tmp_path / name
    writer = EventLogWriter(path)
    for i in range(20):
        writer.write(message(i))
    monkeypatch.setattr(os, "write", flaky)
    with pytest.raises(OSError, match="No space"):
        writer.flush()
    monkeypatch.undo()
    writer.write(message(20))
    writer.close()

    assert ids(path) == [f"m{i}" for i in range(21)]
    assert all(line.error is None for line in read_event_log(path))


def test_a_rotation_whose_gzip_trailer_fails_to_write_leaves_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = [0]

    def trailer_fails(fd: int, data: Any) -> int:
        calls[0] += 1
        if calls[0] == 2:  # the rotation's second write: the old file's gzip trailer
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    def line(i: int, pad: int) -> bytes:
        return json.dumps({"messageId": f"m{i}", "pad": "x" * pad}).encode()

    path = tmp_path / "events.jsonl.gz"
    writer = EventLogWriter(path, max_bytes=250)
    writer.write(line(0, 80))
    writer.write(line(1, 80))
    monkeypatch.setattr(os, "write", trailer_fails)
    with pytest.raises(OSError, match="No space"):
        writer.write(line(2, 80))  # does not fit: rotation, whose trailer write fails
    monkeypatch.undo()
    writer.write(json.dumps({"messageId": "m3"}).encode())  # fits in the finished file: no
    writer.close()

    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["events.000001.jsonl.gz", "events.jsonl.gz"]
    assert ids(*files) == ["m0", "m1", "m3"]  # m2 raised: not written (the caller knows)
    assert all(line.error is None for line in read_event_log(*files))


def test_events_sent_to_an_event_log_at_exit_are_written(tmp_path: Path) -> None:
    """The exit handler that closes the logs runs after the one that delivers the events."""
    path = tmp_path / "events.jsonl.gz"
    script = (
        "import sys\n"
        "import b2b_events\n"
        "client = b2b_events.Client(transport=b2b_events.EventLogTransport(sys.argv[1]),"
        " flush_interval=60)\n"
        "for i in range(3):\n"
        "    client.track.signed_in(user_id=f'u{i}', group_id='acct_1')\n"
    )
    command = [sys.executable, "-c", script, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(ids(path)) == 3


def test_a_relative_path_survives_a_change_of_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "logs")
    writer = EventLogWriter("events.jsonl", max_bytes=100)  # one line per file
    writer.write(message(0))
    monkeypatch.chdir(tmp_path / "elsewhere")
    writer.write(message(1))  # rotates: renames and opens in logs/, not here
    writer.close()

    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "events.000001.jsonl",
        "events.jsonl",
    ]
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_forked_child_writes_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventLogWriter(path)
    writer.write(message(0))  # buffered in the parent when it forks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child
        try:
            writer.write(message(1))
            writer.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    writer.write(message(2))
    writer.close()

    assert ids(path) == ["m0", "m2"]
    assert ids(tmp_path / f"events-{pid}.jsonl") == ["m1"]


def test_event_log_transport_records_instead_of_sending(tmp_path: Path) -> None:
    transport = EventLogTransport(tmp_path / "only.jsonl.gz")
    assert transport.path == tmp_path / "only.jsonl.gz"
    assert "only.jsonl.gz" in repr(transport)
    with Client(transport=transport) as client:  # no write key needed
        client.track.signed_in(user_id="u_1", group_id="acct_1")
        client.track.signed_out(user_id="u_1", group_id="acct_1")
        assert client.flush(timeout=5)
        assert client.stats.delivered == 2

    assert [line.message["event"] for line in read_event_log(transport.path) if line.message] == [
        "Signed In",
        "Signed Out",
    ]


def test_event_log_transport_answers_status_0_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = EventLogTransport(tmp_path / "only.jsonl")

    def broken(messages: Sequence[bytes]) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(transport._writer, "write_many", broken)
    response = transport.send([message(0)])
    assert response.status == 0
    assert "I/O error" in response.detail
    monkeypatch.undo()
    transport.close()
    closed = transport.send([message(1)])  # never a 200 for lines that were not written
    assert closed.status == 0
    assert "is closed" in closed.detail


def test_client_records_every_accepted_event_as_sent(tmp_path: Path) -> None:
    sent = Sent()
    path = tmp_path / "record.jsonl.gz"
    with Client(transport=sent, sync=True, record=path) as client:
        client.track.account_created(user_id="u_1", group_id="acct_1", account_name="Initech")
        client.identify(user_id="u_1", traits={"name": "Peter"})
        with pytest.raises(InvalidEventError):
            client.track.signed_in(user_id="u_1", group_id="")  # invalid: not recorded
        assert client.flush(timeout=5)
    assert client.closed

    recorded = [line.message for line in read_event_log(path)]
    assert recorded == [json.loads(data) for data in sent.messages]
    assert [m["type"] for m in recorded if m] == ["track", "identify"]


def test_client_records_events_that_are_then_dropped(tmp_path: Path) -> None:
    path = tmp_path / "record.jsonl"
    client = Client(transport=Sent(), record=path)
    client.close()
    client.track.signed_in(user_id="u_1", group_id="acct_1")  # dropped as "closed"
    assert client.stats.dropped["closed"] == 1
    assert ids(path) == []  # the log closed with the client

    full = Client(transport=Sent(), record=tmp_path / "full.jsonl", max_queue_events=1)
    full.track.signed_in(user_id="u_1", group_id="acct_1")
    full.track.signed_in(user_id="u_2", group_id="acct_1")  # queue full: dropped, recorded
    full.close()
    assert full.stats.dropped["queue_full"] == 1
    assert len(ids(tmp_path / "full.jsonl")) == 2


def test_client_record_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ends in \.jsonl"):
        Client(transport=Sent(), record=tmp_path / "events.txt")
    with pytest.raises(ConfigurationError, match="record_max_bytes applies only with record"):
        Client(transport=Sent(), record_max_bytes=1_000)
    with pytest.raises(ConfigurationError, match="record_max_bytes must be >= 1"):
        Client(transport=Sent(), record=tmp_path / "e.jsonl", record_max_bytes=0)
    with pytest.raises(ConfigurationError, match="cannot write the event log"):
        Client(transport=Sent(), record=tmp_path / "missing" / "e.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_client_record_rotates(tmp_path: Path) -> None:
    with Client(
        transport=Sent(), sync=True, record=tmp_path / "r.jsonl", record_max_bytes=1_000
    ) as client:
        for i in range(20):
            client.track.signed_in(user_id=f"u_{i}", group_id="acct_1")
    assert len(list(tmp_path.iterdir())) > 2
    assert [m["userId"] for m in (line.message for line in read_event_log(tmp_path)) if m] == [
        f"u_{i}" for i in range(20)
    ]


def test_open_logs_are_finished_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    writer = EventLogWriter(path)
    writer.write(message(0))
    eventlog.close_open_writers()  # what the exit handler runs, after the engines
    assert ids(path) == ["m0"]
    assert writer not in eventlog._open_writers


def test_async_client_records_and_closes_its_log(tmp_path: Path) -> None:
    class AsyncSent:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def send(self, messages: Sequence[bytes]) -> Response:
            self.messages.extend(messages)
            return Response(200)

        async def aclose(self) -> None:
            pass

    path = tmp_path / "record.jsonl.gz"
    transport = AsyncSent()

    async def main() -> None:
        async with AsyncClient(transport=transport, record=path) as client:
            client.track.signed_in(user_id="u_1", group_id="acct_1")
            assert await client.flush(timeout=5)

    asyncio.run(main())

    assert [line.message for line in read_event_log(path)] == [
        json.loads(data) for data in transport.messages
    ]
