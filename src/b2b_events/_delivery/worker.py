"""The thread worker: daemon threads ("b2b-events-worker") that drive a ``Queue``.

Callers only append serialized messages to the queue; a worker thread cuts it
into batches and delivers each with the delivery routine, up to
``max_in_flight`` threads while batches wait for retries (one with a spool: its
rows, files and pauses are one thread's). Every message accepted is eventually
counted as delivered or dropped, including at close and at interpreter exit.
Models: sentry-python's ``BackgroundWorker`` and OpenTelemetry's ``BatchProcessor``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

from .accounting import Accounting
from .buffer import Batch, Buffer, MemoryBuffer
from .options import Options
from .queue import ERROR_PAUSE, RETRY_PAUSE, Queue, logger
from .routine import Wait, deliver, drive
from .shutdown import open_workers
from .transport import Response, Transport, send_guarded

__all__ = ["ThreadWorker"]


class ThreadWorker:
    """Delivers a ``Queue`` from daemon threads, started on first use.

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
        """Create a worker; no thread starts until the first ``submit``.

        With a spool, messages that earlier processes left are sent first, now.
        """
        self._transport = transport
        self._opts = options
        self._new_threads_state()
        self.queue = Queue(
            MemoryBuffer() if buffer is None else buffer,
            accounting,
            options,
            self,
            batch_overhead=batch_overhead,
        )
        self._new_conditions()
        open_workers.add(self)
        if self.queue.upkeep():  # the thread also retries files it could not adopt
            with self.queue.lock:
                self.start()  # it looks at the queue before it ever waits

    def _new_threads_state(self) -> None:
        self._waiting = False  # the worker waits for messages (in _await_work)
        self._thread: threading.Thread | None = None
        self._spares: list[threading.Thread] = []  # more threads, up to max_in_flight in all

    def _new_conditions(self) -> None:
        self._work = threading.Condition(self.queue.lock)  # wakes the worker
        self._turn = threading.Condition(self.queue.lock)  # wakes workers waiting their turn

    def submit(self, data: bytes) -> bool:
        """Queue one serialized message (or send it now, in sync mode); whether it was accepted.

        Never raises. A message accepted in sync mode is delivered or dropped before this returns.
        """
        if self.queue.pid != os.getpid():  # a fork without the at-fork hook (belt and braces)
            self.queue.after_fork()
        if not self._opts.sync:
            return self.queue.submit(data)
        if (batch := self.queue.accept_now(data)) is None:
            return False
        self._deliver_batch(batch)
        return True

    # -- the Driver protocol (lock held) ---------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._start_thread()

    def wake(self) -> None:
        # Only a worker waiting for messages: not one busy sending (a burst would
        # pay a notify per call), nor one resting between retries or after an
        # outage, which new messages must not cut short. flush() and close() wake
        # those through ``_work`` directly.
        if self._waiting:
            self._waiting = False
            self._work.notify()
        elif self.queue.stalled and self.queue.my_turn():  # the workers rest before retries
            self.add_sender()

    def add_sender(self) -> None:
        # A worker waiting for its turn takes the next batch; or a new one, while
        # there are fewer than max_in_flight (started here, on the first need).
        queue = self.queue
        if queue.closed or self._opts.sync or queue.buffer.durable:
            return
        if queue.parked:
            self._turn.notify()
        elif len(queue.buffer) and 1 + len(self._spares) < self._opts.max_in_flight:
            self._start_thread(spare=True)

    def progress(self) -> None:
        pass  # flush() waits on the queue's condition

    def forked(self) -> None:
        """The parent's threads do not exist in the child."""
        self._new_threads_state()
        self._new_conditions()

    # -- flush and close ---------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything accepted so far is delivered or dropped, at most ``timeout`` s.

        With a spool, also until no orphaned file waits to be adopted.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        queue = self.queue
        while True:
            with queue.lock:
                target = queue.accepted
                settled = queue.done_below(target)
                worker_alive = self._thread is not None and self._thread.is_alive()
            if not settled:
                if not worker_alive and not self._opts.sync:
                    self._drain_here(deadline)
                with queue.lock:
                    queue.flush_waiters += 1
                    self._work.notify()
                    try:
                        if not queue.wait_settled(target, deadline):
                            return False
                    finally:
                        queue.flush_waiters -= 1
            with queue.lock:
                if not queue.buffer.waiting:
                    return True
                self.start()  # it retries the adoption
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                queue.done.wait(remaining)  # until a scan: then flush what it adopted

    def close(self, timeout: float) -> None:
        """Stop accepting, deliver what is queued within ``timeout`` s, drop the rest as timeout.

        Idempotent: a later call only waits (within its own timeout) for the first
        to finish; it neither shortens the first one's time nor drops anything.
        With a spool, what is left stays in its file.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        queue = self.queue
        with queue.lock:
            first = queue.mark_closed(deadline)
            self._work.notify_all()
            self._turn.notify_all()
            workers = [t for t in (self._thread, *self._spares) if t is not None and t.is_alive()]
        me = threading.current_thread()
        for worker in workers:
            if worker is not me:
                worker.join(max(0.0, deadline - time.monotonic()))
        if not workers and first:
            self._drain_here(deadline)
        if me not in workers:
            # Sends running in other threads (sync mode) settle their own
            # messages: give them what is left of the time.
            with queue.lock:
                queue.wait_settled(queue.accepted, deadline)
        if first:
            queue.drop_leftovers()
            open_workers.discard(self)
            try:
                self._transport.close()
            except Exception:
                logger.exception("b2b-events: closing the transport failed")
            queue.accounting.log_unlogged()
        with queue.lock:
            if self._thread is None or not self._thread.is_alive():
                queue.buffer.close()  # else the thread closes it as it ends (_run)

    def close_at_exit(self) -> None:
        """Called by the exit handler: close with ``shutdown_timeout``."""
        self.close(self._opts.shutdown_timeout)

    # -- the threads -------------------------------------------------------------------

    def _start_thread(self, *, spare: bool = False) -> None:
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

    def _run(self) -> None:
        queue = self.queue
        try:
            self._rest_if_asked()  # a worker killed mid-batch gave it back: not at once again
            while True:
                with queue.lock:
                    batch = self._next_batch()
                    if batch is None:
                        return
                    queue.holding += 1
                try:
                    if batch:
                        self._deliver_batch(batch)
                except BaseException:  # not ours to swallow (gevent's Timeout, ...)
                    logger.exception("b2b-events: the worker thread was stopped; replacing it")
                    queue.failed(batch)
                    self._replace_thread()  # after a batch settled: never a restart loop
                    raise
                finally:
                    with queue.lock:
                        queue.holding -= 1
                        if queue.parked:
                            self._turn.notify()
        finally:
            with queue.lock:
                # A worker that outlived close(): the files are its to close, unless
                # it was replaced (_replace_thread) and its successor still runs.
                if queue.closed and self._thread in (None, threading.current_thread()):
                    queue.buffer.close()

    def _replace_thread(self) -> None:
        """The worker thread is ending before close(): start another in its place."""
        me = threading.current_thread()
        with self.queue.lock:
            if me in self._spares:
                self._spares.remove(me)  # the first worker goes on: no need for another
            elif not self.queue.closed and self._thread is me:
                self._thread = None
                self._start_thread()  # now: with a full queue, no submit would start one

    def _drain_here(self, deadline: float) -> None:
        """Deliver the queue from the calling thread (no worker: after fork, or at exit)."""
        while time.monotonic() < deadline and (batch := self.queue.take_rest()):
            self._deliver_batch(batch)

    def _next_batch(self) -> Batch | None:
        """With the lock held, wait until a batch is due and take it; None means stop."""
        queue = self.queue
        first_seen: float | None = None
        while True:
            action, first_seen = queue.next_step(first_seen)
            if action == "stop":
                return None  # close() accounts for what is left
            if action == "take":
                batch = queue.take()
                if batch is None:  # the buffer cannot be read now: rest (close() wakes it)
                    self._work.wait(ERROR_PAUSE)
                    return Batch([], ())
                return batch
            if action == "park":
                queue.parked += 1
                self._turn.wait()
                queue.parked -= 1
            else:
                self._await_work(queue.until_due(first_seen))

    def _await_work(self, timeout: float | None) -> None:
        """With the lock held: wait for a message, a due batch, flush() or close().

        A spool file that could not be adopted is looked at again even when
        idle: its events wait, and so does flush().
        """
        queue = self.queue
        due = None if queue.closed else queue.buffer.upkeep_due()
        if due is not None:
            if due <= time.monotonic():
                queue.lock.release()  # as the wait would: the caller looks at the queue again
                try:
                    queue.upkeep()
                finally:
                    queue.lock.acquire()
                return
            until = due - time.monotonic()
            timeout = until if timeout is None else min(timeout, until)
        self._waiting = True
        self._work.wait(timeout)
        self._waiting = False

    def _rest_if_asked(self) -> None:
        """Rest ``RETRY_PAUSE`` s if a batch went back to the buffer (flush() or close() end it)."""
        queue = self.queue
        with queue.lock:
            if queue.pause:
                queue.pause = False
                if not queue.closed:
                    self._work.wait(RETRY_PAUSE)

    def _deliver_batch(self, batch: Batch) -> None:
        """Send what is left of one batch with retries; split on 400/413; account for each."""
        queue = self.queue
        try:
            drive(
                deliver(batch.rest, self._opts.retry, give_up=queue.give_up),
                send=lambda part: self._send(batch, part),
                wait=self._wait,
                settle=lambda step: queue.finish(batch, step),
            )
        except Exception:  # never let the worker die; account for the batch instead
            logger.exception("b2b-events: unexpected error while delivering a batch")
            queue.failed(batch)
        self._rest_if_asked()
        queue.upkeep()  # the spool: every ADOPT_EVERY s, the files of processes that died

    def _send(self, batch: Batch, part: Sequence[bytes]) -> Response:
        """One attempt, marked as unanswered while it waits (see ``Queue.drop_leftovers``)."""
        self.queue.sending(batch, len(part))
        response = send_guarded(self._transport, part)
        self.queue.sending(batch, 0)
        return response

    def _wait(self, step: Wait) -> None:
        """Wait between attempts; end at once if close() leaves no time for the next one."""
        queue = self.queue
        end = queue.stall(step)
        with queue.lock:
            try:
                while not queue.give_up(end):
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return
                    self._work.wait(remaining)
            finally:
                queue.stalled -= 1
