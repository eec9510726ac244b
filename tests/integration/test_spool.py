"""The durable spool: kill -9, restarts, several processes on one path, corrupt files."""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from forking import a_child_holding_on, in_forked_child
from scripts import run_script
from waiting import wait_for

from b2b_events import AsyncClient, Client, ConfigurationError, Response, Tracker
from b2b_events._delivery.spool import Spool, SpoolError
from b2b_events.collector import Collector, running

TRACKER = """
import sys, time
from b2b_events import Client
url, spool, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = Client(write_key="k", endpoint=url, spool=spool, flush_interval=0.05,
                retry_backoff=0.05, shutdown_timeout=10)
for i in range(count):
    message = client.track.signed_in(user_id=f"{prefix}-{i}", group_id="g")
    sys.stdout.write(message.message_id + "\\n")  # written only once track() returned
    sys.stdout.flush()
    time.sleep(0.001)
"""


def start(url: str, spool: Path, prefix: str, count: int = 10**9) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", TRACKER, url, str(spool), prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Pump(threading.Thread):
    """Collect the ids a tracker prints; ``started`` is set at the first one."""

    def __init__(self, process: subprocess.Popen[str], into: list[str]) -> None:
        super().__init__(daemon=True)
        self.process, self.into, self.tracking = process, into, threading.Event()
        self.start()

    def run(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self.into.append(line.strip())
                self.tracking.set()


def read_ids(process: subprocess.Popen[str], into: list[str]) -> Pump:
    return Pump(process, into)


def finish(process: subprocess.Popen[str], pump: Pump) -> tuple[int, str]:
    """Wait for the process and its output; close its pipes; return (status, stderr)."""
    status = process.wait(timeout=60)
    pump.join(timeout=10)
    assert process.stderr is not None
    err = process.stderr.read()
    process.stderr.close()
    if process.stdout is not None:
        process.stdout.close()
    return status, err


def drain(url: str, spool: Path, write_key: str = "k") -> Client:
    """A later process (here: this one) adopts what is left and delivers it."""
    client = Client(write_key=write_key, endpoint=url, spool=spool, flush_interval=0.05)
    assert client.flush(timeout=30)
    client.close()
    return client


def leave_orphan(base: Path, *messages: bytes) -> None:
    """A spool file as a process that died leaves it: its messages on disk, unlocked."""
    spool = Spool(base)
    for message in messages:
        spool.append(message)
    spool._own.db.close()
    os.close(spool._own.lock)


def received(collector: Collector) -> list[str]:
    return [m.message["messageId"] for m in collector.messages()]


def test_every_returned_track_survives_kill_9_twenty_times(tmp_path: Path) -> None:
    spool = tmp_path / "events.sqlite"
    returned: list[str] = []
    rng = random.Random(20261123)
    with running() as collector:
        for round_ in range(20):
            if round_ % 4 == 1:
                collector.faults.fail_next(3, status=503)  # an outage now and then
            process = start(collector.url, spool, f"r{round_}")
            pump = read_ids(process, returned)
            assert pump.tracking.wait(timeout=30), "the tracker never started"
            time.sleep(rng.uniform(0.0, 0.3))  # kill at a random moment while it tracks
            process.send_signal(signal.SIGKILL)
            finish(process, pump)
        collector.faults.clear()
        drain(collector.url, spool)
        arrived = received(collector)
        ids_by_call: dict[str, set[str]] = {}
        for stored in collector.messages():
            ids_by_call.setdefault(stored.message["userId"], set()).add(stored.message["messageId"])
    assert len(returned) > 200
    assert set(returned) <= set(arrived)  # nothing whose track() returned was lost
    # A call may arrive twice (killed between a 2xx and the delete), never under two ids.
    assert all(len(ids) == 1 for ids in ids_by_call.values())
    assert not list(tmp_path.glob("*.spool"))  # adopted files are removed once delivered
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_processes_sharing_one_path_deliver_everything_once(tmp_path: Path) -> None:
    spool = tmp_path / "events.sqlite"
    with running() as collector:
        ids: list[str] = []
        processes = [start(collector.url, spool, f"p{n}", count=300) for n in range(3)]
        pumps = [read_ids(p, ids) for p in processes]
        for process, pump in zip(processes, pumps, strict=True):
            status, err = finish(process, pump)
            assert status == 0, err
        arrived = received(collector)
    assert len(ids) == 900
    assert sorted(arrived) == sorted(ids)  # no loss, no duplicate
    assert not list(tmp_path.glob("*.spool"))


def test_a_killed_process_s_events_are_adopted_by_a_live_one(tmp_path: Path) -> None:
    spool = tmp_path / "events.sqlite"
    with running() as collector:
        collector.faults.fail_next(10_000, status=503)  # nothing gets through for now
        returned: list[str] = []
        victim = start(collector.url, spool, "victim")
        pump = read_ids(victim, returned)
        assert pump.tracking.wait(timeout=30)
        time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        finish(victim, pump)
        assert len(list(tmp_path.glob("*.spool"))) == 1
        collector.faults.clear()
        client = drain(collector.url, spool)
        arrived = received(collector)
    assert returned
    assert set(returned) <= set(arrived)
    assert client.stats.delivered >= len(returned)


def test_close_keeps_what_it_could_not_deliver_for_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "events.sqlite"
    dead = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=spool, retry_backoff=0.05)
    ids = [dead.track.signed_in(user_id=f"u{i}", group_id="g").message_id for i in range(30)]
    dead.close(timeout=0.2)
    assert dead.stats.dropped_total == 0
    assert dead.stats.pending == 30
    assert "30 event(s) stay in the spool" in caplog.text
    with running() as collector:
        drain(collector.url, spool)
        assert sorted(received(collector)) == sorted(ids)


def test_a_corrupt_spool_file_is_moved_aside_not_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "events.sqlite"
    broken = tmp_path / "events.sqlite.999999.deadbeef.spool"
    broken.write_bytes(b"this is not a database" * 100)
    caplog.set_level(logging.ERROR, logger="b2b_events")
    with running() as collector:
        client = Client(write_key="k", endpoint=collector.url, spool=spool, flush_interval=0.05)
        client.track.signed_in(user_id="u", group_id="g")
        assert client.flush(timeout=10)
        client.close()
        assert len(collector.messages()) == 1
    (aside,) = tmp_path.glob("events.sqlite.999999.deadbeef.spool.corrupt-*")
    assert aside.read_bytes() == b"this is not a database" * 100
    assert not broken.exists()
    assert "unreadable" in caplog.text
    assert "moved aside" in caplog.text


def test_the_spool_is_bounded_with_the_overflow_policies(tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "write_key": "k",
        "endpoint": "http://127.0.0.1:9",
        "max_queue_events": 10,
        "flush_interval": 30,  # nothing is taken for sending: all 15 meet the bound
    }
    newest = Client(spool=tmp_path / "a.sqlite", **options)
    ids = [newest.track.signed_in(user_id=f"u{i}", group_id="g").message_id for i in range(15)]
    assert newest.stats.dropped["queue_full"] == 5
    newest.close(timeout=0)
    oldest = Client(spool=tmp_path / "b.sqlite", overflow="drop_oldest", **options)
    dropped: list[str] = []
    oldest._accounting._on_drop = lambda reason, ms: dropped.extend(m["messageId"] for m in ms)
    ids = [oldest.track.signed_in(user_id=f"u{i}", group_id="g").message_id for i in range(15)]
    assert oldest.stats.dropped["queue_full"] == 5
    assert dropped == ids[:5]
    oldest.close(timeout=0)


def test_a_forked_child_gets_its_own_spool(tmp_path: Path) -> None:
    spool = tmp_path / "events.sqlite"
    with running() as collector:
        client = Client(write_key="k", endpoint=collector.url, spool=spool, flush_interval=30)
        parent_ids = [client.track.signed_in(user_id=f"p{i}", group_id="g").message_id
                      for i in range(5)]  # fmt: skip

        def child() -> dict[str, Any]:
            child_ids = [client.track.signed_in(user_id=f"c{i}", group_id="g").message_id
                         for i in range(5)]  # fmt: skip
            ok = client.flush(timeout=10)
            client.close()
            return {"ok": ok, "ids": child_ids}

        report = in_forked_child(child)
        assert report.get("ok"), report
        assert client.flush(timeout=10)
        client.close()
        arrived = received(collector)
    assert sorted(arrived) == sorted(parent_ids + report["ids"])


def test_spool_option_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not with sync"):
        Client(write_key="k", spool=tmp_path / "x.sqlite", sync=True)
    with pytest.raises(ConfigurationError, match="does not exist"):
        Client(write_key="k", spool=tmp_path / "missing" / "x.sqlite")
    with pytest.raises(ConfigurationError, match="not AsyncClient"):
        AsyncClient(write_key="k", spool=tmp_path / "x.sqlite")


def test_spool_rows_taken_after_it_was_emptied_are_found(tmp_path: Path) -> None:
    """Row ids must not restart once the table is empty, or new rows hide behind old ones."""
    spool = Spool(tmp_path / "events.sqlite")
    spool.append(b'{"n":1}')
    spool.append(b'{"n":2}')
    first = spool.take(10, 10_000)
    spool.delete([ref for ref, _ in first])
    spool.append(b'{"n":3}')
    assert [data for _, data in spool.take(10, 10_000)] == [b'{"n":3}']
    assert len(spool) == 0
    spool.close()


def test_drop_oldest_whose_delete_fails_removes_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "events.sqlite")
    spool.append(b'{"n":1}')
    spool.append(b'{"n":2}')
    spool._own.db.execute("PRAGMA query_only=ON")  # reads work, the DELETE fails
    with pytest.raises(sqlite3.Error):
        spool.pop_oldest()
    assert (len(spool), spool.size) == (2, 14)
    spool._own.db.execute("PRAGMA query_only=OFF")
    assert spool.pop_oldest() == b'{"n":1}'
    assert [data for _, data in spool.take(10, 10_000)] == [b'{"n":2}']
    spool.close()


def test_a_failed_spool_write_is_a_counted_drop_not_an_exception(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=tmp_path / "e.sqlite")
    dropped: list[tuple[str, int]] = []
    client._accounting._on_drop = lambda reason, ms: dropped.append((reason, len(ms)))
    client._worker.queue.buffer.spool._own.db.close()  # type: ignore[attr-defined]  # as if the disk failed
    client.track.signed_in(user_id="u", group_id="g")  # does not raise
    assert client.stats.dropped["spool_error"] == 1
    assert dropped == [("spool_error", 1)]
    assert "cannot write to the spool" in caplog.text
    client.close(timeout=0)


def test_an_outage_longer_than_the_retries_keeps_everything_on_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Retries running out do not delete spooled events: they wait for the endpoint."""
    with running() as collector:
        collector.faults.fail_next(10**6, status=503)
        client = Client(
            write_key="k",
            endpoint=collector.url,
            spool=tmp_path / "e.sqlite",
            flush_interval=0.01,
            max_retry_time=0.2,
            retry_backoff=0.02,
        )
        ids = [client.track.signed_in(user_id=f"u{i}", group_id="g").message_id
               for i in range(20)]  # fmt: skip
        deadline = time.monotonic() + 30
        while "kept in the spool after" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "kept in the spool after" in caplog.text  # the retries did run out
        assert client.stats.dropped_total == 0
        assert client.stats.pending == 20
        collector.faults.clear()
        assert client.flush(timeout=30)  # wakes the worker's pause
        client.close()
        assert sorted(received(collector)) == sorted(ids)


def test_tracking_during_an_outage_does_not_cut_the_rest_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch runs out of retries the worker rests; new events must not wake it."""
    monkeypatch.setattr("b2b_events._delivery.queue.RETRY_PAUSE", 60.0)  # slow box
    sends: list[int] = []

    class Down:
        def send(self, messages: Sequence[bytes]) -> Response:
            sends.append(len(messages))
            return Response(503)

        def close(self) -> None:
            pass

    client = Client(
        transport=Down(),
        spool=tmp_path / "e.sqlite",
        max_batch_events=10,
        max_retries=0,
        flush_interval=60,  # only the count cuts a batch, however slow the calls
    )
    for i in range(20):  # two batches' worth: every call from now on finds a batch due
        client.track.signed_in(user_id=f"u{i}", group_id="g")
    wait_for(lambda: sends, 10)
    for i in range(50):  # the application goes on, well within the rest
        client.track.signed_in(user_id=f"v{i}", group_id="g")
        time.sleep(0.01)
    assert sends == [10]  # one try, then the rest; not one try per track()
    assert client.stats.dropped_total == 0
    client.close(timeout=0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_transport_that_kills_every_worker_does_not_spin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch goes back to disk; its next worker rests first, as after an outage."""
    monkeypatch.setattr("b2b_events._delivery.queue.RETRY_PAUSE", 60.0)  # slow box
    sends: list[int] = []

    class Stop(BaseException):  # as gevent's Timeout
        pass

    class Killing:
        def send(self, messages: Sequence[bytes]) -> Response:
            sends.append(len(messages))
            raise Stop

        def close(self) -> None:
            pass

    client = Client(transport=Killing(), spool=tmp_path / "e.sqlite", flush_interval=0.01)
    for i in range(20):
        client.track.signed_in(user_id=f"u{i}", group_id="g")
    wait_for(lambda: sends, 10)
    time.sleep(1.0)  # well within the rest
    assert len(sends) == 1  # not one worker, and one traceback, after another
    assert client.stats.dropped_total == 0
    assert client.stats.pending == 20
    client.close(timeout=0)


def test_adopted_events_survive_a_close_that_runs_out_of_time(tmp_path: Path) -> None:
    spool = tmp_path / "events.sqlite"
    first = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=spool, flush_interval=60)
    ids = [first.track.signed_in(user_id=f"u{i}", group_id="g").message_id for i in range(5)]
    first.close(timeout=0)
    second = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=spool, retry_backoff=0.05)
    assert second.stats.pending == 5  # adopted
    assert second.stats.tracked == 5
    second.close(timeout=0.2)  # the endpoint is still down
    assert second.stats.dropped_total == 0
    assert second.flush(timeout=0)  # nothing left to wait for: handed over, not pending here
    with running() as collector:
        drain(collector.url, spool)
        assert sorted(received(collector)) == sorted(ids)
    assert not list(tmp_path.glob("*.spool"))


def test_drop_oldest_survives_a_failing_spool(tmp_path: Path) -> None:
    client = Client(
        write_key="k",
        endpoint="http://127.0.0.1:9",
        spool=tmp_path / "e.sqlite",
        max_queue_events=3,
        overflow="drop_oldest",
        flush_interval=60,
    )
    for i in range(3):
        client.track.signed_in(user_id=f"u{i}", group_id="g")
    client._worker.queue.buffer.spool._own.db.close()  # type: ignore[attr-defined]  # the disk failed
    client.track.signed_in(user_id="late", group_id="g")  # does not raise
    assert client.stats.dropped["queue_full"] == 1
    client.close(timeout=0)


def test_no_other_process_can_take_the_files_while_fork_hooks_run(tmp_path: Path) -> None:
    """The SQLite connections close around fork(); the flock keeps the file ours."""
    spool = tmp_path / "events.sqlite"
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=spool, flush_interval=60)
    client.track.signed_in(user_id="u", group_id="g")
    queue = client._worker.queue
    queue._before_fork()
    try:
        other = Spool(spool)  # as another process would, between the hooks
        assert other.adopt_orphans(force=True) == 0
        other.close()
    finally:
        queue._after_fork_in_parent()
    client.track.signed_in(user_id="v", group_id="g")
    assert client.stats.pending == 2
    assert client.stats.dropped_total == 0
    client.close(timeout=0)


def _idle_client_and_an_orphan(tmp_path: Path) -> tuple[Client, Path]:
    """A spool client that sends nothing (nothing listens), and then an orphan next to it.

    Left after the client started: it is found by a scan, not at start.
    """
    spool = tmp_path / "events.sqlite"
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=spool, flush_interval=60)
    leave_orphan(spool, b'{"type":"track"}')
    return client, spool


def _take_in_and_look(client: Client, found: list[Any], spool: Path) -> None:
    """What the worker does next with what a scan found; then the orphan must be free."""
    queue = client._worker.queue
    with queue.lock:
        assert queue.buffer.adopt(found, queue.accepted) == 1
    client.close(timeout=0)  # nothing listens: the orphan's event stays on disk, unlocked
    later = Spool(spool)  # as a later process would, while the child still runs
    assert later.adopt_orphans(force=True) == 1
    assert [data for _, data in later.take(10, 10_000)] == [b'{"type":"track"}']
    later.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_child_forked_mid_adoption_does_not_keep_the_orphan_locked(tmp_path: Path) -> None:
    """A scan opened an orphan (its flock taken), and the fork came before it was handed over."""
    client, spool = _idle_client_and_an_orphan(tmp_path)
    found = client._worker.queue.buffer.spool.scan_orphans(force=True)  # type: ignore[attr-defined]
    assert [orphan.count for orphan in found] == [1]
    with a_child_holding_on():
        _take_in_and_look(client, found, spool)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_fork_waits_for_the_orphan_a_scan_is_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forked while the worker holds an orphan's fresh lock: the child must know to let go."""
    client, spool = _idle_client_and_an_orphan(tmp_path)
    inner = client._worker.queue.buffer.spool  # type: ignore[attr-defined]
    opened = threading.Event()
    adopt = inner._adopt

    def slow_adopt(path: Path) -> Any:
        orphan = adopt(path)  # open, its flock taken
        opened.set()
        time.sleep(0.5)  # the fork comes now, before the scan has noted the file
        return orphan

    monkeypatch.setattr(inner, "_adopt", slow_adopt)
    found: list[Any] = []
    scan = threading.Thread(target=lambda: found.extend(inner.scan_orphans(force=True)))
    scan.start()
    assert opened.wait(10)
    with a_child_holding_on():
        scan.join(10)
        _take_in_and_look(client, found, spool)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_child_that_cannot_make_its_own_spool_neither_adopts_nor_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It keeps its parent's spool object, whose fork lock the forking thread held."""
    client, _ = _idle_client_and_an_orphan(tmp_path)  # an orphan a child's scan would open

    def no_spool(base: Path) -> Spool:
        raise SpoolError("no room for a spool file")

    monkeypatch.setattr("b2b_events._delivery.spool_buffer.Spool", no_spool)

    def child() -> list[int]:
        inherited = client._worker.queue.buffer.spool  # type: ignore[attr-defined]
        found: list[int] = []
        scan = threading.Thread(  # as the child's worker thread scans
            target=lambda: found.append(len(inherited.scan_orphans(force=True))), daemon=True
        )
        scan.start()
        scan.join(10)
        return found

    assert in_forked_child(child) == [0]  # it finished, and took in nothing
    client.close(timeout=0)


_FORK_WHILE_SPOOLING = """
import os, sys
from b2b_events import Client, Response

class Accepting:
    def send(self, messages):
        return Response(200)
    def close(self):
        pass

client = Client(transport=Accepting(), flush_interval=60, spool=sys.argv[1])
client.track.signed_in(user_id="u", group_id="g")
with client._worker.queue.lock:  # as a signal handler forking in the middle of track()
    pid = os.fork()
if pid == 0:
    client.track.signed_in(user_id="v", group_id="g")  # into the child's own spool file
    os._exit(0 if (client.stats.tracked, client.stats.pending) == (1, 1) else 3)
_, status = os.waitpid(pid, 0)
client.track.signed_in(user_id="w", group_id="g")  # the parent's connection, reopened
print("child", os.waitstatus_to_exitcode(status), "parent", client.stats.pending)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_fork_in_a_thread_inside_track_with_a_spool_does_not_hang(tmp_path: Path) -> None:
    """The spool's fork hook takes the queue's lock: the forking thread may hold it already."""
    done = run_script(_FORK_WHILE_SPOOLING, str(tmp_path / "events.sqlite"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["child", "0", "parent", "2"]


def test_only_files_of_this_spool_path_are_adopted(tmp_path: Path) -> None:
    leave_orphan(tmp_path / "events.billing", b'{"type":"track"}')  # of events.billing
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=tmp_path / "events")
    assert client.stats.pending == 0  # events.billing.* is not events.*
    client.close(timeout=0)
    assert len(list(tmp_path.glob("events.billing.*.spool"))) == 1


def test_a_refused_record_option_leaves_no_spool_file_behind(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot write the event log"):
        Client(write_key="k", spool=tmp_path / "e.sqlite", record=tmp_path / "no" / "x.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_a_stale_staging_file_is_removed_and_a_young_one_kept(tmp_path: Path) -> None:
    """What a process killed between creating and naming its file leaves behind."""
    stale = tmp_path / "events.sqlite.4242.0badcafe.spool.new"
    young = tmp_path / "events.sqlite.4243.0badbeef.spool.new"
    stale.touch()
    young.touch()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=tmp_path / "events.sqlite")
    client.close(timeout=0)
    assert not stale.exists()
    assert young.exists()


def test_a_long_outage_holds_at_most_one_batch_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch after batch runs out of retries and goes back to disk, never piling up in memory."""
    monkeypatch.setattr("b2b_events._delivery.queue.RETRY_PAUSE", 0.01)
    client = Client(
        write_key="k",
        endpoint="http://127.0.0.1:9",  # nothing listens: connection refused
        spool=tmp_path / "e.sqlite",
        max_batch_events=100,
        max_retries=2,
        retry_backoff=0.01,
    )
    for i in range(2_500):
        client.track.signed_in(user_id=f"u{i}", group_id="g")
    kept = "100 event(s) kept in the spool after"
    wait_for(lambda: caplog.text.count(kept) >= 5, 30, lambda: caplog.text)
    queue = client._worker.queue
    with queue.lock:
        in_memory = sum(len(batch.rest) for batch in queue.in_flight)
        on_disk = len(queue.buffer)
    assert in_memory <= 100  # the batch being tried; the rest waits on disk
    assert in_memory + on_disk == 2_500
    assert client.stats.dropped_total == 0
    assert client.stats.pending == 2_500
    client.close(timeout=0)


def test_a_wrong_write_key_keeps_the_events_for_when_it_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "e.sqlite"
    with running(write_key="right") as collector:
        wrong = Client(write_key="wrong", endpoint=collector.url, spool=spool, flush_interval=0.01)
        ids = [wrong.track.signed_in(user_id=f"u{i}", group_id="g").message_id
               for i in range(5)]  # fmt: skip
        wait_for(lambda: "kept in the spool after HTTP 401" in caplog.text, 30, lambda: caplog.text)
        assert wrong.stats.dropped_total == 0
        wrong.close(timeout=0)
        drain(collector.url, spool, write_key="right")  # the key fixed
        assert sorted(received(collector)) == sorted(ids)


@pytest.mark.parametrize("status", [403, 404])
def test_a_forbidden_or_missing_endpoint_keeps_the_events_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    class Refusing:
        def send(self, messages: Sequence[bytes]) -> Response:
            return Response(status)

        def close(self) -> None:
            pass

    spool = tmp_path / "e.sqlite"
    client = Client(transport=Refusing(), spool=spool, flush_interval=0.01)
    client.track.signed_in(user_id="u", group_id="g")
    wait_for(
        lambda: f"kept in the spool after HTTP {status}" in caplog.text, 30, lambda: caplog.text
    )
    client.close(timeout=0)
    assert client.stats.dropped_total == 0
    with running() as collector:
        drain(collector.url, spool)
        assert len(received(collector)) == 1


def test_an_adopted_file_that_fails_does_not_stop_our_own_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "events.sqlite"
    leave_orphan(spool, b'{"type":"track"}')
    with running() as collector:
        client = Client(write_key="k", endpoint=collector.url, spool=spool, flush_interval=30)
        assert client.stats.pending == 1  # adopted
        client._worker.queue.buffer.spool._adopted[0].db.close()  # type: ignore[attr-defined]  # it fails
        mine = client.track.signed_in(user_id="u", group_id="g").message_id
        assert client.flush(timeout=30)  # ours delivered; the orphan's one left on disk
        assert (client.stats.delivered, client.stats.pending) == (1, 1)  # on disk: pending
        client.close()
        assert received(collector) == [mine]
    assert "giving up on spool file" in caplog.text


def test_a_live_client_adopts_files_of_processes_that_die_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("b2b_events._delivery.spool.ADOPT_EVERY", 0.0)  # look after every batch
    spool = tmp_path / "events.sqlite"
    with running() as collector:
        live = Client(write_key="k", endpoint=collector.url, spool=spool, flush_interval=0.01)
        first = live.track.signed_in(user_id="live-1", group_id="g").message_id
        assert live.flush(timeout=10)
        left = Tracker().signed_in(user_id="dead", group_id="g")
        leave_orphan(spool, left.to_json())  # a sibling process that died with it on disk
        second = live.track.signed_in(user_id="live-2", group_id="g").message_id
        assert live.flush(timeout=10)  # its batch done, the orphan is found and sent
        wait_for(lambda: len(received(collector)) >= 3)
        live.close()
        assert sorted(received(collector)) == sorted([first, second, left.message_id])
        stats = live.stats  # the adopted event counts as tracked: the totals add up
        assert (stats.tracked, stats.delivered, stats.pending) == (3, 3, 0)
    assert not list(tmp_path.glob("*.spool"))


def test_a_fork_after_close_leaves_the_child_s_descriptors_alone(tmp_path: Path) -> None:
    """The closed spool's lock descriptor number may belong to another file by then."""
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=tmp_path / "e.sqlite")
    lock = client._worker.queue.buffer.spool._own.lock  # type: ignore[attr-defined]
    client.close(timeout=0)
    other = os.open(tmp_path / "other", os.O_CREAT | os.O_WRONLY)  # often the number itself
    if other != lock:  # else put it there: another file now holds the number
        os.dup2(other, lock)
        os.close(other)
    try:

        def child() -> dict[str, Any]:
            os.fstat(lock)  # raises if the fork hooks closed it
            return {"ok": True}

        assert in_forked_child(child) == {"ok": True}
    finally:
        os.close(lock)


def test_an_orphan_locked_by_a_reader_is_adopted_once_it_is_free_and_flush_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("b2b_events._delivery.spool.ADOPT_EVERY", 0.05)
    spool = tmp_path / "events.sqlite"
    left = Tracker().signed_in(user_id="dead", group_id="g")
    leave_orphan(spool, left.to_json())
    (orphan,) = tmp_path.glob("*.spool")
    reader = sqlite3.connect(orphan, isolation_level=None)  # as the sqlite3 shell would
    reader.execute("BEGIN EXCLUSIVE")
    try:
        with running() as collector:
            client = Client(write_key="k", endpoint=collector.url, spool=spool, flush_interval=0.01)
            mine = client.track.signed_in(user_id="live", group_id="g").message_id
            assert client.flush(timeout=0.5) is False  # the locked file's event waits
            assert received(collector) == [mine]
            reader.rollback()
            reader.close()
            assert client.flush(timeout=10) is True  # adopted at a later look, and sent
            client.close()
            assert sorted(received(collector)) == sorted([mine, left.message_id])
    finally:
        reader.close()
    warned = [r for r in caplog.records if "cannot adopt spool file" in r.getMessage()]
    assert len(warned) == 1  # once, not at every look


def test_failed_spool_writes_log_one_error_with_the_count_not_one_per_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(write_key="k", endpoint="http://127.0.0.1:9", spool=tmp_path / "e.sqlite")
    client._worker.queue.buffer.spool._own.db.close()  # type: ignore[attr-defined]  # as if the disk failed
    for i in range(200):
        client.track.signed_in(user_id=f"u{i}", group_id="g")
    errors = [r for r in caplog.records if "cannot write to the spool" in r.getMessage()]
    assert len(errors) == 1
    assert client.stats.dropped["spool_error"] == 200
    client.close(timeout=0)
