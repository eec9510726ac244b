"""The queue, its limits and the accounting of every message: what both workers share.

``_Core`` holds the buffer (``buffer.py``), the batches taken from it, flush
numbering, overflow and the settling of what the delivery routine decides
(``routine.py``); the thread worker (``worker.py``) and the asyncio worker
(``async_worker.py``) only wait, take batches and drive the routine.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Literal

from .accounting import Accounting, DropReason
from .buffer import Batch, Buffer, MemoryBuffer
from .notices import Notices
from .options import Options
from .routine import Settle, Wait

__all__ = ["ERROR_PAUSE", "RETRY_PAUSE"]

logger = logging.getLogger("b2b_events.delivery")

_Next = Literal["stop", "take", "park", "wait"]


RETRY_PAUSE = 5.0
"""Seconds the worker rests after a batch went back to a durable buffer (the spool)."""

ERROR_PAUSE = 1.0
"""Seconds the worker rests after the buffer could not be read."""

_KEPT: frozenset[DropReason] = frozenset({"timeout", "retries_exhausted"})
"""Drop reasons that, with a durable buffer, keep the messages instead."""


class _Core:
    """The queue, its limits and the accounting of every message: shared by both engines.

    Thread-safe: ``submit`` may be called from any thread. A driver (the worker
    thread of ``Engine``, or the asyncio task of ``AsyncEngine``) takes batches,
    sends them with the delivery routine (``_delivery.routine``) and accounts
    for what it settles in ``_finish``.
    """

    def __init__(
        self,
        accounting: Accounting,
        options: Options,
        *,
        batch_overhead: int,
        buffer: Buffer | None = None,
    ) -> None:
        """Set up an empty queue; the driver subclass starts its worker on first use."""
        self._buffer: Buffer = MemoryBuffer() if buffer is None else buffer
        self._accounting = accounting
        self._opts = options
        self._budget = options.max_batch_bytes - batch_overhead  # for messages and commas
        self._closed = False
        self._close_deadline = math.inf
        self._init_state()

    def _init_state(self) -> None:
        """(Re)create everything a forked child must not share with its parent."""
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)  # wakes flush() and blocked submitters
        self._accepted = 0  # messages accepted (and the next one's number)
        self._settled = 0  # of those, delivered or dropped
        self._kept = False  # close() left the rest in a durable buffer for a later process
        self._pause = False  # a batch went back to a durable buffer: rest before the next
        self._in_flight: set[Batch] = set()  # taken from the buffer, not settled yet
        self._flush_waiters = 0
        self._blocked = 0
        # Bounded concurrency (max_in_flight): workers take a batch only while no
        # other one is sending; a batch waiting for its retry lets another go.
        self._holding = 0  # workers with a batch in hand
        self._stalled = 0  # of the callers of _wait, those resting before a retry
        self._parked = 0  # workers waiting for their turn
        self._notices = Notices(self._opts.retry)  # its lock too: a child gets its own
        self._pid = os.getpid()

    def _ensure_worker(self) -> None:
        """With the lock held: make sure a driver will take what is queued."""
        raise NotImplementedError

    def _wake_worker(self) -> None:
        """With the lock held: a batch is due (or the queue just got its first message)."""
        raise NotImplementedError

    def _on_progress(self) -> None:
        """Messages were settled (flush waiters may be done). Threads use ``_done``."""

    def _next_step(self, first_seen: float | None) -> tuple[_Next, float | None]:
        """With the lock held: what a worker does next, and since when a batch waits.

        ``stop`` (closed and empty, or out of time), ``take`` a batch now (full,
        due, or asked for by flush(), close() or a blocked caller), ``park``
        until another worker's batch ends or waits for a retry, or ``wait`` for
        a message or until the partial batch is due (``_until_due``).
        """
        if self._closed and self._give_up():
            return "stop", None
        queued = len(self._buffer)
        if not queued:
            return ("stop" if self._closed else "wait"), None
        if not self._my_turn():
            return "park", first_seen
        if (
            self._closed
            or self._flush_waiters
            or self._blocked
            or queued >= self._opts.max_batch_events
            or self._buffer.size >= self._budget
        ):
            return "take", None
        now = time.monotonic()
        if first_seen is None:
            first_seen = now
        if now >= first_seen + self._opts.flush_interval:
            return "take", None
        return "wait", first_seen

    def _until_due(self, first_seen: float | None) -> float | None:
        """Seconds until a partial batch seen first at ``first_seen`` is due (None: no batch)."""
        if first_seen is None:
            return None
        return max(0.0, first_seen + self._opts.flush_interval - time.monotonic())

    def _my_turn(self) -> bool:
        """With the lock held: a worker may take a batch (no other one is sending now)."""
        return self._holding <= self._stalled

    def _add_sender(self) -> None:
        """With the lock held: a batch waits for its retry; let the next one go meanwhile."""

    def _stall(self, step: Wait) -> float:
        """A batch starts waiting for its retry (the driver ends it with ``_stalled -= 1``).

        Returns when the retry is due.
        """
        self._accounting.add_retry()
        self._notices.retry(step)
        with self._lock:
            self._stalled += 1
            self._add_sender()
        return time.monotonic() + step.seconds

    def submit(self, data: bytes) -> None:
        """Queue one serialized message, or account for it as dropped. Never blocks unless asked."""
        size = len(data)
        reason: DropReason | None = None
        evicted: list[bytes] = []
        with self._lock:
            if self._closed:
                reason = "closed"
            elif not self._fits(size):
                reason, evicted = self._make_room(size)
            if reason is None:
                reason = self._buffer.append(data, self._accepted)
            if reason is None:
                self._accepted += 1
                self._accounting.tracked += 1
                self._ensure_worker()
                queued = len(self._buffer)
                if (
                    queued == 1
                    or queued >= self._opts.max_batch_events
                    or self._buffer.size >= self._budget
                ):
                    self._wake_worker()
        if evicted:
            self._accounting.drop("queue_full", evicted, "queue at its limit (drop_oldest)")
        if reason is not None:
            self._accounting.refuse(reason, [data], _DROP_DETAIL[reason])

    # -- storage: the buffer, and the batches taken from it (lock held) ----------

    @property
    def _inflight(self) -> list[bytes]:
        """With the lock held: the messages taken from the buffer and not settled."""
        return [m for batch in self._in_flight for m in batch.rest]

    @property
    def _unanswered(self) -> list[bytes]:
        """The messages in a request still waiting for its answer."""
        return [m for b in self._in_flight for m in b.rest[: b.sending]]

    def _queue_len(self) -> int:
        """Messages stored and not yet taken by the driver."""
        return len(self._buffer)

    def _done_below(self, target: int) -> bool:
        """With the lock held: every message numbered below ``target`` is settled.

        Not a count of settled messages: later ones settle first when an older
        batch is slow (a batch in retry, sync sends in other threads, adopted
        spool files sent first).
        """
        if self._kept:
            return True  # close() left the rest on disk: nothing more will settle here
        lowest = self._buffer.lowest()
        if lowest is not None and lowest < target:
            return False
        for batch in self._in_flight:
            first = batch.lowest()
            if first is not None and first < target:
                return False
        return True

    def _fits(self, size: int) -> bool:
        return (
            len(self._buffer) < self._opts.max_queue_events
            and self._buffer.size + size <= self._opts.max_queue_bytes
        )

    def _make_room(self, size: int) -> tuple[DropReason | None, list[bytes]]:
        """Apply the overflow policy with the lock held; return (reason to drop new, evicted)."""
        policy = self._opts.overflow
        if policy == "drop_oldest":
            evicted: list[bytes] = []
            while not self._fits(size) and (old := self._buffer.pop_oldest()) is not None:
                evicted.append(old)
            self._settled += len(evicted)
            return (None if self._fits(size) else "queue_full"), evicted
        if policy == "block":
            deadline = time.monotonic() + self._opts.block_wait
            self._blocked += 1
            self._wake_worker()  # room comes from sending now, not at the flush interval
            try:
                while not self._fits(size) and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return "queue_full", []
                    self._done.wait(remaining)
            finally:
                self._blocked -= 1
            return ("closed" if self._closed else None), []
        return "queue_full", []

    def pending(self) -> int:
        """Messages accepted and not yet delivered or dropped."""
        with self._lock:
            return self._accepted - self._settled

    @property
    def shutdown_timeout(self) -> float:
        """Seconds the exit handler gives this engine to deliver what it holds."""
        return self._opts.shutdown_timeout

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed

    def _take_batch(self) -> Batch | None:
        """With the lock held, take the next batch within the count and byte limits.

        None when the buffer cannot be read now (a spool file error, logged).
        """
        batch = self._buffer.take(self._opts.max_batch_events, self._budget)
        if batch:
            self._in_flight.add(batch)
        if self._blocked:
            self._done.notify_all()
        return batch

    def _settle(self, batch: Batch, count: int, *, kept: bool = False) -> bool:
        """The next ``count`` messages of ``batch`` are accounted for (``kept``: given back).

        False if close() already counted them.
        """
        with self._lock:
            if batch not in self._in_flight:
                return False
            if kept:  # back in the buffer: taken again later, or by a later process
                self._buffer.give_back(batch, count)
            else:
                self._buffer.release(batch, count)
                self._settled += count
            batch.settled += count
            batch.sending = 0  # a send cut off by an exception: settled now
            if batch.settled >= len(batch):
                self._in_flight.discard(batch)
            self._done.notify_all()
        self._on_progress()
        return True

    def _give_up(self, due: float | None = None) -> bool:
        """Closing, and out of time: now, or by ``due`` (when a retry waited for is due)."""
        deadline = self._close_deadline
        return self._closed and (
            time.monotonic() >= deadline or (due is not None and due > deadline)
        )

    def _mark_closed(self, deadline: float) -> bool:
        """With the lock held: stop accepting; return True the first time.

        Only the first call sets the deadline: a later ``close()`` with a shorter
        timeout waits for the first to finish, it does not cut its work short.
        """
        first = not self._closed
        if first:
            self._closed = True
            self._close_deadline = deadline
        self._done.notify_all()
        return first

    def _sending(self, batch: Batch, count: int) -> None:
        """Mark the next ``count`` messages of ``batch`` as in a request (0: answered).

        Not unmarked when a send is cut off (an asyncio task cancelled): close()
        counts such messages as ``unconfirmed``, not ``timeout``.
        """
        with self._lock:
            batch.sending = count

    def _drop_leftovers(self) -> None:
        """Count what is still queued or in flight as dropped (close ran out of time).

        Messages in a request that got no answer yet are ``unconfirmed``: the
        endpoint may have stored them. The rest are ``timeout``: never sent, or
        refused with a retryable answer. A durable buffer keeps them instead.
        """
        with self._lock:
            batches, self._in_flight = self._in_flight, set()
            if self._buffer.durable:
                for batch in batches:
                    self._buffer.give_back(batch, len(batch) - batch.settled)
                self._kept = True
                self._done.notify_all()
                return
            leftovers = self._buffer.clear()
            unconfirmed: list[bytes] = []
            for batch in batches:
                rest = batch.rest
                unconfirmed += rest[: batch.sending]
                leftovers += rest[batch.sending :]
            self._settled += len(leftovers) + len(unconfirmed)
            self._done.notify_all()
        self._on_progress()
        self._accounting.drop("timeout", leftovers, "close() ran out of time")
        self._accounting.drop(
            "unconfirmed",
            unconfirmed,
            "close() ran out of time waiting for the answer: the endpoint may have stored them",
        )

    def _finish(self, batch: Batch, step: Settle) -> None:
        """Account for messages the delivery routine settled: delivered, dropped or kept."""
        count = len(step.messages)
        if step.reason is None:
            if self._settle(batch, count):
                self._accounting.add_delivered(count)
            return
        misconfigured = step.verdict == "misconfigured"
        if misconfigured:
            self._notices.misconfigured(step.status)
        if self._buffer.durable and (misconfigured or step.reason in _KEPT):
            # An outage, close() out of time, or a wrong key or endpoint (not the
            # events' fault): a durable buffer keeps them for later.
            pause = misconfigured or step.reason == "retries_exhausted"
            self._keep(batch, count, step.detail, pause=pause)
            return
        self._drop(batch, count, step.reason, step.detail)

    def _drop(self, batch: Batch, count: int, reason: DropReason, detail: str) -> None:
        messages = batch.messages[batch.settled : batch.settled + count]
        if self._settle(batch, count):
            self._accounting.drop(reason, messages, detail)

    def _keep(self, batch: Batch, count: int, detail: str, *, pause: bool) -> None:
        """Give messages back to a durable buffer; ``pause``: the worker rests before more."""
        if not self._settle(batch, count, kept=True):
            return
        with self._lock:
            self._pause = pause and not self._closed
        if self._pause:
            logger.warning(
                "b2b-events: %d event(s) kept in the spool after %s; retrying in %.0f s",
                count,
                detail,
                self._retry_pause(),
            )

    def _retry_pause(self) -> float:
        """Seconds the worker rests after a batch went back to a durable buffer."""
        return RETRY_PAUSE

    def _failed(self, batch: Batch) -> None:
        """A driver hit an unexpected error (logged): account for what of the batch is left."""
        count = len(batch) - batch.settled
        if self._buffer.durable:  # no reason to delete them, nor to retry at once
            self._settle(batch, count, kept=True)
            with self._lock:
                self._pause = not self._closed
            return
        self._drop(batch, count, "rejected", "unexpected client error")


_DROP_DETAIL: dict[DropReason, str] = {
    "closed": "tracked after close()",
    "queue_full": "queue at its limit",
    "spool_error": "the spool file could not be written",
}
