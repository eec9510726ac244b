"""The threaded engine with its queue on disk: ``Client(spool=path)``.

Same worker, batching, retry policy and accounting as ``Engine``; only the
storage differs (``_spool.Spool`` instead of a deque). A message is committed to
the spool before ``track()`` returns and deleted once its batch got a 2xx (or was
refused for good). A batch whose retries run out goes back to the spool and is
tried again after a pause: an outage fills the spool, it does not empty it.
What ``close()`` cannot deliver in time stays on disk for the next process.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Sequence

from ._accounting import Accounting, DropReason
from ._delivery.routine import Settle
from ._engine import Engine, EngineOptions
from ._fork import at_fork
from ._spool import Ref, Spool, SpoolError
from ._transport import Transport

__all__ = ["SpoolEngine"]

logger = logging.getLogger("b2b_events.spool")

RETRY_PAUSE = 5.0
"""Seconds the worker rests after a batch ran out of retries and went back to the spool."""

ERROR_PAUSE = 1.0
"""Seconds the worker rests after the spool could not be read."""

WRITE_ERROR_LOG_EVERY = 10.0
"""Seconds between two error lines for failed spool writes (a full disk fails every one)."""

_KEPT: frozenset[DropReason] = frozenset({"timeout", "retries_exhausted"})
"""Drop reasons that, with a spool, keep the messages on disk instead."""


class SpoolEngine(Engine):
    """``Engine`` storing accepted messages in a SQLite spool (see ``_spool``)."""

    def __init__(
        self,
        transport: Transport,
        accounting: Accounting,
        options: EngineOptions,
        *,
        batch_overhead: int,
        spool: Spool,
    ) -> None:
        """Create the engine; messages orphaned by earlier processes are sent first, now.

        Unlike the memory engine, the worker starts here when there are such messages.
        """
        self._spool = spool
        self._spool_closed = False
        self._refs: dict[int, Ref] = {}
        self._pause = False
        self._write_error_logged = -math.inf
        self._write_errors = 0  # failed writes not logged yet
        super().__init__(transport, accounting, options, batch_overhead=batch_overhead)
        # SQLite connections must not cross fork() (https://sqlite.org/howtocorrupt.html
        # section 2.6): closed before, reopened after in the parent (its flocks stay
        # held throughout); the child opens its own file (_after_fork_in_child).
        at_fork(before=self._before_fork, after_in_parent=self._after_fork_in_parent)
        found = self._spool.adopt_orphans(force=True)
        if found or self._spool.deferred:  # the worker also retries files it could not adopt
            with self._lock:
                self._accepted += found
                self._accounting.tracked += found  # ours now: counted like our own
                self._queued_bytes = self._spool.size
                self._ensure_worker()  # it looks at the queue before it ever waits

    # -- storage (lock held) -------------------------------------------------------

    def _append(self, data: bytes, size: int) -> DropReason | None:
        try:
            self._spool.append(data)
        except sqlite3.Error as exc:
            self._log_write_error(exc)
            return "spool_error"
        self._queued_bytes += size
        return None

    def _log_write_error(self, exc: sqlite3.Error) -> None:
        """With the lock held: one error line per ``WRITE_ERROR_LOG_EVERY`` s, with the count."""
        self._write_errors += 1
        now = time.monotonic()
        if now - self._write_error_logged < WRITE_ERROR_LOG_EVERY:
            return
        count, self._write_errors, self._write_error_logged = self._write_errors, 0, now
        logger.error(
            "b2b-events: cannot write to the spool %s: %s (%d failed write(s) since the "
            "last such message; each is a drop with reason spool_error)",
            self._spool.path,
            exc,
            count,
        )

    def _queue_len(self) -> int:
        return len(self._spool)

    def _done_below(self, target: int) -> bool:
        # Spooled rows carry no number: counted. An event settled before an older
        # one (an adopted file is sent first) may end a flush() early.
        return self._settled + self._kept >= target

    def _pop_oldest(self) -> bytes | None:
        try:
            old = self._spool.pop_oldest()
        except sqlite3.Error as exc:
            logger.error("b2b-events: cannot drop the oldest spooled event: %s", exc)
            return None  # the new event is dropped instead
        if old is not None:
            self._queued_bytes -= len(old)
        return old

    def _take_batch(self) -> list[bytes]:
        try:
            pairs = self._spool.take(self._opts.max_batch_events, self._budget)
        except (sqlite3.Error, OSError) as exc:
            logger.error("b2b-events: cannot read the spool %s: %s", self._spool.path, exc)
            self._work.wait(ERROR_PAUSE)  # releases the lock; close() wakes it
            return []
        finally:
            self._kept += self._spool.pop_handed_over()  # orphans let go: not ours to wait for
        batch: list[bytes] = []
        for ref, data in pairs:
            self._inflight[id(data)] = data
            self._refs[id(data)] = ref
            batch.append(data)
        self._queued_bytes = self._spool.size
        if self._blocked:
            self._done.notify_all()
        return batch

    def _add_sender(self) -> None:
        # One worker: the spool's rows, files and pauses are its own (max_in_flight is 1).
        return

    # -- settling --------------------------------------------------------------------

    def _release(self, messages: Sequence[bytes]) -> None:
        # Under the lock that settles them: a close() in between must not hand
        # delivered rows over to the next process.
        refs = self._pop_refs(messages)
        try:
            self._spool.delete(refs)
        except (sqlite3.Error, OSError) as exc:  # they stay on disk: sent again later
            logger.error("b2b-events: cannot delete sent events from the spool: %s", exc)

    def _give_back(self, batch: Sequence[bytes]) -> None:
        """With the lock held: unsent messages go back to the spool, not settled."""
        refs = self._pop_refs(batch)
        for message in batch:
            self._inflight.pop(id(message), None)
            self._unanswered.discard(id(message))
        self._spool.give_back(refs)
        self._queued_bytes = self._spool.size

    def _pop_refs(self, messages: Sequence[bytes]) -> list[Ref]:
        """With the lock held: the spool rows of ``messages``, forgotten here."""
        return [self._refs.pop(id(m)) for m in messages if id(m) in self._refs]

    def _drop_batch(self, batch: list[bytes], reason: DropReason, detail: str) -> None:
        if reason not in _KEPT:  # refused for good: deleted, counted, on_drop
            super()._drop_batch(batch, reason, detail)
            return
        self._keep(batch, detail, pause=reason == "retries_exhausted")

    def _keep(self, batch: list[bytes], detail: str, *, pause: bool) -> None:
        """Put a batch back in the spool, not dropped; ``pause``: the worker rests before more."""
        with self._lock:
            self._give_back(batch)
            self._pause = pause and not self._closed
        if self._pause:
            logger.warning(
                "b2b-events: %d event(s) kept in the spool after %s; retrying in %.0f s",
                len(batch),
                detail,
                RETRY_PAUSE,
            )

    def _finish(self, step: Settle) -> None:
        if step.verdict != "misconfigured":
            super()._finish(step)
            return
        # 401/403/404, redirects: the key or the endpoint is wrong, not the events.
        # Deleting them would lose them to a configuration slip: keep them for a fix.
        self._log_misconfiguration(step.status)
        self._keep(list(step.messages), step.detail, pause=True)

    def _failed(self, batch: list[bytes]) -> None:
        with self._lock:  # an unexpected error (logged) is no reason to delete them
            self._give_back([m for m in batch if id(m) in self._inflight])
            self._pause = not self._closed  # and no reason to retry at once, either

    def _deliver_batch(self, batch: list[bytes]) -> None:
        super()._deliver_batch(batch)
        self._adopt_now_and_then()
        self._rest_if_asked()

    def _rest_if_asked(self) -> None:
        """Rest ``RETRY_PAUSE`` s if a batch went back to the spool (flush() or close() end it)."""
        with self._lock:
            if self._pause:
                self._pause = False
                if not self._closed:
                    self._work.wait(RETRY_PAUSE)

    def _adopt_now_and_then(self) -> None:
        """Every ADOPT_EVERY s while sending: the files of processes that died since.

        Also while idle when a file could not be adopted (``_await_work``).
        """
        if self._spool_closed:
            return
        deferred = self._spool.deferred
        try:
            orphans = self._spool.scan_orphans()  # file I/O, outside the lock: track() goes on
        except OSError as exc:
            logger.warning("b2b-events: cannot look for orphaned spool files: %s", exc)
            return
        if orphans or deferred:
            with self._lock:
                found = self._spool.accept(orphans)
                self._accepted += found
                self._accounting.tracked += found
                self._queued_bytes = self._spool.size
                self._done.notify_all()  # flush() waits for deferred files

    def _await_work(self, timeout: float | None) -> None:
        # A file that could not be adopted is looked at again even when idle: its
        # events wait, and so does flush().
        if self._spool.deferred and not self._spool_closed and not self._closed:
            due = self._spool.next_adoption - time.monotonic()
            if due <= 0:
                self._lock.release()  # as the wait would: the caller looks at the queue again
                try:
                    self._adopt_now_and_then()
                finally:
                    self._lock.acquire()
                return
            timeout = due if timeout is None else min(timeout, due)
        super()._await_work(timeout)

    def flush(self, timeout: float) -> bool:
        """As ``Engine.flush``; also False while an orphaned file could not be adopted yet."""
        deadline = time.monotonic() + max(0.0, timeout)
        while super().flush(deadline - time.monotonic()):
            with self._lock:
                if not self._spool.deferred or self._spool_closed:
                    return True
                self._ensure_worker()  # it retries the adoption
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)  # until a scan: then flush what it adopted
        return False

    def _drop_leftovers(self) -> None:
        with self._lock:
            self._give_back(list(self._inflight.values()))
            self._refs.clear()
            self._kept = self._accepted - self._settled
            remaining = self._kept
        if remaining:
            logger.warning(
                "b2b-events: %d event(s) stay in the spool %s; the next client started "
                "with this spool path delivers them",
                remaining,
                self._spool.path,
            )

    def close(self, timeout: float) -> None:
        """Deliver what can be within ``timeout``; the rest stays in the spool file."""
        super().close(timeout)
        with self._lock:
            worker = self._thread
            if worker is None or not worker.is_alive():
                self._close_spool()

    def _run(self) -> None:
        self._rest_if_asked()  # a worker killed mid-batch gave it back: not at once again
        try:
            super()._run()
        finally:
            with self._lock:
                # A worker that outlived close(): the files are its to close, unless
                # it was replaced (_replace_worker) and its successor still runs.
                if self._closed and self._thread in (None, threading.current_thread()):
                    self._close_spool()

    def _close_spool(self) -> None:
        if not self._spool_closed:
            self._spool_closed = True
            self._spool.close()

    # -- fork ------------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._lock.acquire()
        if not self._spool_closed:
            self._spool.suspend()

    def _after_fork_in_parent(self) -> None:
        try:
            if not self._spool_closed:
                self._spool.resume()
        except sqlite3.Error as exc:
            logger.error("b2b-events: cannot reopen the spool after fork(): %s", exc)
        finally:
            self._lock.release()

    def _after_fork_in_child(self) -> None:
        # The parent's files are the parent's: the child gets a file of its own.
        super()._after_fork_in_child()  # fresh locks first, whatever happens next
        inherited = self._spool
        self._refs = {}
        self._pause = False
        if self._spool_closed:
            return
        inherited.release_inherited()
        try:
            self._spool = Spool(inherited.base)
        except SpoolError as exc:
            logger.error("b2b-events: the forked process has no spool (%s); events dropped", exc)
            inherited.forget()
