"""A replay's ``rate``: when each batch may go, so that no more than ``rate`` events/s are sent."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

__all__ = ["Pace", "batch_limit"]

SLICE = 0.1
"""With a rate, a batch holds at most this many seconds of events (so pacing stays smooth)."""


def batch_limit(limit: int, rate: float | None) -> int:
    """Messages per batch: ``limit``, or fewer with a ``rate`` (``SLICE`` seconds' worth)."""
    if rate is None:
        return limit
    return max(1, min(limit, math.ceil(rate * SLICE)))


class Pace:
    """Holds each batch back until its last event's turn: never more than ``rate * t`` by time t.

    ``t`` counts from ``start``, on ``clock``; a ``stop`` ends the wait.
    """

    def __init__(
        self,
        rate: float,
        *,
        start: float,
        clock: Callable[[], float],
        stop: threading.Event,
    ) -> None:
        self._rate = rate
        self._start = start
        self._clock = clock
        self._stop = stop
        self._released = 0  # messages let go so far

    def release(self, count: int) -> bool:
        """Wait until ``count`` more messages may go; False if the run stopped meanwhile."""
        if not count:
            return True
        self._released += count
        wait = self._start + self._released / self._rate - self._clock()
        return not (wait > 0 and self._stop.wait(wait))
