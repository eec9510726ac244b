"""What the workers tell the log about failing attempts and a misconfigured endpoint.

A flaky endpoint fails many attempts: the first is a warning with the retry
plan, then one warning a minute with the number of failed attempts in between
(logged at INFO one by one). A 401, 403, 404 or redirect is logged once per
status, as an error naming the likely cause (never the key).
"""

from __future__ import annotations

import logging
import math
import threading
import time

from .policy import RetryPolicy
from .routine import Wait

__all__ = ["Notices"]

logger = logging.getLogger("b2b_events.delivery")

_CONFIG_HINT = {
    401: "the write key was not accepted: check it belongs to this source",
    403: "the write key may not send to this source: check the key and the endpoint",
    404: "no such source or path: check the endpoint (e.g. https://api.segment.io) and the key",
}
_REDIRECT_HINT = "the endpoint redirects: configure the URL it redirects to (https?)"
_RETRY_WARN_EVERY = 60.0  # seconds between two warnings about failing attempts


class Notices:
    """The rate-limited log lines of one client; safe from any worker."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._misconfig_logged: set[int] = set()
        self._retry_warned = -math.inf  # when failing attempts were last logged as a warning
        self._retries_unwarned = 0  # failed attempts since (logged at INFO only)

    def retry(self, step: Wait) -> None:
        """A retryable failure: the first (then one a minute) is a warning with the plan."""
        response, wait = step.response, step.seconds
        now = time.monotonic()
        with self._lock:
            warn = now - self._retry_warned >= _RETRY_WARN_EVERY
            if warn:
                earlier, self._retries_unwarned, self._retry_warned = self._retries_unwarned, 0, now
            else:
                self._retries_unwarned += 1
        if not warn:
            logger.info(
                "b2b-events: batch failed (%s), retrying in %.2f s", response.describe(), wait
            )
            return
        logger.warning(
            "b2b-events: delivery failed (%s); retrying in %.2f s, up to %d attempts per "
            "batch within %.0f s, with backoff; events wait in the queue meanwhile%s",
            response.describe(),
            wait,
            self._policy.max_attempts,
            self._policy.max_time,
            f" ({earlier} more failed attempt(s) since the last warning)" if earlier else "",
        )

    def misconfigured(self, status: int) -> None:
        """The endpoint answered ``status`` (401, 403, 404, a redirect): once per status."""
        with self._lock:
            if status in self._misconfig_logged:
                return
            self._misconfig_logged.add(status)
        logger.error(
            "b2b-events: the endpoint answered HTTP %d: %s. "
            "Events are dropped until this is fixed.",
            status,
            _CONFIG_HINT.get(status, _REDIRECT_HINT),
        )
