"""Drop accounting: the one path every undelivered event goes through.

Whatever the reason an event is not delivered, ``Accounting.drop`` counts it,
calls the user's ``on_drop`` hook and logs a rate-limited warning, so missing
events are always explained: by ``client.stats``, by the hook, or by the log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = ["DROP_REASONS", "Accounting", "DeliveryStats", "DropHook", "DropReason"]

logger = logging.getLogger("b2b_events.delivery")

DropReason = Literal[
    "queue_full",
    "oversize",
    "invalid",
    "rejected",
    "retries_exhausted",
    "closed",
    "timeout",
    "unconfirmed",
    "spool_error",
]
"""Why events were not delivered.

- ``queue_full``: the in-memory queue was at its limit (overflow policy).
- ``oversize``: one message over 32 KiB, or a single message the server refused as too large.
- ``invalid``: invalid input, with ``on_invalid="drop"``.
- ``rejected``: the server refused it for good (400, 401, 403, 404, other 4xx, 501, 505).
- ``retries_exhausted``: retryable failures went on past the attempt or time budget.
- ``closed``: tracked after ``close()``.
- ``timeout``: still undelivered when ``close()`` (or the exit handler) ran out of time
  (with a spool, such events stay on disk instead, for the next process).
- ``unconfirmed``: sent, but ``close()`` (or the exit handler) ran out of time before the
  answer came: the endpoint may have stored them. Re-sending them (same ``messageId``)
  may make duplicates, which Segment de-duplicates.
- ``spool_error``: the spool file could not be written (disk full, file removed).
"""

DROP_REASONS: tuple[DropReason, ...] = get_args(DropReason)

DropHook = Callable[[DropReason, list[dict[str, Any]]], object]
"""``on_drop(reason, messages)``: the wire dicts of the events given up on, and why."""

_LOG_EVERY = 10.0  # seconds between two warnings for the same reason


def _decode(message: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(message)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return decoded
    return {"raw": message.decode("utf-8", "replace")}  # not expected: our messages are JSON


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of a client's counters since it was created (or since a fork).

    Every event handed to the client is counted once in ``tracked`` and ends in
    exactly one of ``delivered``, ``dropped`` or ``pending``, so
    ``tracked == delivered + dropped_total + pending`` (with a spool, ``pending``
    includes what ``close()`` left on disk for the next process, and the events of
    an adopted file that could not be read any more, which stay in that file).

    Attributes:
        tracked: Events handed to the client: queued, or dropped on the spot
            (``invalid``, ``oversize``, ``closed``, ``queue_full``, ``spool_error``);
            with a spool, also those adopted from earlier processes.
        delivered: Events the endpoint acknowledged with a 2xx.
        dropped: Events given up on, by reason; every reason is present.
        pending: Events accepted and not yet delivered or dropped.
        batches: Requests that got a 2xx.
        retries: Attempts that were repeated after a retryable failure.
        last_drop: Why the latest events were dropped, as ``reason: detail``
            (``rejected: HTTP 401: ...``); empty if none was. A ``flush()`` that
            returned True after everything was refused can be read here.
    """

    tracked: int
    delivered: int
    dropped: Mapping[DropReason, int]
    pending: int
    batches: int
    retries: int
    last_drop: str = ""

    @property
    def dropped_total(self) -> int:
        """All events dropped, whatever the reason."""
        return sum(self.dropped.values())

    def __repr__(self) -> str:
        dropped = {reason: n for reason, n in self.dropped.items() if n}
        return (
            f"DeliveryStats(tracked={self.tracked}, delivered={self.delivered}, "
            f"dropped={dropped}, pending={self.pending}, batches={self.batches}, "
            f"retries={self.retries}, last_drop={self.last_drop!r})"
        )


@dataclass
class _Unlogged:
    """Drops of one reason that the rate limit kept out of the log so far."""

    count: int = 0
    last_log: float = -_LOG_EVERY


class Accounting:
    """Counters, the ``on_drop`` hook and the rate-limited drop warning, thread-safe."""

    def __init__(self, on_drop: DropHook | None = None) -> None:
        self._on_drop = on_drop
        self.reset()

    def reset(self) -> None:
        """Zero every counter (a forked child starts afresh, with a lock of its own)."""
        self._lock = threading.Lock()
        self.tracked = 0  # accepted: the queue counts these under its lock
        self._refused = 0  # dropped on the spot (refuse): tracked too
        self._last_drop = ""
        self.delivered = 0
        self.batches = 0
        self.retries = 0
        self._dropped: dict[DropReason, int] = dict.fromkeys(DROP_REASONS, 0)
        self._unlogged: dict[DropReason, _Unlogged] = {r: _Unlogged() for r in DROP_REASONS}

    def add_delivered(self, count: int) -> None:
        """Count ``count`` events acknowledged in one successful request."""
        with self._lock:
            self.delivered += count
            self.batches += 1

    def add_retry(self) -> None:
        """Count one repeated attempt."""
        with self._lock:
            self.retries += 1

    def refuse(self, reason: DropReason, messages: Sequence[bytes], detail: str = "") -> None:
        """``drop`` events that were never accepted, counting them as tracked too."""
        with self._lock:
            self._refused += len(messages)
        self.drop(reason, messages, detail)

    def drop(self, reason: DropReason, messages: Sequence[bytes], detail: str = "") -> None:
        """Account for ``messages`` (serialized) that will not be delivered, and why.

        This is the only place drops are counted. It never raises: a failing
        ``on_drop`` hook is logged and ignored.
        """
        if not messages:
            return
        count = len(messages)
        now = time.monotonic()
        with self._lock:
            self._dropped[reason] += count
            self._last_drop = f"{reason}: {detail}" if detail else reason
            pending = self._unlogged[reason]
            pending.count += count
            due = now - pending.last_log >= _LOG_EVERY
            if due:
                logged, pending.count, pending.last_log = pending.count, 0, now
                total = self._dropped[reason]
        if due:
            logger.warning(
                "b2b-events dropped %d event(s) (%s%s); %d dropped for this reason so far",
                logged,
                reason,
                f": {detail}" if detail else "",
                total,
            )
        if self._on_drop is not None:
            decoded = [_decode(m) for m in messages]
            try:
                self._on_drop(reason, decoded)
            except Exception:
                logger.exception("b2b-events: the on_drop hook raised; ignoring it")

    def log_unlogged(self) -> None:
        """Log the drops that the rate limit held back (called at close)."""
        with self._lock:
            held = [(r, u.count) for r, u in self._unlogged.items() if u.count]
            for r, _ in held:
                self._unlogged[r].count = 0
        for reason, count in held:
            logger.warning("b2b-events dropped %d more event(s) (%s)", count, reason)

    def snapshot(self, pending: int) -> DeliveryStats:
        """Return the counters as a frozen ``DeliveryStats``."""
        with self._lock:
            return DeliveryStats(
                tracked=self.tracked + self._refused,
                delivered=self.delivered,
                dropped=MappingProxyType(dict(self._dropped)),
                pending=pending,
                batches=self.batches,
                retries=self.retries,
                last_drop=self._last_drop,
            )
