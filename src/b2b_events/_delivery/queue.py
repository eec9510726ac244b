"""The queue: a buffer, its limits, flush numbering, and the settling of every message.

A ``Queue`` holds a ``Buffer`` (``buffer.py``: memory, or the spool) and the
batches taken from it, and turns what the delivery routine decides
(``routine.py``) into accounting. It never waits and never sends: a driver does
(the thread worker in ``worker.py``, the asyncio worker in ``async_worker.py``),
and the queue tells it, through the ``Driver`` protocol, when there is work.
Thread-safe: ``submit`` may be called from any thread; everything else a driver
calls with ``lock`` held unless its docstring says otherwise.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Literal, Protocol

from .accounting import Accounting, DropReason
from .buffer import Batch, Buffer
from .fork import at_fork
from .notices import Notices
from .options import Options
from .routine import Settle, Wait

__all__ = ["ERROR_PAUSE", "RETRY_PAUSE", "Driver", "Queue"]

logger = logging.getLogger("b2b_events.delivery")

Next = Literal["stop", "take", "park", "wait"]

RETRY_PAUSE = 5.0
"""Seconds a driver rests after a batch went back to a durable buffer (the spool)."""

ERROR_PAUSE = 1.0
"""Seconds a driver rests after the buffer could not be read."""

_KEPT: frozenset[DropReason] = frozenset({"timeout", "retries_exhausted"})
"""Drop reasons that, with a durable buffer, keep the messages instead."""

_DROP_DETAIL: dict[DropReason, str] = {
    "closed": "tracked after close()",
    "queue_full": "queue at its limit",
    "spool_error": "the spool file could not be written",
}


class Driver(Protocol):
    """What the queue asks of the worker that drives it.

    With the lock held, except ``progress`` and ``forked`` (a child's first act).
    """

    def start(self) -> None:
        """Make sure a worker will take what is queued (started on first use)."""

    def wake(self) -> None:
        """A batch is due, or the queue just got its first message."""

    def add_sender(self) -> None:
        """A batch waits for its retry: let the next one go meanwhile (``max_in_flight``)."""

    def progress(self) -> None:
        """Messages were settled (lock not held): flush() waiters may be done."""

    def forked(self) -> None:
        """In a forked child: the parent's threads or tasks are not ours."""


class Queue:
    """Accepted messages, from ``submit`` until each is delivered or dropped.

    Every accepted message has a number, in the order it was accepted;
    ``done_below(n)`` is what ``flush()`` waits for, with either buffer.
    """

    def __init__(
        self,
        buffer: Buffer,
        accounting: Accounting,
        options: Options,
        driver: Driver,
        *,
        batch_overhead: int,
    ) -> None:
        """An empty queue over ``buffer``; ``driver`` is told when there is work."""
        self.buffer = buffer
        self.accounting = accounting
        self.opts = options
        self._driver = driver
        self._budget = options.max_batch_bytes - batch_overhead  # for messages and commas
        self.closed = False
        self._close_deadline = math.inf
        self._reset()
        at_fork(after_in_child=self._after_fork_in_child)
        if buffer.durable:
            # SQLite connections must not cross fork() (https://sqlite.org/howtocorrupt.html
            # section 2.6): the spool closes them before and reopens them after, in the
            # parent, under the lock; the child opens its own (Buffer.forked). A memory
            # queue has nothing to guard, and takes no lock around fork().
            at_fork(before=self._before_fork, after_in_parent=self._after_fork_in_parent)

    def _reset(self) -> None:
        """(Re)create everything a forked child must not share with its parent."""
        # Reentrant with a durable buffer: its before-fork hook takes the lock, and a
        # fork from a signal handler in the middle of track() holds it already.
        self.lock = threading.RLock() if self.buffer.durable else threading.Lock()
        self.done = threading.Condition(self.lock)  # wakes flush() and blocked submitters
        self.accepted = 0  # messages accepted (and the next one's number)
        self._settled = 0  # of those, delivered or dropped
        self._kept = False  # close() left the rest in a durable buffer for a later process
        self.pause = False  # a batch went back to a durable buffer: rest before the next
        self.in_flight: set[Batch] = set()  # taken from the buffer, not settled yet
        self.flush_waiters = 0
        self._blocked = 0
        # Bounded concurrency (max_in_flight): drivers take a batch only while no
        # other one is sending; a batch waiting for its retry lets another go.
        self.holding = 0  # drivers with a batch in hand
        self.stalled = 0  # of those, the ones resting before a retry
        self.parked = 0  # drivers waiting for their turn
        self.notices = Notices(self.opts.retry)  # its lock too: a child gets its own
        self.pid = os.getpid()

    # -- accepting ------------------------------------------------------------------

    def submit(self, data: bytes) -> bool:
        """Queue one serialized message, or account for it as dropped. Never blocks unless asked.

        Returns whether it was accepted (False: refused, ``closed`` or ``queue_full``).
        """
        size = len(data)
        buffer = self.buffer
        opts = self.opts
        evicted: list[bytes] = []
        with self.lock:
            queued = len(buffer)
            if self.closed:
                reason: DropReason | None = "closed"
            elif queued < opts.max_queue_events and buffer.size + size <= opts.max_queue_bytes:
                # ``_fits``, written out: one length read per event on the hot path
                reason = buffer.append(data, self.accepted)
            else:
                reason, evicted = self._make_room(size)
                if reason is None:
                    queued = len(buffer)
                    reason = buffer.append(data, self.accepted)
            if reason is None:
                self.accepted += 1
                self.accounting.tracked += 1
                self._driver.start()
                if (
                    queued == 0
                    or queued >= opts.max_batch_events - 1
                    or buffer.size >= self._budget
                ):
                    self._driver.wake()
        if evicted:
            self.accounting.drop("queue_full", evicted, "queue at its limit (drop_oldest)")
        if reason is None:
            return True
        self.refuse(reason, data)
        return False

    def refuse(self, reason: DropReason, data: bytes) -> None:
        """Count a message that was never accepted (``closed``, ``queue_full``, ...)."""
        self.accounting.refuse(reason, [data], _DROP_DETAIL[reason])

    def accept_now(self, data: bytes) -> Batch | None:
        """Accept one message as a batch of its own, sent by the caller (sync mode).

        None if closed (refused here).
        """
        with self.lock:
            if not self.closed:
                number = self.accepted
                batch = Batch([data], range(number, number + 1))
                self.in_flight.add(batch)
                self.accepted += 1
                self.accounting.tracked += 1
                return batch
        self.refuse("closed", data)
        return None

    def upkeep(self) -> bool:
        """Lock not held: the buffer takes in what it found (the spool: orphaned files).

        Adopted messages are numbered and counted as this client's. True if the
        buffer found messages, or knows of some it cannot take in yet.
        """
        found = self.buffer.scan()
        if found is None:
            return False
        with self.lock:
            adopted = self.buffer.adopt(found, self.accepted)
            self.accepted += adopted
            self.accounting.tracked += adopted
            self.done.notify_all()  # flush() waits for deferred files
        return True

    def _fits(self, size: int) -> bool:
        return (
            len(self.buffer) < self.opts.max_queue_events
            and self.buffer.size + size <= self.opts.max_queue_bytes
        )

    def _make_room(self, size: int) -> tuple[DropReason | None, list[bytes]]:
        """Apply the overflow policy with the lock held; return (reason to drop new, evicted)."""
        policy = self.opts.overflow
        if policy == "drop_oldest":
            evicted: list[bytes] = []
            while not self._fits(size) and (old := self.buffer.pop_oldest()) is not None:
                evicted.append(old)
            self._settled += len(evicted)
            return (None if self._fits(size) else "queue_full"), evicted
        if policy == "block":
            deadline = time.monotonic() + self.opts.block_wait
            self._blocked += 1
            self._driver.wake()  # room comes from sending now, not at the flush interval
            try:
                while not self._fits(size) and not self.closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return "queue_full", []
                    self.done.wait(remaining)
            finally:
                self._blocked -= 1
            return ("closed" if self.closed else None), []
        return "queue_full", []

    # -- what a driver does next (lock held) ---------------------------------------

    def next_step(self, first_seen: float | None) -> tuple[Next, float | None]:
        """What a driver does next, and since when a partial batch waits.

        ``stop`` (closed and empty, or out of time), ``take`` a batch now (full,
        due, or asked for by flush(), close() or a blocked caller), ``park``
        until another driver's batch ends or waits for a retry, or ``wait`` for
        a message or until the partial batch is due (``until_due``).
        """
        if self.closed and self.give_up():
            return "stop", None
        queued = len(self.buffer)
        if not queued:
            return ("stop" if self.closed else "wait"), None
        if not self.my_turn():
            return "park", first_seen
        if (
            self.closed
            or self.flush_waiters
            or self._blocked
            or queued >= self.opts.max_batch_events
            or self.buffer.size >= self._budget
        ):
            return "take", None
        now = time.monotonic()
        if first_seen is None:
            first_seen = now
        if now >= first_seen + self.opts.flush_interval:
            return "take", None
        return "wait", first_seen

    def until_due(self, first_seen: float | None) -> float | None:
        """Seconds until a partial batch seen first at ``first_seen`` is due (None: no batch)."""
        if first_seen is None:
            return None
        return max(0.0, first_seen + self.opts.flush_interval - time.monotonic())

    def my_turn(self) -> bool:
        """A driver may take a batch: no other one is sending now."""
        return self.holding <= self.stalled

    def take(self) -> Batch | None:
        """The next batch within the count and byte limits.

        None when the buffer cannot be read now (a spool file error, logged).
        """
        batch = self.buffer.take(self.opts.max_batch_events, self._budget)
        if batch:
            self.in_flight.add(batch)
        if self._blocked:
            self.done.notify_all()
        return batch

    def take_rest(self) -> Batch | None:
        """Lock not held: the next batch if any is queued (a driver sending what is left)."""
        with self.lock:
            return self.take() if len(self.buffer) else None

    def done_below(self, target: int) -> bool:
        """Every message numbered below ``target`` is settled.

        Not a count of settled messages: later ones settle first when an older
        batch is slow (a batch in retry, sync sends in other threads, adopted
        spool files sent first).
        """
        if self._kept:
            return True  # close() left the rest on disk: nothing more will settle here
        lowest = self.buffer.lowest()
        if lowest is not None and lowest < target:
            return False
        for batch in self.in_flight:
            first = batch.lowest()
            if first is not None and first < target:
                return False
        return True

    def wait_settled(self, target: int, deadline: float) -> bool:
        """Wait until ``done_below(target)``; False at ``deadline`` (for threads)."""
        while not self.done_below(target):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.done.wait(remaining)
        return True

    def give_up(self, due: float | None = None) -> bool:
        """Lock not needed: closing, and out of time now, or by ``due`` (a retry's)."""
        deadline = self._close_deadline
        return self.closed and (
            time.monotonic() >= deadline or (due is not None and due > deadline)
        )

    def mark_closed(self, deadline: float) -> bool:
        """Stop accepting; return True the first time.

        Only the first call sets the deadline: a later ``close()`` with a shorter
        timeout waits for the first to finish, it does not cut its work short.
        """
        first = not self.closed
        if first:
            self.closed = True
            self._close_deadline = deadline
        self.done.notify_all()
        return first

    def pending(self) -> int:
        """Lock not held: messages accepted and not yet delivered or dropped."""
        with self.lock:
            return self.accepted - self._settled

    # -- settling (lock not held) ------------------------------------------------------

    def stall(self, step: Wait) -> float:
        """A batch starts waiting for its retry (the driver ends it with ``stalled -= 1``).

        Returns when the retry is due.
        """
        self.accounting.add_retry()
        self.notices.retry(step)
        with self.lock:
            self.stalled += 1
            self._driver.add_sender()
        return time.monotonic() + step.seconds

    def sending(self, batch: Batch, count: int) -> None:
        """Mark the next ``count`` messages of ``batch`` as in a request (0: answered).

        Not unmarked when a send is cut off (an asyncio task cancelled): close()
        counts such messages as ``unconfirmed``, not ``timeout``.
        """
        with self.lock:
            batch.sending = count

    def finish(self, batch: Batch, step: Settle) -> None:
        """Account for messages the delivery routine settled: delivered, dropped or kept."""
        count = len(step.messages)
        if step.reason is None:
            if self._settle(batch, count):
                self.accounting.add_delivered(count)
            return
        misconfigured = step.verdict == "misconfigured"
        if misconfigured:
            self.notices.misconfigured(step.status)
        if self.buffer.durable and (misconfigured or step.reason in _KEPT):
            # An outage, close() out of time, or a wrong key or endpoint (not the
            # events' fault): a durable buffer keeps them for later.
            pause = misconfigured or step.reason == "retries_exhausted"
            self._keep(batch, count, step.detail, pause=pause)
            return
        self._drop(batch, count, step.reason, step.detail)

    def failed(self, batch: Batch) -> None:
        """A driver hit an unexpected error (logged): account for what of the batch is left."""
        count = len(batch) - batch.settled
        if self.buffer.durable:  # no reason to delete them, nor to retry at once
            self._settle(batch, count, kept=True)
            with self.lock:
                self.pause = not self.closed
            return
        self._drop(batch, count, "rejected", "unexpected client error")

    def _settle(self, batch: Batch, count: int, *, kept: bool = False) -> bool:
        """The next ``count`` messages of ``batch`` are accounted for (``kept``: given back).

        False if close() already counted them.
        """
        with self.lock:
            if batch not in self.in_flight:
                return False
            if kept:  # back in the buffer: taken again later, or by a later process
                self.buffer.give_back(batch, count)
            else:
                self.buffer.release(batch, count)
                self._settled += count
            batch.settled += count
            batch.sending = 0  # a send cut off by an exception: settled now
            if batch.settled >= len(batch):
                self.in_flight.discard(batch)
            self.done.notify_all()
        self._driver.progress()
        return True

    def _drop(self, batch: Batch, count: int, reason: DropReason, detail: str) -> None:
        messages = batch.messages[batch.settled : batch.settled + count]
        if self._settle(batch, count):
            self.accounting.drop(reason, messages, detail)

    def _keep(self, batch: Batch, count: int, detail: str, *, pause: bool) -> None:
        """Give messages back to a durable buffer; ``pause``: the driver rests before more."""
        if not self._settle(batch, count, kept=True):
            return
        with self.lock:
            self.pause = pause and not self.closed
        if self.pause:
            logger.warning(
                "b2b-events: %d event(s) kept in the spool after %s; retrying in %.0f s",
                count,
                detail,
                RETRY_PAUSE,
            )

    def drop_leftovers(self) -> None:
        """Count what is still queued or in flight as dropped (close ran out of time).

        Messages in a request that got no answer yet are ``unconfirmed``: the
        endpoint may have stored them. The rest are ``timeout``: never sent, or
        refused with a retryable answer. A durable buffer keeps them instead.
        """
        if self.buffer.durable:
            self._keep_leftovers()
            return
        with self.lock:
            batches, self.in_flight = self.in_flight, set()
            leftovers = self.buffer.clear()
            unconfirmed: list[bytes] = []
            for batch in batches:
                rest = batch.rest
                unconfirmed += rest[: batch.sending]
                leftovers += rest[batch.sending :]
            self._settled += len(leftovers) + len(unconfirmed)
            self.done.notify_all()
        self._driver.progress()
        self.accounting.drop("timeout", leftovers, "close() ran out of time")
        self.accounting.drop(
            "unconfirmed",
            unconfirmed,
            "close() ran out of time waiting for the answer: the endpoint may have stored them",
        )

    def _keep_leftovers(self) -> None:
        """What close() could not deliver goes back to the durable buffer, for a later process."""
        with self.lock:
            batches, self.in_flight = self.in_flight, set()
            for batch in batches:
                self.buffer.give_back(batch, len(batch) - batch.settled)
            self._kept = True
            self.done.notify_all()
            remaining = self.accepted - self._settled
        if remaining:
            logger.warning(
                "b2b-events: %d event(s) stay in the spool %s; the next client started "
                "with this spool path delivers them",
                remaining,
                self.buffer.where,
            )

    # -- fork ----------------------------------------------------------------------------

    def after_fork(self) -> None:
        """In a child forked without the at-fork hook (belt and braces): as the hook does."""
        self._after_fork_in_child()

    def _before_fork(self) -> None:
        self.lock.acquire()
        self.buffer.suspend()

    def _after_fork_in_parent(self) -> None:
        try:
            self.buffer.resume()
        finally:
            self.lock.release()

    def _after_fork_in_child(self) -> None:
        """Fresh locks and an empty buffer: the parent's pending messages stay the parent's."""
        self._reset()
        self.accounting.reset()
        self._driver.forked()  # first: the worker is whole even if the buffer cannot be
        self.buffer = self.buffer.forked()
