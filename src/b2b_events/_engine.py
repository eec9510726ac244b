"""The delivery engine: a bounded queue, one background worker, flush and close.

Callers only append serialized messages to an in-memory queue; one daemon thread
("b2b-events-worker", started on first use) cuts the queue into batches and sends
them through the transport with the retry policy. Every message accepted is
eventually counted as delivered or dropped (``Accounting``), including at close
and at interpreter exit. Models: sentry-python's ``BackgroundWorker`` and
OpenTelemetry's ``BatchProcessor``.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ._accounting import Accounting, DropReason
from ._delivery.buffer import Batch, Buffer, MemoryBuffer
from ._delivery.policy import RetryPolicy
from ._delivery.routine import Settle, Wait, deliver, drive
from ._eventlog import close_open_writers
from ._fork import at_fork
from ._transport import Response, Transport, send_guarded
from ._wire import MAX_BATCH_BYTES

__all__ = ["Engine", "EngineOptions", "Overflow"]

logger = logging.getLogger("b2b_events.delivery")

Overflow = Literal["drop_newest", "drop_oldest", "block"]

_CONFIG_HINT = {
    401: "the write key was not accepted: check it belongs to this source",
    403: "the write key may not send to this source: check the key and the endpoint",
    404: "no such source or path: check the endpoint (e.g. https://api.segment.io) and the key",
}
_REDIRECT_HINT = "the endpoint redirects: configure the URL it redirects to (https?)"
_RETRY_WARN_EVERY = 60.0  # seconds between two warnings about failing attempts

RETRY_PAUSE = 5.0
"""Seconds the worker rests after a batch went back to a durable buffer (the spool)."""

ERROR_PAUSE = 1.0
"""Seconds the worker rests after the buffer could not be read."""

_KEPT: frozenset[DropReason] = frozenset({"timeout", "retries_exhausted"})
"""Drop reasons that, with a durable buffer, keep the messages instead."""


@dataclass(frozen=True)
class EngineOptions:
    """Queue, batch and retry limits; see ``Client`` for what each one means."""

    max_queue_events: int = 500_000
    max_queue_bytes: int = 256 * 1024 * 1024
    overflow: Overflow = "drop_newest"
    block_timeout: float = 1.0
    max_batch_events: int = 1_000
    max_batch_bytes: int = MAX_BATCH_BYTES
    flush_interval: float = 0.5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_in_flight: int = 4
    sync: bool = False
    shutdown_timeout: float = 5.0


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
        options: EngineOptions,
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
        self._misconfig_logged: set[int] = set()
        self._retry_warned = -math.inf  # when failing attempts were last logged as a warning
        self._retries_unwarned = 0  # failed attempts since (logged at INFO only)
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
        self._pid = os.getpid()

    def _ensure_worker(self) -> None:
        """With the lock held: make sure a driver will take what is queued."""
        raise NotImplementedError

    def _wake_worker(self) -> None:
        """With the lock held: a batch is due (or the queue just got its first message)."""
        raise NotImplementedError

    def _on_progress(self) -> None:
        """Messages were settled (flush waiters may be done). Threads use ``_done``."""

    def _my_turn(self) -> bool:
        """With the lock held: a worker may take a batch (no other one is sending now)."""
        return self._holding <= self._stalled

    def _add_sender(self) -> None:
        """With the lock held: a batch waits for its retry; let the next one go meanwhile."""

    def _stall(self, step: Wait) -> float:
        """A batch starts waiting for its retry (the driver ends it with ``_stalled -= 1``).

        Returns when the retry is due.
        """
        self._on_retry(step)
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
            deadline = time.monotonic() + self._opts.block_timeout
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

    def _on_retry(self, step: Wait) -> None:
        """A retryable failure: the first (then one a minute) is a warning with the plan."""
        response, wait = step.response, step.seconds
        self._accounting.add_retry()
        now = time.monotonic()
        if now - self._retry_warned < _RETRY_WARN_EVERY:
            self._retries_unwarned += 1
            logger.info(
                "b2b-events: batch failed (%s), retrying in %.2f s", response.describe(), wait
            )
            return
        earlier, self._retries_unwarned, self._retry_warned = self._retries_unwarned, 0, now
        policy = self._opts.retry
        logger.warning(
            "b2b-events: delivery failed (%s); retrying in %.2f s, up to %d attempts per "
            "batch within %.0f s, with backoff; events wait in the queue meanwhile%s",
            response.describe(),
            wait,
            policy.max_attempts,
            policy.max_time,
            f" ({earlier} more failed attempt(s) since the last warning)" if earlier else "",
        )

    def _log_misconfiguration(self, status: int) -> None:
        if status in self._misconfig_logged:
            return
        self._misconfig_logged.add(status)
        logger.error(
            "b2b-events: the endpoint answered HTTP %d: %s. "
            "Events are dropped until this is fixed.",
            status,
            _CONFIG_HINT.get(status, _REDIRECT_HINT),
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
            self._log_misconfiguration(step.status)
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


class Engine(_Core):
    """The threaded engine: one daemon worker ("b2b-events-worker"), started on first use.

    Also the synchronous mode (``sync=True``): each message is sent in the caller's
    thread, with the same retry policy and accounting.
    """

    def __init__(
        self,
        transport: Transport,
        accounting: Accounting,
        options: EngineOptions,
        *,
        batch_overhead: int,
        buffer: Buffer | None = None,
    ) -> None:
        """Create an engine; nothing starts until the first ``submit``."""
        self._transport = transport
        super().__init__(accounting, options, batch_overhead=batch_overhead, buffer=buffer)
        # The child of os.fork() inherits the queue, held locks and a dead worker
        # thread: it resets them.
        at_fork(after_in_child=self._after_fork_in_child)
        _open_engines.add(self)

    def _init_state(self) -> None:
        super()._init_state()
        self._work = threading.Condition(self._lock)  # wakes the worker
        self._turn = threading.Condition(self._lock)  # wakes workers waiting for their turn
        self._waiting = False  # the worker waits for messages (in _await_work)
        self._thread: threading.Thread | None = None
        self._spares: list[threading.Thread] = []  # more workers, up to max_in_flight in all

    def submit(self, data: bytes) -> None:
        """Queue one serialized message (or send it now, in sync mode). Never raises."""
        if self._pid != os.getpid():  # fork without the at-fork hook (belt and braces)
            self._after_fork_in_child()
        if self._opts.sync:
            self._submit_sync(data)
            return
        super().submit(data)

    def _ensure_worker(self) -> None:
        if self._thread is None:
            self._start_worker()

    def close_at_exit(self) -> None:
        """Called by the exit handler: close with ``shutdown_timeout``."""
        self.close(self._opts.shutdown_timeout)

    def _wake_worker(self) -> None:
        # Only a worker waiting for messages: not one busy sending (a burst would
        # pay a notify per call), nor one resting between retries or after an
        # outage, which new messages must not cut short. flush() and close() wake
        # those through ``_work`` directly.
        if self._waiting:
            self._waiting = False
            self._work.notify()
        elif self._stalled and self._my_turn():  # the workers rest before retries
            self._add_sender()

    def _await_work(self, timeout: float | None) -> None:
        """With the lock held: wait for a message, a due batch, flush() or close()."""
        self._waiting = True
        self._work.wait(timeout)
        self._waiting = False

    def _start_worker(self, *, spare: bool = False) -> None:
        thread = threading.Thread(target=self._run, name="b2b-events-worker", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: close() will send from its own thread
            logger.debug("b2b-events: cannot start the worker thread now", exc_info=True)
            return
        if spare:
            self._spares.append(thread)
        else:
            self._thread = thread

    def _add_sender(self) -> None:
        # A worker waiting for its turn takes the next batch; or a new one, while
        # there are fewer than max_in_flight (started here, on the first need).
        if self._closed or self._opts.sync:
            return
        if self._parked:
            self._turn.notify()
        elif self._queue_len() and 1 + len(self._spares) < self._opts.max_in_flight:
            self._start_worker(spare=True)

    def _workers(self) -> list[threading.Thread]:
        return [t for t in (self._thread, *self._spares) if t is not None and t.is_alive()]

    def flush(self, timeout: float) -> bool:
        """Wait until everything accepted so far is delivered or dropped, at most ``timeout`` s."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            target = self._accepted
            if self._done_below(target):
                return True
            worker_alive = self._thread is not None and self._thread.is_alive()
        if not worker_alive and not self._opts.sync:
            self._drain_here(deadline)
        with self._lock:
            self._flush_waiters += 1
            self._work.notify()
            try:
                return self._wait_settled(target, deadline)
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float) -> None:
        """Stop accepting, deliver what is queued within ``timeout`` s, drop the rest as timeout.

        Idempotent: a later call only waits (within its own timeout) for the first
        to finish; it neither shortens the first one's time nor drops anything.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            first = self._mark_closed(deadline)
            self._work.notify_all()
            self._turn.notify_all()
            workers = self._workers()
        me = threading.current_thread()
        for worker in workers:
            if worker is not me:
                worker.join(max(0.0, deadline - time.monotonic()))
        if not workers and first:
            self._drain_here(deadline)
        if me not in workers:
            # Sends running in other threads (sync mode) settle their own
            # messages: give them what is left of the time.
            with self._lock:
                self._wait_settled(self._accepted, deadline)
        if not first:
            return
        self._drop_leftovers()
        _open_engines.discard(self)
        try:
            self._transport.close()
        except Exception:
            logger.exception("b2b-events: closing the transport failed")
        self._accounting.log_unlogged()

    def _wait_settled(self, target: int, deadline: float) -> bool:
        """Lock held: wait until the messages numbered below ``target`` are done (``_done_below``).

        False at ``deadline``.
        """
        while not self._done_below(target):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._done.wait(remaining)
        return True

    def _run(self) -> None:
        self._rest_if_asked()  # a worker killed mid-batch gave it back: not at once again
        while True:
            with self._lock:
                batch = self._next_batch()
                if batch is None:
                    return
                self._holding += 1
            try:
                if batch:
                    self._deliver_batch(batch)
            except BaseException:  # not ours to swallow (gevent's Timeout, ...)
                logger.exception("b2b-events: the worker thread was stopped; replacing it")
                self._failed(batch)
                self._replace_worker()  # after a batch settled: never a restart loop
                raise
            finally:
                with self._lock:
                    self._holding -= 1
                    if self._parked:
                        self._turn.notify()

    def _replace_worker(self) -> None:
        """The worker thread is ending before close(): start another in its place."""
        me = threading.current_thread()
        with self._lock:
            if me in self._spares:
                self._spares.remove(me)  # the first worker goes on: no need for another
            elif not self._closed and self._thread is me:
                self._thread = None
                self._start_worker()  # now: with a full queue, no submit would start one

    def _drain_here(self, deadline: float) -> None:
        """Deliver the queue from the calling thread (no worker: after fork, or at exit)."""
        while time.monotonic() < deadline:
            with self._lock:
                batch = self._take_batch() if self._queue_len() else None
            if not batch:
                return
            self._deliver_batch(batch)

    def _next_batch(self) -> Batch | None:
        """With the lock held, wait until a batch is due and take it; None means stop."""
        opts = self._opts
        first_seen: float | None = None
        while True:
            if self._closed and self._give_up():
                return None  # out of time: close() accounts for what is left
            queued = self._queue_len()
            if not queued:
                if self._closed:
                    return None
                first_seen = None
                self._await_work(None)
                continue
            if not self._my_turn():
                self._parked += 1
                self._turn.wait()
                self._parked -= 1
                continue
            if (
                self._closed
                or self._flush_waiters
                or self._blocked
                or queued >= opts.max_batch_events
                or self._buffer.size >= self._budget
            ):
                return self._take_or_rest()
            now = time.monotonic()
            if first_seen is None:
                first_seen = now
            remaining = first_seen + opts.flush_interval - now
            if remaining <= 0:
                return self._take_or_rest()
            self._await_work(remaining)

    def _take_or_rest(self) -> Batch:
        """With the lock held: the next batch; if the buffer cannot be read, rest (empty)."""
        batch = self._take_batch()
        if batch is None:
            self._work.wait(ERROR_PAUSE)  # releases the lock; close() wakes it
            return Batch([], ())
        return batch

    def _wait(self, step: Wait) -> None:
        """Wait between attempts; end at once if close() leaves no time for the next one."""
        end = self._stall(step)
        with self._lock:
            try:
                while not self._give_up(end):
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return
                    self._work.wait(remaining)
            finally:
                self._stalled -= 1

    def _deliver_batch(self, batch: Batch) -> None:
        try:
            self._deliver(batch)
        except Exception:  # never let the worker die; account for the batch instead
            logger.exception("b2b-events: unexpected error while delivering a batch")
            self._failed(batch)
        self._rest_if_asked()

    def _rest_if_asked(self) -> None:
        """Rest ``RETRY_PAUSE`` s if a batch went back to the buffer (flush() or close() end it)."""
        with self._lock:
            if self._pause:
                self._pause = False
                if not self._closed:
                    self._work.wait(self._retry_pause())

    def _deliver(self, batch: Batch) -> None:
        """Send what is left of one batch with retries; split on 400/413; account for each."""
        drive(
            deliver(batch.rest, self._opts.retry, give_up=self._give_up),
            send=lambda part: self._send(batch, part),
            wait=self._wait,
            settle=lambda step: self._finish(batch, step),
        )

    def _send(self, batch: Batch, part: Sequence[bytes]) -> Response:
        """One attempt, marked as unanswered while it waits (see ``_drop_leftovers``)."""
        self._sending(batch, len(part))
        response = send_guarded(self._transport, part)
        self._sending(batch, 0)
        return response

    def _submit_sync(self, data: bytes) -> None:
        with self._lock:
            closed = self._closed
            if not closed:
                number = self._accepted
                batch = Batch([data], range(number, number + 1))
                self._in_flight.add(batch)
                self._accepted += 1
                self._accounting.tracked += 1
        if closed:
            self._accounting.refuse("closed", [data], _DROP_DETAIL["closed"])
            return
        self._deliver_batch(batch)

    def _after_fork_in_child(self) -> None:
        """Fresh locks, queue and thread; the parent's pending messages stay the parent's."""
        self._init_state()
        self._buffer = self._buffer.forked()
        self._accounting.reset()


_DROP_DETAIL: dict[DropReason, str] = {
    "closed": "tracked after close()",
    "queue_full": "queue at its limit",
    "spool_error": "the spool file could not be written",
}


class _ClosesAtExit(Protocol):
    def close_at_exit(self) -> None: ...


_open_engines: weakref.WeakSet[_ClosesAtExit] = weakref.WeakSet()


def _close_open_engines() -> None:
    """Deliver what open clients still hold before the interpreter exits, then finish the logs.

    Runs while the daemon worker threads are still alive; an engine without one
    sends from this thread, since new threads cannot start at shutdown. The
    event logs close last, so what the engines send to an ``EventLogTransport``
    (or record) is written.
    """
    for engine in list(_open_engines):
        engine.close_at_exit()
    close_open_writers()


atexit.register(_close_open_engines)

# A multiprocessing child started with fork (or forkserver) ends with os._exit(),
# so the atexit handler above never runs in it: without more, whatever its clients
# still hold is lost without a word. Its last act before os._exit() is
# multiprocessing.util._exit_function(), which runs the finalizers registered with
# multiprocessing.util.Finalize (https://docs.python.org/3/library/multiprocessing.html,
# "Contexts and start methods"; Lib/multiprocessing/process.py, BaseProcess._bootstrap).
# The child clears the finalizers it inherits before running its target, then calls
# the functions registered with register_after_fork: ours registers the finalizer.
_CHILD_END_PRIORITY = 10
"""Above 0: runs in the first round of finalizers, before the child joins its own children."""

_watching = False  # the after-fork function is registered (inherited by children)


def _watch_multiprocessing() -> None:
    """Make multiprocessing children deliver at their end (a no-op until it is imported)."""
    global _watching  # noqa: PLW0603
    util = sys.modules.get("multiprocessing.util")
    if util is None or _watching:
        return
    _watching = True
    util.register_after_fork(_close_open_engines, _deliver_at_child_end)
    process = sys.modules.get("multiprocessing.process")
    if process is not None and process.parent_process() is not None:
        _deliver_at_child_end(None)  # first imported inside a child's target: now


def _deliver_at_child_end(_: object) -> None:
    """In a multiprocessing child: close every open client before it ends."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:  # pragma: no branch - it called us
        util.Finalize(None, _close_open_engines, exitpriority=_CHILD_END_PRIORITY)


_watch_multiprocessing()
if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(before=_watch_multiprocessing)
