"""The threaded engine with its queue on disk: ``Client(spool=path)``.

The thread worker handed a ``SpoolBuffer`` (``spool.Spool`` instead of a deque);
this module adds what only a spool has: adopting the files of dead processes,
closing the files, and the fork hooks. A message is committed to
the spool before ``track()`` returns and deleted once its batch got a 2xx (or was
refused for good). A batch whose retries run out goes back to the spool and is
tried again after a pause: an outage fills the spool, it does not empty it.
What ``close()`` cannot deliver in time stays on disk for the next process.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from .accounting import Accounting
from .buffer import Batch
from .fork import at_fork
from .options import Options
from .spool import Spool
from .spool_buffer import SpoolBuffer
from .transport import Transport
from .worker import Engine

__all__ = ["SpoolEngine"]

logger = logging.getLogger("b2b_events.spool")

RETRY_PAUSE = 5.0
"""Seconds the worker rests after a batch ran out of retries and went back to the spool."""


class SpoolEngine(Engine):
    """``Engine`` handed a ``SpoolBuffer``; adds adopting orphaned files and closing them."""

    _buffer: SpoolBuffer

    def __init__(
        self,
        transport: Transport,
        accounting: Accounting,
        options: Options,
        *,
        batch_overhead: int,
        spool: Spool,
    ) -> None:
        """Create the engine; messages orphaned by earlier processes are sent first, now.

        Unlike the memory engine, the worker starts here when there are such messages.
        """
        super().__init__(
            transport,
            accounting,
            options,
            batch_overhead=batch_overhead,
            buffer=SpoolBuffer(spool),
        )
        # SQLite connections must not cross fork() (https://sqlite.org/howtocorrupt.html
        # section 2.6): closed before, reopened after in the parent (its flocks stay
        # held throughout); the child opens its own file (SpoolBuffer.forked).
        at_fork(before=self._before_fork, after_in_parent=self._after_fork_in_parent)
        orphans = spool.scan_orphans(force=True)
        if orphans or spool.deferred:  # the worker also retries files it could not adopt
            with self._lock:
                self._adopt(orphans)
                self._ensure_worker()  # it looks at the queue before it ever waits

    @property
    def _spool(self) -> Spool:
        return self._buffer.spool

    def _retry_pause(self) -> float:
        return RETRY_PAUSE

    def _add_sender(self) -> None:
        # One worker: the spool's rows, files and pauses are its own (max_in_flight is 1).
        return

    def _adopt(self, orphans: list[Any]) -> None:
        """With the lock held: adopted messages are ours now, numbered and counted as ours."""
        found = self._buffer.adopt(orphans, self._accepted)
        self._accepted += found
        self._accounting.tracked += found
        self._done.notify_all()  # flush() waits for deferred files

    def _deliver_batch(self, batch: Batch) -> None:
        super()._deliver_batch(batch)
        self._adopt_now_and_then()

    def _adopt_now_and_then(self) -> None:
        """Every ADOPT_EVERY s while sending: the files of processes that died since.

        Also while idle when a file could not be adopted (``_await_work``).
        """
        if self._buffer.closed:
            return
        deferred = self._spool.deferred
        try:
            orphans = self._spool.scan_orphans()  # file I/O, outside the lock: track() goes on
        except OSError as exc:
            logger.warning("b2b-events: cannot look for orphaned spool files: %s", exc)
            return
        if orphans or deferred:
            with self._lock:
                self._adopt(orphans)

    def _await_work(self, timeout: float | None) -> None:
        # A file that could not be adopted is looked at again even when idle: its
        # events wait, and so does flush().
        if self._spool.deferred and not self._buffer.closed and not self._closed:
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
                if not self._spool.deferred or self._buffer.closed:
                    return True
                self._ensure_worker()  # it retries the adoption
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)  # until a scan: then flush what it adopted
        return False

    def _drop_leftovers(self) -> None:
        super()._drop_leftovers()  # a durable buffer: given back, not dropped
        remaining = self.pending()
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
                self._buffer.close()

    def _run(self) -> None:
        try:
            super()._run()
        finally:
            with self._lock:
                # A worker that outlived close(): the files are its to close, unless
                # it was replaced (_replace_worker) and its successor still runs.
                if self._closed and self._thread in (None, threading.current_thread()):
                    self._buffer.close()

    # -- fork ------------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._lock.acquire()
        if not self._buffer.closed:
            self._spool.suspend()

    def _after_fork_in_parent(self) -> None:
        try:
            if not self._buffer.closed:
                self._spool.resume()
        except sqlite3.Error as exc:
            logger.error("b2b-events: cannot reopen the spool after fork(): %s", exc)
        finally:
            self._lock.release()
