"""The durable buffer: accepted messages in the SQLite spool (``spool.Spool``).

Numbers (what ``flush()`` waits for) are kept in memory without a row each: this
process's rows get consecutive ids, so a short list of (first row id, first
number) runs maps any of them to its number (a new run starts when adopted
files took numbers in between); an adopted file's messages all take the number
at which it was adopted.

A message is committed to the spool before ``track()`` returns and deleted once
its batch got a 2xx (or was refused for good). A batch whose retries run out
goes back to the spool and is tried again after a pause: an outage fills the
spool, it does not empty it. What ``close()`` cannot deliver in time stays on
disk for the next process, and the next client started with the same path
adopts it (``scan``, ``adopt``): at start, then every ``ADOPT_EVERY`` s.
"""

from __future__ import annotations

import bisect
import logging
import math
import sqlite3
import time

from .accounting import DropReason
from .buffer import Batch
from .spool import Ref, Spool, SpoolError, _File

__all__ = ["WRITE_ERROR_LOG_EVERY", "SpoolBuffer"]

logger = logging.getLogger("b2b_events.spool")

WRITE_ERROR_LOG_EVERY = 10.0
"""Seconds between two error lines for failed spool writes (a full disk fails every one)."""


class SpoolBuffer:
    """``Buffer`` over a ``Spool``: durable, what cannot be delivered now stays on disk."""

    durable = True

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.where = str(spool.path)
        self.closed = False
        self._scanned = False  # the first scan looks at once
        self._run_ids: list[int] = []  # own row id starting each run of consecutive numbers
        self._run_numbers: list[int] = []  # ... and its number
        self._run_offset: int | None = None  # number - row id in the last run
        self._own = spool.own
        self.size = spool.size  # bytes stored and not taken (kept here: read per track())
        self._adopted: dict[int, int] = {}  # id(adopted file) -> the number of its messages
        self._write_error_logged = -math.inf
        self._write_errors = 0  # failed writes not logged yet
        self._suspended = False  # between suspend() and resume() (a fork)

    def __len__(self) -> int:
        return len(self.spool)

    def append(self, data: bytes, number: int) -> DropReason | None:
        try:
            self.spool.append(data)
        except sqlite3.Error as exc:
            self._log_write_error(exc)
            return "spool_error"
        self.size += len(data)
        rowid = self._own.last_id
        if number - rowid != self._run_offset:  # adopted files took numbers in between
            self._run_offset = number - rowid
            self._run_ids.append(rowid)
            self._run_numbers.append(number)
        return None

    def _log_write_error(self, exc: sqlite3.Error) -> None:
        """One error line per ``WRITE_ERROR_LOG_EVERY`` s, with the count."""
        self._write_errors += 1
        now = time.monotonic()
        if now - self._write_error_logged < WRITE_ERROR_LOG_EVERY:
            return
        count, self._write_errors, self._write_error_logged = self._write_errors, 0, now
        logger.error(
            "b2b-events: cannot write to the spool %s: %s (%d failed write(s) since the "
            "last such message; each is a drop with reason spool_error)",
            self.spool.path,
            exc,
            count,
        )

    def pop_oldest(self) -> bytes | None:
        try:
            old = self.spool.pop_oldest()
        except sqlite3.Error as exc:
            logger.error("b2b-events: cannot drop the oldest spooled event: %s", exc)
            return None  # the new event is dropped instead
        self.size = self.spool.size
        return old

    def take(self, limit: int, budget: int) -> Batch | None:
        try:
            pairs = self.spool.take(limit, budget)
        except (sqlite3.Error, OSError) as exc:
            logger.error("b2b-events: cannot read the spool %s: %s", self.spool.path, exc)
            return None
        finally:
            self.size = self.spool.size
        rows = [ref for ref, _ in pairs]
        return Batch([data for _, data in pairs], [self._number(ref) for ref in rows], rows)

    def release(self, batch: Batch, count: int) -> None:
        rows: list[Ref] = list(batch.rows[batch.settled : batch.settled + count])
        try:
            self.spool.delete(rows)
        except (sqlite3.Error, OSError) as exc:  # they stay on disk: sent again later
            logger.error("b2b-events: cannot delete sent events from the spool: %s", exc)

    def give_back(self, batch: Batch, count: int) -> None:
        self.spool.give_back(list(batch.rows[batch.settled : batch.settled + count]))
        self.size = self.spool.size

    def clear(self) -> list[bytes]:
        return []  # on disk, for the next process

    def forked(self) -> SpoolBuffer:
        """The child's own file; SQLite connections must not cross fork() (see ``Queue``)."""
        if self.closed:
            return self
        inherited = self.spool
        inherited.release_inherited()
        try:
            return SpoolBuffer(Spool(inherited.base))
        except SpoolError as exc:
            logger.error("b2b-events: the forked process has no spool (%s); events dropped", exc)
            inherited.forget()
            return self

    def lowest(self) -> int | None:
        heads = [self._number(ref) for ref in self.spool.queued_heads()]
        return min(heads) if heads else None

    def scan(self) -> list[_File] | None:
        """Open the files of dead processes, if it is time (``Spool.scan_orphans``)."""
        if self.closed:
            return None
        spool = self.spool
        deferred = spool.deferred
        try:  # file I/O, outside the lock: track() goes on
            orphans = spool.scan_orphans(force=not self._scanned)
        except OSError as exc:
            logger.warning("b2b-events: cannot look for orphaned spool files: %s", exc)
            return None
        finally:
            self._scanned = True
        return orphans if orphans or deferred or spool.deferred else None

    @property
    def waiting(self) -> bool:
        return not self.closed and bool(self.spool.deferred)

    def upkeep_due(self) -> float | None:
        return self.spool.next_adoption if self.waiting else None

    def suspend(self) -> None:
        self._suspended = not self.closed
        if self._suspended:
            self.spool.suspend()

    def resume(self) -> None:
        if not self._suspended:  # a close() in between: the spool is resumed all the same
            return
        self._suspended = False
        try:
            self.spool.resume()
        except sqlite3.Error as exc:
            logger.error("b2b-events: cannot reopen the spool after fork(): %s", exc)

    def adopt(self, orphans: list[_File], number: int) -> int:
        """Deliver opened orphans' messages, numbered ``number`` on; return how many."""
        if self.closed:
            return 0
        taken = self.spool.accept(orphans)
        for orphan in taken:
            self._adopted[id(orphan)] = number
        self.size = self.spool.size
        return sum(orphan.count for orphan in taken)

    def _number(self, ref: Ref) -> int:
        source, rowid = ref
        if source is not self._own:
            return self._adopted.get(id(source), 0)
        run = bisect.bisect_right(self._run_ids, rowid) - 1
        if run < 0:
            return 0
        return self._run_numbers[run] + rowid - self._run_ids[run]

    def close(self) -> None:
        """Close the spool's files (once)."""
        if not self.closed:
            self.closed = True
            self.spool.close()
