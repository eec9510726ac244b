"""Delivery policy: what a response means, and when to try again.

Pure decisions, no I/O and no threads, so the threaded client (and an asyncio
client later) share one definition. The status rules follow Segment's libraries
(SPEC.md, "The batch endpoint"): network errors, 408, 429 and 5xx except 501 and
505 are retried with exponential backoff and full jitter, honouring
``Retry-After``; 400 and 413 on a batch of several messages split it to isolate
the culprit; anything else is final.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import tenacity

from ._accounting import DropReason
from ._transport import Response

__all__ = [
    "RetryPolicy",
    "Verdict",
    "classify",
    "drop_reason",
    "send_with_retries",
    "send_with_retries_async",
]

Verdict = Literal["delivered", "retry", "split", "misconfigured", "rejected"]

_NOT_RETRIED_5XX = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported
# Answers that point at the client's settings (key, endpoint) rather than the events.
_MISCONFIGURED = frozenset({301, 302, 303, 307, 308, 401, 403, 404})


def classify(response: Response) -> Verdict:
    """Map one attempt's outcome to what the engine should do next."""
    status = response.status
    if 200 <= status < 300:
        return "delivered"
    if (
        status == 0
        or status in (408, 429)
        or (500 <= status < 600 and status not in _NOT_RETRIED_5XX)
    ):
        return "retry"
    if status in (400, 413):
        return "split"
    if status in _MISCONFIGURED:
        return "misconfigured"
    return "rejected"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying one batch.

    Attributes:
        max_attempts: Attempts in all, the first included.
        max_time: Seconds from the first attempt after which no new attempt starts.
        max_retry_after: Cap on a server's ``Retry-After``, in seconds.
        backoff: Base of the exponential backoff, in seconds (full jitter).
        max_backoff: Cap on one backoff wait, in seconds.
    """

    max_attempts: int = 10
    max_time: float = 120.0
    max_retry_after: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 30.0


class _RetryableError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status, response.detail)
        self.response = response


class _Controls:
    """tenacity's stop, wait and before_sleep for one batch: shared by sync and async."""

    def __init__(
        self,
        policy: RetryPolicy,
        give_up: Callable[[], bool],
        on_retry: Callable[[Response, float], None],
    ) -> None:
        self.policy = policy
        self.give_up = give_up
        self.on_retry = on_retry
        self.last: Response | None = None
        self.backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff, max=policy.max_backoff
        )

    def wait(self, state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        retry_after = error.response.retry_after if isinstance(error, _RetryableError) else None
        policy = self.policy
        delay = (
            min(retry_after, policy.max_retry_after)
            if retry_after is not None
            else self.backoff(state)
        )
        remaining = policy.max_time - (state.seconds_since_start or 0.0)
        return max(0.0, min(delay, remaining))

    def stop(self, state: tenacity.RetryCallState) -> bool:
        return (
            state.attempt_number >= self.policy.max_attempts
            or (state.seconds_since_start or 0.0) >= self.policy.max_time
            or self.give_up()
        )

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        if isinstance(error, _RetryableError):
            self.on_retry(error.response, state.next_action.sleep if state.next_action else 0.0)

    def before_attempt(self) -> None:
        """Raise instead of attempting when woken early by close() with no time left."""
        if self.last is not None and self.give_up():
            raise _RetryableError(self.last)

    def after_attempt(self, response: Response) -> Response:
        """Return a final response; raise (to retry) a retryable one."""
        if classify(response) == "retry":
            self.last = response
            raise _RetryableError(response)
        return response

    def options(self) -> dict[str, Any]:
        return {
            "retry": tenacity.retry_if_exception_type(_RetryableError),
            "stop": self.stop,
            "wait": self.wait,
            "before_sleep": self.before_sleep,
            "reraise": True,
        }


def send_with_retries(
    send: Callable[[], Response],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    give_up: Callable[[], bool],
    on_retry: Callable[[Response, float], None],
) -> Response:
    """Call ``send`` until it gives a non-retryable response or a bound is reached.

    Args:
        send: One attempt; the same messages (and messageIds) every time.
        policy: Attempt and time bounds.
        sleep: Waits between attempts; may return early (the client is closing).
        give_up: Checked before each new attempt: true stops retrying at once.
        on_retry: Told of each retryable response and the wait before the next try.

    Returns:
        The last response: a final one, or the last retryable one if the bounds ran out.
    """
    controls = _Controls(policy, give_up, on_retry)

    def attempt() -> Response:
        controls.before_attempt()
        return controls.after_attempt(send())

    try:
        return tenacity.Retrying(sleep=sleep, **controls.options())(attempt)
    except _RetryableError as exhausted:
        return exhausted.response


async def send_with_retries_async(
    send: Callable[[], Awaitable[Response]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    give_up: Callable[[], bool],
    on_retry: Callable[[Response, float], None],
) -> Response:
    """``send_with_retries`` for coroutines: the same decisions, awaited."""
    controls = _Controls(policy, give_up, on_retry)

    async def attempt() -> Response:
        controls.before_attempt()
        return controls.after_attempt(await send())

    try:
        return await tenacity.AsyncRetrying(sleep=sleep, **controls.options())(attempt)
    except _RetryableError as exhausted:
        return exhausted.response


def drop_reason(verdict: Verdict, response: Response, *, giving_up: bool) -> DropReason:
    """Why a batch that was not delivered (and is not split further) is dropped."""
    if verdict == "split":
        return "oversize" if response.status == 413 else "rejected"
    if verdict == "retry":
        return "timeout" if giving_up else "retries_exhausted"
    return "rejected"
