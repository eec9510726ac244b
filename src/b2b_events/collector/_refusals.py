"""The requests the collector refused (401, 400, 413, injected faults...): the latest ones.

Kept in memory only, so that the live views can show what a sender got wrong even
though nothing of it was stored.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Refusal", "Refusals"]


@dataclass(frozen=True)
class Refusal:
    """One refused request.

    Attributes:
        received_at: When it arrived, ISO-8601 UTC.
        method: ``POST``.
        path: The route asked for, e.g. ``/v1/batch``.
        status: The HTTP status answered.
        code: The error body's ``code``, e.g. ``unauthorized``.
        message: The error body's ``message``.
        client: The sender's address.
    """

    received_at: str
    method: str
    path: str
    status: int
    code: str
    message: str
    client: str

    def to_json(self) -> dict[str, Any]:
        """The refusal as the web view reads it (camelCase)."""
        fields = asdict(self)
        fields["receivedAt"] = fields.pop("received_at")
        return fields


class Refusals:
    """The latest ``keep`` refusals and how many there were in all; thread-safe."""

    def __init__(self, keep: int = 200) -> None:
        """Keep the latest ``keep`` refusals."""
        self._lock = threading.Lock()
        self._latest: deque[Refusal] = deque(maxlen=keep)
        self._total = 0

    def add(self, refusal: Refusal) -> None:
        """Record one refusal."""
        with self._lock:
            self._latest.append(refusal)
            self._total += 1

    def latest(self) -> tuple[int, list[Refusal]]:
        """How many refusals in all, and the kept ones, newest first."""
        with self._lock:
            return self._total, list(reversed(self._latest))
