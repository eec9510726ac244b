"""The reading side of a replay: each input's lines decoded, checked, counted and batched.

It runs in the calling thread. ``Input`` says where a rerun starts in each file
(the checkpoint's frontier); ``Reading.batches`` reads the inputs in order and
yields each batch as it fills (``Batcher``), with the read counts as they stood
at its end (its ``Mark``). What a line becomes is ``Selection``'s to decide.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from typing import NamedTuple

from pydantic_core import from_json

from .batcher import Batch, Batcher, Mark
from .checkpoint import Frontier, input_key
from .counts import ReadCounts
from .reader import LogLine, display_name, parse_line, read_raw
from .selection import Selection

__all__ = ["Input", "Reading", "plan_inputs"]


class Input(NamedTuple):
    """One input file of a replay, and where this run starts in it.

    Attributes:
        path: The path as found (``-`` for stdin).
        key: How the checkpoint names it.
        name: How problems name it (``<stdin>`` for ``-``).
        skip: Lines settled by an earlier run.
        done: Read to the end by an earlier run: not read again.
    """

    path: str
    key: str
    name: str
    skip: int = 0
    done: bool = False


def plan_inputs(files: Sequence[str], resume: Frontier) -> list[Input]:
    """The inputs, in order, with what ``resume`` (a checkpoint's frontier) has settled."""
    done = set(resume.done)
    inputs = []
    for path in files:
        key = input_key(path)
        skip = resume.line if key == resume.file else 0
        inputs.append(Input(path, key, display_name(path), skip, key in done))
    return inputs


class Reading:
    """Reads inputs in order, counts every line, and cuts what is to be sent into batches."""

    def __init__(
        self,
        *,
        counts: ReadCounts,
        selection: Selection,
        batcher: Batcher,
        problem: Callable[[str], None],
        stop: threading.Event,
    ) -> None:
        self.counts = counts  # running, from the checkpoint's
        self.files = 0  # inputs read by this run
        self._pick = selection.pick
        self._batcher = batcher
        self._problem = problem
        self._stop = stop

    def batches(self, inputs: Sequence[Input]) -> Generator[Batch, None, None]:
        """The batches of the inputs not ``done``; the last one is marked ``last``.

        When ``stop`` is set, the batches end early, without a ``last`` one.
        """
        todo = [source for source in inputs if not source.done]
        for done, source in enumerate(todo):
            self.files += 1
            finished = yield from self._file(source, done)
            if not finished or self._stop.is_set():
                return
        yield self._batcher.cut(Mark(len(todo), None, 0, self.counts.copy()), last=True)

    def _file(self, source: Input, done: int) -> Generator[Batch, None, bool]:
        """The batches that fill while ``source`` is read; False if the run stopped."""
        counts, batcher, stop, pick, problem = (
            self.counts,
            self._batcher,
            self._stop,
            self._pick,
            self._problem,
        )
        name, key = source.name, source.key
        base = counts.position - source.skip  # the inputs' position before this file's line 1
        for block in read_raw(source.path, source.skip):
            if isinstance(block, LogLine):  # the file cannot be read (further): always said
                counts.invalid += 1
                problem(f"{block.location}: {block.error}")
                counts.lines += 1
                counts.position = base + max(block.line, source.skip)
                continue
            first, lines = block
            for number, raw in enumerate(lines, first):
                if stop.is_set():
                    return False
                try:
                    message = from_json(raw, cache_strings="keys")
                except ValueError:
                    message = None
                data = why = None
                if type(message) is not dict:  # not JSON, not an object, blank, a BOM...
                    line = parse_line(name, number, raw)
                    if line is None:
                        continue  # blank: neither counted nor sent
                    message, why = line.message, line.error  # a message after a BOM, or not
                if message is not None:
                    data, why = pick(message, raw)  # None and no why: filtered out
                if why is not None:
                    counts.invalid += 1
                    problem(f"{name}:{number}: {why}")
                if data is not None and not batcher.fits(len(data)):
                    # Full without this line: the batch's frontier is just before it.
                    yield batcher.cut(Mark(done, key, counts.position - base, counts.copy()))
                counts.lines += 1
                counts.position = base + number
                if data is not None:
                    counts.selected += 1
                    if batcher.add(data, (name, number)):
                        yield batcher.cut(Mark(done, key, number, counts.copy()))
        return True
