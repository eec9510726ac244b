"""The threaded engine with its queue on disk: ``Client(spool=path)``.

Same worker, batching, retry policy and accounting as ``Engine``; only the
storage differs (``_spool.Spool`` instead of a deque). A message is committed to
the spool before ``track()`` returns and deleted once its batch got a 2xx (or was
dropped for good). What ``close()`` cannot deliver in time stays on disk for the
next process instead of being dropped.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import weakref
from collections.abc import Callable

from ._accounting import Accounting, DropReason
from ._engine import Engine, EngineOptions
from ._spool import Ref, Spool
from ._transport import Transport

__all__ = ["SpoolEngine"]

logger = logging.getLogger("b2b_events.spool")


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
        """Create the engine; messages orphaned by earlier processes are sent first, now."""
        self._spool = spool
        self._spool_closed = False
        self._refs: dict[int, Ref] = {}
        super().__init__(transport, accounting, options, batch_overhead=batch_overhead)
        _register_spool_fork_hooks(self)
        found = self._spool.adopt_orphans(force=True)
        if found:
            with self._lock:
                self._accepted += found
                self._queued_bytes = self._spool.size
                self._ensure_worker()
                self._wake_worker()

    @property
    def spool_path(self) -> str:
        """This process's spool file."""
        return str(self._spool.path)

    # -- storage (lock held) -------------------------------------------------------

    def _append(self, data: bytes, size: int) -> DropReason | None:
        try:
            self._spool.append(data)
        except sqlite3.Error as exc:
            logger.error("b2b-events: cannot write to the spool %s: %s", self._spool.path, exc)
            return "spool_error"
        self._queued_bytes += size
        return None

    def _queue_len(self) -> int:
        return len(self._spool)

    def _pop_oldest(self) -> bytes | None:
        old = self._spool.pop_oldest()
        if old is not None:
            self._queued_bytes -= len(old)
        return old

    def _take_batch(self) -> list[bytes]:
        self._accepted += self._spool.adopt_orphans()  # now and then: processes that died
        pairs = self._spool.take(self._opts.max_batch_events, self._budget)
        batch: list[bytes] = []
        for ref, data in pairs:
            self._inflight[id(data)] = data
            self._refs[id(data)] = ref
            batch.append(data)
        self._queued_bytes = self._spool.size
        if self._blocked:
            self._done.notify_all()
        return batch

    # -- settling --------------------------------------------------------------------

    def _settle(self, messages: list[bytes]) -> bool:  # type: ignore[override]
        if not super()._settle(messages):
            return False
        with self._lock:
            refs = [self._refs.pop(id(m)) for m in messages if id(m) in self._refs]
            self._spool.delete(refs)
        return True

    def _drop_batch(self, batch: list[bytes], reason: DropReason, detail: str) -> None:
        if reason != "timeout":
            super()._drop_batch(batch, reason, detail)
            return
        # Out of time at close: not lost, the spool keeps them for the next process.
        with self._lock:
            refs = [self._refs.pop(id(m)) for m in batch if id(m) in self._refs]
            for message in batch:
                self._inflight.pop(id(message), None)
            self._spool.keep(refs)

    def _drop_leftovers(self) -> None:
        with self._lock:
            remaining = self._accepted - self._settled
            self._spool.keep(list(self._refs.values()))
            self._inflight.clear()
            self._refs.clear()
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
            if not self._spool_closed and (worker is None or not worker.is_alive()):
                self._spool_closed = True
                self._spool.close()

    # -- fork ------------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._lock.acquire()
        self._spool.suspend()

    def _after_fork_in_parent(self) -> None:
        self._spool.resume()
        self._lock.release()

    def _after_fork_in_child(self) -> None:
        # The parent's files are the parent's: the child gets a file of its own.
        self._spool = Spool(self._spool.base)
        self._spool_closed = False
        self._refs = {}
        super()._after_fork_in_child()


def _register_spool_fork_hooks(engine: SpoolEngine) -> None:
    # SQLite connections must not cross fork() (https://sqlite.org/howtocorrupt.html
    # section 2.6): close them before, reopen after in the parent; the child opens its own.
    if not hasattr(os, "register_at_fork"):  # pragma: no cover - Windows
        return
    before = weakref.WeakMethod(engine._before_fork)
    parent = weakref.WeakMethod(engine._after_fork_in_parent)

    def call(ref: weakref.WeakMethod[Callable[[], None]]) -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(before=lambda: call(before), after_in_parent=lambda: call(parent))
