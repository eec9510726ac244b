"""Batches of a replay: the messages read, cut within Segment's count and byte limits.

A batch carries its ``Mark``: where the acknowledged frontier moves once the
endpoint has taken the batch. The cutting rule is ``MemoryBuffer.take``'s, the
clients' (``_delivery/buffer.py``): messages, one comma each, in ``budget + 1``
bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from .counts import ReadCounts

__all__ = ["Batch", "Batcher", "Mark"]


class Mark(NamedTuple):
    """Where the frontier is once a batch is acknowledged.

    Attributes:
        files: How many of this run's inputs are read to the end.
        file: The checkpoint key of the input being read, or None between inputs.
        line: Lines of ``file`` settled (blank ones included).
        counts: The read counts up to here.
    """

    files: int
    file: str | None
    line: int
    counts: ReadCounts


class Batch(NamedTuple):
    """Messages to send in one request, where each was read, and the batch's mark."""

    messages: list[bytes]
    where: list[tuple[str, int]]  # (file, line) of each message, to report a rejection
    mark: Mark
    last: bool = False  # the end of the inputs: nothing follows


class Batcher:
    """Collects messages until a batch is full: ``limit`` messages, or ``budget`` bytes."""

    def __init__(self, limit: int, budget: int) -> None:
        self._limit = limit
        self._room = budget + 1  # n messages need n - 1 commas: count one per message
        self._messages: list[bytes] = []
        self._where: list[tuple[str, int]] = []
        self._size = 0

    def fits(self, size: int) -> bool:
        """Whether a message of ``size`` bytes still fits (an empty batch takes any)."""
        return not self._messages or self._size + size + 1 <= self._room

    def add(self, data: bytes, where: tuple[str, int]) -> bool:
        """Add a message that ``fits``; True when the batch is full by count."""
        self._messages.append(data)
        self._where.append(where)
        self._size += len(data) + 1
        return len(self._messages) >= self._limit

    def cut(self, mark: Mark, *, last: bool = False) -> Batch:
        """The batch so far, frontier at ``mark``; the next one starts empty."""
        batch = Batch(self._messages, self._where, mark, last)
        self._messages, self._where, self._size = [], [], 0
        return batch
