"""Delivery policy: what a response means, and when to try again.

Pure decisions, no I/O and no threads. The status rules follow Segment's
libraries (SPEC.md, "The batch endpoint"): network errors, 408, 429 and 5xx
except 501 and 505 are retried with exponential backoff and full jitter,
honouring ``Retry-After``; 400 and 413 on a batch of several messages split it
to isolate the culprit; anything else is final.

tenacity is used as a policy: its stop and wait strategies are computed on a
``RetryCallState`` we keep per batch, not by letting it call (and catch
exceptions around) the send. Each response is classified once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import tenacity

from .accounting import DropReason
from .transport import Response

__all__ = ["Retries", "RetryPolicy", "Verdict", "classify", "drop_reason"]

Verdict = Literal["delivered", "retry", "split", "misconfigured", "rejected"]

_NOT_RETRIED_5XX = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported
# Answers that point at the client's settings (key, endpoint) rather than the events.
_MISCONFIGURED = frozenset({301, 302, 303, 307, 308, 401, 403, 404})


def classify(response: Response) -> Verdict:
    """Map one attempt's outcome to what the delivery routine does next."""
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


def drop_reason(verdict: Verdict, response: Response, *, giving_up: bool) -> DropReason:
    """Why a batch that was not delivered (and is not split further) is dropped."""
    if verdict == "split":
        return "oversize" if response.status == 413 else "rejected"
    if verdict == "retry":
        return "timeout" if giving_up else "retries_exhausted"
    return "rejected"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying one batch; the defaults are ``Client``'s (``max_retries=10``).

    Attributes:
        max_attempts: Attempts in all, the first included.
        max_time: Seconds from the first attempt after which no new attempt starts.
        max_retry_after: Cap on a server's ``Retry-After``, in seconds.
        backoff: Base of the exponential backoff, in seconds (full jitter).
        max_backoff: Cap on one backoff wait, in seconds.
    """

    max_attempts: int = 11
    max_time: float = 120.0
    max_retry_after: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 30.0

    def start(self, now: float) -> Retries:
        """The retry schedule of one batch whose first attempt starts at ``now``."""
        return Retries(self, now)


class Retries:
    """The attempts of one batch so far, and the wait before the next (tenacity's strategies)."""

    __slots__ = ("_backoff", "_policy", "_state", "_stop")

    def __init__(self, policy: RetryPolicy, now: float) -> None:
        self._policy = policy
        self._stop = tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_after_delay(
            policy.max_time
        )
        self._backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff, max=policy.max_backoff
        )
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.start_time = now
        self._state = state

    def after_failure(self, response: Response, now: float) -> float | None:
        """A retryable ``response`` ended an attempt at ``now``: seconds to wait, None to stop."""
        state = self._state
        state.outcome_timestamp = now
        if self._stop(state):
            return None
        policy = self._policy
        delay = (
            min(response.retry_after, policy.max_retry_after)
            if response.retry_after is not None
            else self._backoff(state)
        )
        state.attempt_number += 1
        remaining = policy.max_time - (now - state.start_time)
        return max(0.0, min(delay, remaining))
