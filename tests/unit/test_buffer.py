"""Buffers hand out batches that carry their messages' numbers (what flush() waits for)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from b2b_events._delivery.buffer import MemoryBuffer
from b2b_events._delivery.spool import Spool
from b2b_events._delivery.spool_buffer import SpoolBuffer

BIG = 10**6


def test_memory_batches_carry_consecutive_numbers() -> None:
    buffer = MemoryBuffer()
    for number, data in enumerate([b"aa", b"bb", b"cc"], start=7):
        assert buffer.append(data, number) is None

    first = buffer.take(2, BIG)
    assert (first.messages, list(first.numbers)) == ([b"aa", b"bb"], [7, 8])
    assert buffer.lowest() == 9
    assert (len(buffer), buffer.size) == (1, 2)
    first.settled = 1
    assert first.lowest() == 8
    assert first.rest == [b"bb"]


def test_memory_take_stays_within_the_byte_budget() -> None:
    buffer = MemoryBuffer()
    for number in range(3):
        buffer.append(b"x" * 10, number)

    batch = buffer.take(10, 21)  # two messages and a comma

    assert len(batch) == 2
    assert buffer.lowest() == 2


def test_spool_numbers_follow_acceptance_across_adoption(tmp_path: Path) -> None:
    base = tmp_path / "events.sqlite"
    dead = Spool(base)  # a process that died with two events on disk
    dead.append(b"o1")
    dead.append(b"o2")
    dead.close()
    buffer = SpoolBuffer(Spool(base))
    buffer.append(b"m0", 0)
    buffer.append(b"m1", 1)
    assert buffer.adopt(buffer.spool.scan_orphans(force=True), 2) == 2
    buffer.append(b"m4", 4)  # after the adopted 2 and 3

    adopted = buffer.take(2, BIG)
    assert adopted is not None
    assert (adopted.messages, list(adopted.numbers)) == ([b"o1", b"o2"], [2, 2])
    assert buffer.lowest() == 0  # our own older events still wait: flush() waits for them

    own = buffer.take(10, BIG)
    assert own is not None
    assert (own.messages, list(own.numbers)) == ([b"m0", b"m1", b"m4"], [0, 1, 4])
    assert buffer.lowest() is None

    buffer.give_back(own, 1)  # m0 goes back: the lowest number queued again
    assert buffer.lowest() == 0
    buffer.close()


def test_a_file_that_cannot_be_adopted_stays_counted_while_a_scan_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flush() reads ``deferred`` from another thread while the worker scans."""
    base = tmp_path / "events.sqlite"

    def orphan(name: str) -> None:
        dead = Spool(base)
        dead.append(b"{}")
        dead.close()
        dead.path.rename(tmp_path / name)  # sorted: the first is looked at first

    orphan("events.sqlite.1.00000000.spool")
    orphan("events.sqlite.2.ffffffff.spool")
    locked = sqlite3.connect(tmp_path / "events.sqlite.2.ffffffff.spool", isolation_level=None)
    locked.execute("BEGIN EXCLUSIVE")  # as the sqlite3 shell would: cannot be adopted
    spool = Spool(base)
    try:
        assert len(spool.scan_orphans(force=True)) == 1  # opens the first, defers the second
        assert spool.deferred == 1
        orphan("events.sqlite.0.00000000.spool")  # a process died since: looked at first
        seen: list[int] = []
        adopt = spool._adopt

        def watched(path: Path) -> Any:
            seen.append(spool.deferred)
            return adopt(path)

        monkeypatch.setattr(spool, "_adopt", watched)
        found = spool.scan_orphans(force=True)
        assert seen == [1, 1]  # looking at the new file, then the deferred one: never 0
        assert spool.deferred == 1
        assert len(found) == 2  # the one found before and not accepted yet is handed on
    finally:
        locked.rollback()
        locked.close()
        spool.close()


def test_a_scan_that_outlives_close_opens_no_orphan(tmp_path: Path) -> None:
    """The worker may still be scanning when close() comes: nothing it opens then stays held."""
    base = tmp_path / "events.sqlite"
    dead = Spool(base)
    dead.append(b"{}")
    dead.close()  # unlocked, one message on disk: an orphan
    spool = Spool(base)
    spool.close()
    assert spool.scan_orphans(force=True) == []
    later = Spool(base)  # another process: the orphan is free to adopt
    assert later.adopt_orphans(force=True) == 1
    later.close()


def _orphan(base: Path) -> None:
    dead = Spool(base)
    dead.append(b"{}")
    dead.close()  # unlocked, one message on disk


def test_an_orphan_is_taken_in_once_even_if_two_scans_hand_it_over(tmp_path: Path) -> None:
    base = tmp_path / "events.sqlite"
    _orphan(base)
    buffer = SpoolBuffer(Spool(base))
    first = buffer.spool.scan_orphans(force=True)
    second = buffer.spool.scan_orphans(force=True)  # the one found before, not taken in yet
    assert first == second
    assert len(first) == 1
    assert buffer.adopt(first, 0) == 1
    assert buffer.adopt(second, 0) == 0  # already taken in: passed over
    assert len(buffer) == 1
    buffer.close()


def test_close_between_the_fork_hooks_leaves_the_spool_usable(tmp_path: Path) -> None:
    """A signal handler in the forking thread may close the client between them."""
    base = tmp_path / "events.sqlite"
    _orphan(base)
    buffer = SpoolBuffer(Spool(base))
    found = buffer.spool.scan_orphans(force=True)
    buffer.suspend()
    buffer.close()
    buffer.resume()
    assert buffer.adopt(found, 0) == 0  # closed: nothing is taken in
    scanner = threading.Thread(target=buffer.spool.scan_orphans, kwargs={"force": True})
    scanner.daemon = True
    scanner.start()
    scanner.join(10)
    assert not scanner.is_alive()  # the fork lock was given back
