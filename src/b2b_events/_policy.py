"""Delivery policy: what a response means, and when to try again.

Pure decisions, no I/O and no threads, so the threaded client (and an asyncio
client later) share one definition. The status rules follow Segment's libraries
(SPEC.md, "The batch endpoint"): network errors, 408, 429 and 5xx except 501 and
505 are retried with exponential backoff and full jitter, honouring
``Retry-After``; 400 and 413 on a batch of several messages split it to isolate
the culprit; anything else is final.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import tenacity

from ._transport import Response

__all__ = ["RetryPolicy", "Verdict", "classify", "send_with_retries"]

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
    backoff = tenacity.wait_random_exponential(multiplier=policy.backoff, max=policy.max_backoff)

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        retry_after = error.response.retry_after if isinstance(error, _RetryableError) else None
        delay = (
            min(retry_after, policy.max_retry_after) if retry_after is not None else backoff(state)
        )
        remaining = policy.max_time - (state.seconds_since_start or 0.0)
        return max(0.0, min(delay, remaining))

    def stop(state: tenacity.RetryCallState) -> bool:
        return (
            state.attempt_number >= policy.max_attempts
            or (state.seconds_since_start or 0.0) >= policy.max_time
            or give_up()
        )

    def before_sleep(state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        if isinstance(error, _RetryableError):
            on_retry(error.response, state.next_action.sleep if state.next_action else 0.0)

    last: list[Response] = []

    def attempt() -> Response:
        if last and give_up():  # woken early (closing): no further attempt
            raise _RetryableError(last[-1])
        response = send()
        if classify(response) == "retry":
            last.append(response)
            raise _RetryableError(response)
        return response

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_RetryableError),
        stop=stop,
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _RetryableError as exhausted:
        return exhausted.response
