"""The thread worker: one daemon thread ("b2b-events-worker"), started on first use.

Callers only append serialized messages to the buffer; the worker cuts it into
batches and delivers each with the delivery routine, up to ``max_in_flight``
workers while batches wait for retries. Every message accepted is eventually
counted as delivered or dropped, including at close and at interpreter exit.
Models: sentry-python's ``BackgroundWorker`` and OpenTelemetry's ``BatchProcessor``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

from .accounting import Accounting
from .buffer import Batch, Buffer
from .core import _DROP_DETAIL, ERROR_PAUSE, _Core, logger
from .fork import at_fork
from .options import Options
from .routine import Wait, deliver, drive
from .shutdown import _open_engines
from .transport import Response, Transport, send_guarded

__all__ = ["Engine"]


class Engine(_Core):
    """The threaded engine: one daemon worker ("b2b-events-worker"), started on first use.

    Also the synchronous mode (``sync=True``): each message is sent in the caller's
    thread, with the same retry policy and accounting.
    """

    def __init__(
        self,
        transport: Transport,
        accounting: Accounting,
        options: Options,
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
        first_seen: float | None = None
        while True:
            action, first_seen = self._next_step(first_seen)
            if action == "stop":
                return None  # close() accounts for what is left
            if action == "take":
                return self._take_or_rest()
            if action == "park":
                self._parked += 1
                self._turn.wait()
                self._parked -= 1
            else:
                self._await_work(self._until_due(first_seen))

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
