"""The one delivery routine, sans I/O, and the two loops that drive it.

``deliver(messages, policy, give_up=...)`` is a generator that says what to do
next, one step at a time: ``Send`` these messages (answer with the
``Response``), ``Wait`` before a retry, ``Settle`` these messages (delivered,
or dropped with a reason). It decides everything (classify each response once,
retry within the policy's bounds, halve a batch on 400/413 until the refused
messages stand alone, the drop reason) and does nothing: no sockets, no
sleeping, no locks (h11's and httpcore's style). ``drive`` runs it with a
blocking ``send`` and ``wait`` (the worker thread, sync mode, replay);
``drive_async`` awaits them (the asyncio task). The drivers cannot drift apart:
they only do the I/O.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass

from .accounting import DropReason
from .policy import RetryPolicy, Verdict, classify, drop_reason
from .transport import Response

__all__ = ["Routine", "Send", "Settle", "Step", "Wait", "deliver", "drive", "drive_async"]


@dataclass(frozen=True, slots=True)
class Send:
    """Put ``messages`` in one request; answer the routine with the ``Response``."""

    messages: Sequence[bytes]


@dataclass(frozen=True, slots=True)
class Wait:
    """A retryable ``response``: wait ``seconds`` before the next attempt (less if closing)."""

    seconds: float
    response: Response


@dataclass(frozen=True, slots=True)
class Settle:
    """``messages`` (at ``start`` in the batch) are done: delivered if ``reason`` is None.

    ``verdict`` is what the last response meant (None: never sent, as close()
    ran out of time first); ``detail`` says why, for logs and ``last_drop``.
    """

    messages: Sequence[bytes]
    start: int
    reason: DropReason | None
    verdict: Verdict | None
    detail: str = ""
    status: int = 0


Step = Send | Wait | Settle
Routine = Generator[Step, Response | None, None]

GiveUp = Callable[[float], bool]
"""``give_up(due)``: True when no attempt may start at monotonic time ``due`` (closing, late)."""

_OUT_OF_TIME = "close() ran out of time"


def deliver(
    messages: Sequence[bytes],
    policy: RetryPolicy,
    *,
    give_up: GiveUp,
    clock: Callable[[], float] = time.monotonic,
) -> Routine:
    """The steps that deliver one batch, each message settled exactly once.

    Args:
        messages: The batch; every attempt sends the same messages (and messageIds).
        policy: Attempt and time bounds of each request (each half of a split too).
        give_up: Asked before each attempt and each wait.
        clock: Monotonic seconds.
    """
    return _part(messages, 0, policy, give_up, clock)


def _part(
    messages: Sequence[bytes],
    start: int,
    policy: RetryPolicy,
    give_up: GiveUp,
    clock: Callable[[], float],
) -> Routine:
    now = clock()
    if give_up(now):
        yield Settle(messages, start, "timeout", None, _OUT_OF_TIME)
        return
    retries = policy.start(now)
    while True:
        response = yield Send(messages)
        assert response is not None, "answer a Send with its Response"
        verdict = classify(response)
        if verdict == "split" and len(messages) > 1:
            # 400 or 413 for a batch: halve it until the refused messages stand alone.
            half = len(messages) // 2
            yield from _part(messages[:half], start, policy, give_up, clock)
            yield from _part(messages[half:], start + half, policy, give_up, clock)
            return
        now = due = clock()
        if verdict == "retry":
            wait = None if give_up(now) else retries.after_failure(response, now)
            if wait is not None:
                due = now + wait
                yield Wait(wait, response)
                if not give_up(due):
                    continue
        if verdict == "delivered":
            yield Settle(messages, start, None, verdict, "", response.status)
        else:
            reason = drop_reason(verdict, response, giving_up=give_up(due))
            yield Settle(messages, start, reason, verdict, response.describe(), response.status)
        return


def drive(
    routine: Routine,
    *,
    send: Callable[[Sequence[bytes]], Response],
    wait: Callable[[Wait], None],
    settle: Callable[[Settle], None],
) -> None:
    """Run ``routine`` to its end with blocking I/O."""
    answer: Response | None = None
    while True:
        try:
            step = routine.send(answer)
        except StopIteration:
            return
        answer = None
        if isinstance(step, Send):
            answer = send(step.messages)
        elif isinstance(step, Wait):
            wait(step)
        else:
            settle(step)


async def drive_async(
    routine: Routine,
    *,
    send: Callable[[Sequence[bytes]], Awaitable[Response]],
    wait: Callable[[Wait], Awaitable[None]],
    settle: Callable[[Settle], None],
) -> None:
    """Run ``routine`` to its end, awaiting the I/O (``drive`` for asyncio)."""
    answer: Response | None = None
    while True:
        try:
            step = routine.send(answer)
        except StopIteration:
            return
        answer = None
        if isinstance(step, Send):
            answer = await send(step.messages)
        elif isinstance(step, Wait):
            await wait(step)
        else:
            settle(step)
