"""Where accepted messages wait: the ``Buffer`` protocol, ``Batch``, and the memory buffer.

A worker is handed a buffer (memory here, SQLite in ``spool_buffer``) and never
reaches into it: it appends, takes ``Batch`` objects, and settles or gives them
back. Every accepted message has a number, in the order it was accepted;
``flush()`` waits until no message numbered below its target is queued or in a
batch, with either buffer. Not thread-safe: the queue's lock is held around
every call but ``scan``.

What only a spool does (adopting the files of dead processes, files to close,
connections that must not cross ``fork()``) is part of the protocol too, as
no-ops in memory: the workers drive either buffer the same way.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from .accounting import DropReason

__all__ = ["Batch", "Buffer", "MemoryBuffer"]


class Batch:
    """Messages taken to send together, with their numbers and (spool) rows.

    The delivery routine settles a batch's parts left to right, so what is
    settled is always a prefix: ``settled`` messages. ``sending`` is the length
    of the part in a request still waiting for its answer (it starts at
    ``settled``); ``close()`` counts those as ``unconfirmed``.
    """

    __slots__ = ("messages", "numbers", "rows", "sending", "settled")

    def __init__(
        self, messages: list[bytes], numbers: Sequence[int], rows: Sequence[Any] = ()
    ) -> None:
        self.messages = messages
        self.numbers = numbers
        self.rows = rows
        self.settled = 0
        self.sending = 0

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def rest(self) -> list[bytes]:
        """The messages not settled yet."""
        return self.messages[self.settled :]

    def lowest(self) -> int | None:
        """The lowest number not settled (None: all are)."""
        rest = self.numbers[self.settled :]
        return min(rest) if len(rest) else None


class Buffer(Protocol):
    """Storage of accepted messages, taken by the worker in batches."""

    durable: bool
    """Messages that cannot be delivered now stay for later (a spool), rather than dropped."""

    where: str
    """Where the messages are, for log lines (the spool's path)."""

    closed: bool
    """``close()`` was called: nothing is read or written any more."""

    def __len__(self) -> int:
        """Messages stored and not taken."""
        ...

    @property
    def size(self) -> int:
        """Bytes stored and not taken."""
        ...

    def append(self, data: bytes, number: int) -> DropReason | None:
        """Store message ``number``; a drop reason if it could not be stored."""
        ...

    def pop_oldest(self) -> bytes | None:
        """Remove and return the oldest message not taken (``drop_oldest``), if any."""
        ...

    def take(self, limit: int, budget: int) -> Batch | None:
        """Up to ``limit`` messages whose sizes plus a comma each fit in ``budget``.

        None when the storage cannot be read now (the worker pauses).
        """
        ...

    def release(self, batch: Batch, count: int) -> None:
        """The next ``count`` messages of ``batch`` are settled: they leave for good."""
        ...

    def give_back(self, batch: Batch, count: int) -> None:
        """The next ``count`` messages of ``batch`` go back, to be taken again (durable only)."""
        ...

    def lowest(self) -> int | None:
        """The lowest number stored and not taken (None: nothing is)."""
        ...

    def clear(self) -> list[bytes]:
        """Remove and return what is stored (close() ran out of time); durable: keep, []."""
        ...

    def forked(self) -> Buffer:
        """The buffer a forked child starts with: the parent's messages stay the parent's."""
        ...

    # -- what only a spool does: adopting the files of dead processes --

    def scan(self) -> list[Any] | None:
        """Lock not held: look for messages left by other processes (None: nothing to do).

        At most every so often; the first call always looks.
        """
        ...

    def adopt(self, found: list[Any], number: int) -> int:
        """Take in what ``scan`` found, numbered ``number``; return how many messages."""
        ...

    @property
    def waiting(self) -> bool:
        """Messages exist that cannot be taken in yet (a locked file): flush() is not done."""
        ...

    def upkeep_due(self) -> float | None:
        """When an idle worker should ``scan`` again (monotonic seconds; None: no need)."""
        ...

    def suspend(self) -> None:
        """Before ``fork()``: let go of what must not cross it (SQLite connections)."""
        ...

    def resume(self) -> None:
        """After ``fork()``, in the parent: take it back."""
        ...

    def close(self) -> None:
        """Close the files (once); what is stored stays for the next process."""
        ...


class MemoryBuffer:
    """A deque of serialized messages; numbers are consecutive from the oldest."""

    durable = False
    where = "memory"
    closed = False
    waiting = False

    def __init__(self) -> None:
        self._queue: deque[bytes] = deque()
        self._head = 0  # the number of _queue[0]
        self.size = 0

    def __len__(self) -> int:
        return len(self._queue)

    def append(self, data: bytes, number: int) -> DropReason | None:
        if not self._queue:
            self._head = number
        self._queue.append(data)
        self.size += len(data)
        return None

    def pop_oldest(self) -> bytes | None:
        if not self._queue:
            return None
        old = self._queue.popleft()
        self.size -= len(old)
        self._head += 1
        return old

    def take(self, limit: int, budget: int) -> Batch:
        queue = self._queue
        budget += 1  # n messages need n - 1 commas: count one per message
        taken, size = 0, 0
        for length in map(len, itertools.islice(queue, limit)):
            if taken and size + length + 1 > budget:
                break
            taken += 1
            size += length + 1
        messages = [queue.popleft() for _ in range(taken)]
        self.size -= size - taken
        head = self._head
        self._head = head + taken
        return Batch(messages, range(head, head + taken))

    def release(self, batch: Batch, count: int) -> None:
        pass  # nothing kept anywhere else

    def give_back(self, batch: Batch, count: int) -> None:
        raise NotImplementedError("the memory buffer drops what it cannot deliver")

    def lowest(self) -> int | None:
        return self._head if self._queue else None

    def clear(self) -> list[bytes]:
        left = list(self._queue)
        self._queue.clear()
        self.size = 0
        return left

    def forked(self) -> MemoryBuffer:
        return MemoryBuffer()

    def scan(self) -> None:
        return None

    def adopt(self, found: list[Any], number: int) -> int:
        return 0

    def upkeep_due(self) -> None:
        return None

    def suspend(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass
