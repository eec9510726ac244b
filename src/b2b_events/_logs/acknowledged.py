"""The acknowledged side of a replay: the frontier each settled batch moves, saved now and then.

Batches are settled in order (``sender.py``), so the frontier only moves
forward: every line before it was delivered, rejected for good, filtered out or
invalid. It is saved to the checkpoint at most every ``SAVE_EVERY`` seconds
while batches settle, and once more at the end (``save``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from .batcher import Batch
from .checkpoint import Frontier
from .reading import Input

__all__ = ["SAVE_EVERY", "Acknowledged"]

SAVE_EVERY = 0.5
"""Seconds between two checkpoint saves while batches settle."""


class Acknowledged:
    """The acknowledged frontier of one run, from where ``resume`` left it.

    Settled from the sending thread; read and saved from either.
    """

    def __init__(
        self,
        resume: Frontier,
        inputs: Sequence[Input],
        save: Callable[[Frontier], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self.finished = False  # the last batch is settled
        self._frontier = resume
        self._inputs = inputs
        self._before = resume.done  # inputs done by earlier runs
        self._todo = [source.key for source in inputs if not source.done]
        self._save = save
        self._clock = clock
        self._saved_at = 0.0
        self._lock = threading.Lock()

    @property
    def frontier(self) -> Frontier:
        with self._lock:
            return self._frontier

    def settle(self, batch: Batch, *, delivered: int, rejected: int) -> None:
        """``batch`` is settled: the frontier moves to its mark; saved if it is time."""
        mark = batch.mark
        with self._lock:
            totals = self._frontier.totals
            read = mark.counts
            self.finished = batch.last
            self._frontier = Frontier(
                done=[*self._before, *self._todo[: mark.files]],
                file=mark.file,
                line=mark.line,
                totals={
                    "lines": read.lines,
                    "position": read.position,
                    "invalid": read.invalid,
                    "filtered": read.filtered,
                    "selected": read.selected,
                    "delivered": totals["delivered"] + delivered,
                    "rejected": totals["rejected"] + rejected,
                },
            )
        if self._clock() - self._saved_at >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        """Write the frontier to the checkpoint now (a dry run has none)."""
        if self._save is None:
            return
        with self._lock:
            self._saved_at = self._clock()
            self._save(self._frontier)

    def resume_from(self) -> str | None:
        """``file:line`` of the first line not settled, in the inputs' own names; None: all are."""
        with self._lock:
            frontier, finished = self._frontier, self.finished
        if finished:
            return None
        if frontier.file is not None:
            names = (source.name for source in self._inputs if source.key == frontier.file)
            return f"{next(names, frontier.file)}:{frontier.line + 1}"
        done = set(frontier.done)
        for source in self._inputs:
            if source.key not in done:
                return f"{source.name}:1"
        return None  # pragma: no cover - unsettled implies a file not done
