"""Fault injection: make the collector fail on purpose, to test resilience.

Each fault applies to the next N requests, in this order of precedence: close the
connection, answer 429 with ``Retry-After``, answer an error status. A delay
applies to every request until set back to 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["Fault", "Faults"]


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of handling it."""

    kind: str  # "drop" (close the connection), "status"
    status: int = 0
    retry_after: float | None = None


class Faults:
    """Thread-safe fault settings of a running collector.

    Examples:
        >>> faults = Faults()
        >>> faults.fail_next(2, status=503)
        >>> faults.take()
        Fault(kind='status', status=503, retry_after=None)
    """

    def __init__(self) -> None:
        """No faults."""
        self._lock = threading.Lock()
        self._drop = 0
        self._rate_limited = 0
        self._retry_after = 1.0
        self._failing = 0
        self._status = 503
        self.delay = 0.0
        """Seconds to wait before answering each request."""

    def fail_next(self, count: int, *, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` (and store nothing)."""
        with self._lock:
            self._failing, self._status = count, status

    def rate_limit_next(self, count: int, *, retry_after: float = 1.0) -> None:
        """Answer the next ``count`` requests with 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limited, self._retry_after = count, retry_after

    def drop_next(self, count: int) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        with self._lock:
            self._drop = count

    def clear(self) -> None:
        """Remove every fault, the delay included."""
        with self._lock:
            self._drop = self._rate_limited = self._failing = 0
            self.delay = 0.0

    def take(self) -> Fault | None:
        """The fault for the request at hand, if any, counting it down."""
        with self._lock:
            if self._drop:
                self._drop -= 1
                return Fault("drop")
            if self._rate_limited:
                self._rate_limited -= 1
                return Fault("status", 429, self._retry_after)
            if self._failing:
                self._failing -= 1
                return Fault("status", self._status)
        return None
