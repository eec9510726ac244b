"""The sending side of a replay: one thread that posts batches in order, one at a time.

Each batch goes through the clients' delivery routine (``_delivery.routine``:
the same rules for 429, ``Retry-After``, 5xx and the 400/413 split), driven
with blocking I/O. A message the endpoint refuses alone is a problem and the
replay goes on; a batch that cannot be delivered otherwise stops the run
(``failure``), and what follows it is never acknowledged. Reading overlaps with
the request in flight; a queue of two batches keeps memory flat. ``DryRun``
takes the sender's place when nothing is to be sent.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from functools import partial

from pydantic_core import from_json

from .._delivery.policy import RetryPolicy
from .._delivery.routine import Settle, Wait, deliver, drive
from .._delivery.transport import Transport, send_guarded
from .._delivery.wire import message_name
from .batcher import Batch
from .counts import SendCounts

__all__ = ["DryRun", "Sender", "Settled"]

logger = logging.getLogger("b2b_events.replay")

Settled = Callable[[Batch, int, int], None]
"""``settled(batch, delivered, rejected)``: called in order for each batch the run keeps."""

_PUT_POLL = 0.1  # seconds between checks for a stop while the queue is full


class _Outcome:
    """One batch's delivery: what it settled, the attempts of the part in hand, why it failed."""

    __slots__ = ("attempt", "delivered", "failure", "rejected")

    def __init__(self) -> None:
        self.delivered = self.rejected = self.attempt = 0
        self.failure: str | None = None


class Sender:
    """Posts batches in order in a thread of its own; ``settled`` for each, or the run stops."""

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        *,
        counts: SendCounts,
        settled: Settled,
        problem: Callable[[str], None],
        on_retry: Callable[[int, str, float], None] | None,
        stop: threading.Event,
    ) -> None:
        self.failure: str | None = None  # why the run stopped, once a batch failed
        self._send = partial(send_guarded, transport)
        self._policy = policy
        self._counts = counts
        self._settled = settled
        self._problem = problem
        self._on_retry = on_retry
        self._stop = stop
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._run, name="b2b-events-replay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, batch: Batch) -> bool:
        """Queue ``batch`` for sending; False if the run stopped while the queue was full."""
        while True:
            try:
                self._queue.put(batch, timeout=_PUT_POLL)
                return True
            except queue.Full:
                if self._stop.is_set():
                    return False
                if not self._thread.is_alive():  # pragma: no cover - it never dies early
                    return False

    def finish(self) -> None:
        """No more batches: wait until the queued ones are sent (or skipped, once stopped)."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=_PUT_POLL)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._stop.is_set():
                continue  # stopping: what is queued stays unsent (and unacknowledged)
            try:
                outcome = self._deliver(batch)
            except Exception as exc:  # never leave the reading side waiting on a dead thread
                logger.exception("b2b-events: unexpected error while replaying a batch")
                outcome = _Outcome()
                outcome.failure = f"unexpected error: {type(exc).__name__}: {exc}"
            if outcome.failure is None:
                self._settled(batch, outcome.delivered, outcome.rejected)
            elif not self._stop.is_set():  # else the stop asked for it: interrupted, not failed
                self.failure = outcome.failure
                self._stop.set()

    def _deliver(self, batch: Batch) -> _Outcome:
        """Send one batch, splitting on 400/413, until each message is settled."""
        outcome = _Outcome()
        if batch.messages:
            stop = self._stop
            drive(
                deliver(
                    batch.messages,
                    self._policy,
                    give_up=lambda due: stop.is_set() or outcome.failure is not None,
                ),
                send=self._send,
                wait=partial(self._wait, outcome),
                settle=partial(self._settle, batch, outcome),
            )
        return outcome

    def _settle(self, batch: Batch, outcome: _Outcome, step: Settle) -> None:
        outcome.attempt = 0  # the next part (of a split) counts its own attempts
        if outcome.failure is not None:
            return  # the rest of a batch whose run stops: unacknowledged
        count = len(step.messages)
        if step.reason is None:
            self._counts.delivered += count
            outcome.delivered += count
        elif step.verdict == "split":  # this one message, refused on its own: report it, go on
            self._counts.rejected += 1
            outcome.rejected += 1
            file, line = batch.where[step.start]
            name = message_name(from_json(step.messages[0])) or "?"
            self._problem(f"{file}:{line}: {name}: refused by the endpoint ({step.detail})")
        else:
            outcome.failure = _failure(step)

    def _wait(self, outcome: _Outcome, step: Wait) -> None:
        """Wait before a retry; a stop ends the wait (and ``give_up`` the retries)."""
        self._counts.retries += 1
        outcome.attempt += 1
        reason = step.response.describe()
        wait = step.seconds
        logger.info("b2b-events: replay batch failed (%s), retrying in %.2f s", reason, wait)
        if self._on_retry is not None:
            self._on_retry(outcome.attempt, reason, wait)
        self._stop.wait(wait)


def _failure(step: Settle) -> str:
    """Why the run stops at a part that was neither delivered nor refused alone."""
    if step.verdict == "retry":
        return f"the endpoint kept failing ({step.detail})"
    if step.verdict == "misconfigured":
        return f"the endpoint answered {step.detail}: check the endpoint and the write key"
    if step.verdict is None:
        return "stopped"
    return f"the endpoint refused a batch ({step.detail})"


class DryRun:
    """The sender of a dry run: each batch is settled at once, nothing sent."""

    failure: str | None = None

    def __init__(self, *, settled: Settled, stop: threading.Event) -> None:
        self._settled = settled
        self._stop = stop

    def start(self) -> None:
        pass

    def put(self, batch: Batch) -> bool:
        self._settled(batch, 0, 0)
        return not self._stop.is_set()

    def finish(self) -> None:
        pass
