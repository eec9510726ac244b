"""The asyncio worker: asyncio tasks that drive a ``Queue``.

Everything that decides (queue limits, overflow, batch cuts, retry policy, what a
response means, drop reasons) is in ``queue``, ``routine`` and ``policy``, shared
with the thread worker; this module only waits and sends the asyncio way.

``track`` may be called from the loop or from any other thread: the queue is
thread-safe, and other threads wake the task with ``call_soon_threadsafe``. The
worker belongs to the loop it is created in, entered in (``async with``), or
first called in (a ``track``, ``flush``, ``aclose``); until it has one, events
simply wait in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from .accounting import Accounting
from .buffer import Batch, MemoryBuffer
from .options import Options
from .queue import Queue
from .routine import Wait, deliver, drive_async
from .shutdown import open_workers
from .transport import AsyncTransport, Response

__all__ = ["AsyncWorker"]

logger = logging.getLogger("b2b_events.delivery")


class AsyncWorker:
    """Delivers the ``Queue`` of one ``AsyncClient`` from asyncio tasks."""

    def __init__(
        self,
        transport: AsyncTransport,
        accounting: Accounting,
        options: Options,
        *,
        batch_overhead: int,
    ) -> None:
        """Create a worker; the task starts with the first call inside a running loop."""
        self._transport = transport
        self._opts = options
        self._transport_closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.forked()
        # Made inside the app's loop (a startup hook): events tracked from worker
        # threads (sync endpoints) can then start the task in it.
        self._loop = _running_loop()
        self.queue = Queue(MemoryBuffer(), accounting, options, self, batch_overhead=batch_overhead)
        self.submit = self.queue.submit
        open_workers.add(self)

    def bind(self) -> None:
        """Inside a running loop: adopt it and start the task (``async with`` does)."""
        with self.queue.lock:
            self._bind_here()

    # -- the Driver protocol (lock held, from any thread) ---------------------------

    def forked(self) -> None:
        """Unbound, no tasks: the parent's loop and tasks stay the parent's (a fork)."""
        self._loop = None
        self._task: asyncio.Task[None] | None = None
        self._spares: set[asyncio.Task[None]] = set()  # more tasks, up to max_in_flight in all
        self._wake = asyncio.Event()  # bound to a loop on first use (Python >= 3.10)
        self._progress = asyncio.Event()
        self._turn = asyncio.Event()  # a task waiting for its turn may take a batch

    def start(self) -> None:
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # another thread, or no loop yet
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._start_task)
            return
        if self._loop is None:
            self._loop = loop
        if loop is self._loop:
            self._start_task()

    def _start_task(self) -> None:
        """In the loop's thread: start the sending task once."""
        if self._task is None and self._loop is not None and not self._closed_for_good():
            self._task = self._loop.create_task(self._run(), name="b2b-events-async-worker")

    def _closed_for_good(self) -> bool:
        return self.queue.closed and not len(self.queue.buffer)

    def wake(self) -> None:
        loop = self._set(self._wake)
        if loop is not None and self.queue.stalled and self.queue.my_turn():
            loop.call_soon_threadsafe(self._add_sender_now)  # the tasks rest before retries

    def add_sender(self) -> None:
        # A task waiting for its turn takes the next batch; or a new one, while
        # there are fewer than max_in_flight (started here, on the first need).
        queue = self.queue
        if queue.closed or self._loop is None or _running_loop() is not self._loop:
            return
        if queue.parked:
            self._turn.set()
        elif len(queue.buffer) and 1 + len(self._spares) < self._opts.max_in_flight:
            spare = self._loop.create_task(self._run(spare=True), name="b2b-events-async-worker")
            self._spares.add(spare)
            spare.add_done_callback(self._spares.discard)

    def _add_sender_now(self) -> None:
        with self.queue.lock:
            if self.queue.stalled and self.queue.my_turn():
                self.add_sender()

    def progress(self) -> None:
        self._set(self._progress)

    def _set(self, event: asyncio.Event) -> asyncio.AbstractEventLoop | None:
        """Set ``event`` from any thread, in the bound loop; that loop (None: no live one)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return None
        if _running_loop() is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)
        return loop

    # -- flush and close --------------------------------------------------------

    async def flush(self, timeout: float) -> bool:
        """Wait until everything accepted so far is delivered or dropped, at most ``timeout`` s."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self.queue.lock:
            target = self.queue.accepted
            if self.queue.done_below(target):
                return True
            self._bind_here()
            self.queue.flush_waiters += 1
            self.wake()
        try:
            while True:
                self._progress.clear()
                with self.queue.lock:
                    if self.queue.done_below(target):
                        return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                await _wait(self._progress, remaining)
        finally:
            with self.queue.lock:
                self.queue.flush_waiters -= 1

    async def close(self, timeout: float) -> None:
        """Stop accepting, deliver what is queued within ``timeout`` s, drop the rest as timeout.

        A later call only waits (within its own timeout) for the first to finish.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self.queue.lock:
            first = self.queue.mark_closed(deadline)
            self._bind_here()
            self.wake()
        self._turn.set()
        me = asyncio.current_task()
        tasks = [t for t in (self._task, *self._spares) if t is not None and t is not me]
        tasks = [t for t in tasks if not t.done()]
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
            if first:
                for task in stuck:
                    task.cancel()  # stuck in a send: what it holds is counted below
        if not first:
            return  # the first close() decides what is dropped, and when
        self.queue.drop_leftovers()
        open_workers.discard(self)
        await self._close_transport()
        self.queue.accounting.log_unlogged()

    async def _close_transport(self) -> None:
        if self._transport_closed:
            return
        self._transport_closed = True
        try:
            await self._transport.aclose()
        except Exception:
            logger.exception("b2b-events: closing the transport failed")

    def _bind_here(self) -> None:
        """With the lock held, inside a running loop: adopt it and start the task.

        A loop that no longer runs (closed, or only stopped, as after
        ``run_until_complete``) is given up for this one, with its task and events.
        """
        loop = asyncio.get_running_loop()
        bound = self._loop
        if bound is None or bound.is_closed() or (bound is not loop and not bound.is_running()):
            if bound is not None and bound is not loop:
                self.forked()  # as in a child: the old loop's task and events never run again
            self._loop = loop
        if loop is self._loop:
            self._start_task()

    def close_at_exit(self) -> None:
        """At interpreter exit the loop is gone: count what is left, and say how to avoid it."""
        pending = self.queue.pending()
        if pending:
            logger.warning(
                "b2b-events: an AsyncClient was not closed; %d event(s) dropped at exit. "
                "Call `await client.aclose()` (e.g. in your app's shutdown hook).",
                pending,
            )
        with self.queue.lock:
            self.queue.closed = True
        self.queue.drop_leftovers()

    # -- the task -----------------------------------------------------------------

    async def _run(self, *, spare: bool = False) -> None:
        try:
            while True:
                batch = await self._next_batch()
                if batch is None:
                    return
                try:
                    await self._deliver_batch(batch)
                finally:
                    with self.queue.lock:
                        self.queue.holding -= 1
                    self._turn.set()
        except asyncio.CancelledError:
            if spare:
                return  # the first task delivers what the spares held (still in flight)
            # The loop is shutting down (asyncio.run() returned) without aclose():
            # deliver what we can within shutdown_timeout, count the rest.
            deadline = time.monotonic() + self._opts.shutdown_timeout
            with self.queue.lock:
                self.queue.mark_closed(deadline)
                interrupted = list(self.queue.in_flight)  # the sends that were cancelled
            with contextlib.suppress(asyncio.TimeoutError):  # a send as slow as its timeout
                await asyncio.wait_for(
                    self._deliver_the_rest(interrupted), max(0.0, deadline - time.monotonic())
                )
            self.queue.drop_leftovers()
            await self._close_transport()

    async def _deliver_the_rest(self, interrupted: list[Batch]) -> None:
        for batch in interrupted:  # again, with the same messageIds: none is lost to the cancel
            await self._deliver_batch(batch)
        while rest := self.queue.take_rest():
            await self._deliver_batch(rest)

    async def _next_batch(self) -> Batch | None:
        """Wait until a batch is due and take it; None means stop."""
        first_seen: float | None = None
        while True:
            with self.queue.lock:
                action, first_seen = self.queue.next_step(first_seen)
                if action == "stop":
                    return None  # close() accounts for what is left
                if action == "take":
                    self.queue.holding += 1
                    return self.queue.take() or Batch([], ())  # memory: always readable
                if action == "park":  # another task is sending: its batch or retry wakes us
                    self._turn.clear()
                    self.queue.parked += 1
                else:
                    self._wake.clear()  # under the lock: a later submit sets it again
            if action == "wait":
                await _wait(self._wake, self.queue.until_due(first_seen))
                continue
            try:
                await self._turn.wait()
            finally:
                with self.queue.lock:
                    self.queue.parked -= 1

    async def _wait(self, step: Wait) -> None:
        """Wait between attempts; end at once if close() leaves no time for the next one."""
        end = self.queue.stall(step)
        try:
            while not self.queue.give_up(end):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return
                self._wake.clear()
                await _wait(self._wake, remaining)
        finally:
            with self.queue.lock:
                self.queue.stalled -= 1

    async def _send_once(self, batch: Batch, part: Sequence[bytes]) -> Response:
        self.queue.sending(batch, len(part))  # a cancel leaves it marked: counted "unconfirmed"
        try:
            response = await self._transport.send(part)
        except Exception as exc:  # a custom transport broke its contract: retry it
            logger.debug("b2b-events: transport raised", exc_info=True)
            response = Response(0, detail=f"{type(exc).__name__}: {exc}")
        self.queue.sending(batch, 0)
        return response

    async def _deliver_batch(self, batch: Batch) -> None:
        """Send what is left of one batch with retries; split on 400/413; account for each."""
        queue = self.queue
        try:
            await drive_async(
                deliver(batch.rest, self._opts.retry, give_up=queue.give_up),
                send=lambda part: self._send_once(batch, part),
                wait=self._wait,
                settle=lambda step: queue.finish(batch, step),
            )
        except Exception:  # never let the task die; account for the batch instead
            logger.exception("b2b-events: unexpected error while delivering a batch")
            queue.failed(batch)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _wait(event: asyncio.Event, timeout: float | None) -> None:
    """Wait for ``event`` at most ``timeout`` seconds (None: no limit)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
