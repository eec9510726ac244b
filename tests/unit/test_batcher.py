"""Replay's batches: cut within the count and byte limits by the clients' own rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from b2b_events._delivery.buffer import MemoryBuffer
from b2b_events._logs.batcher import Batcher, Mark
from b2b_events._logs.counts import ReadCounts

MARK = Mark(0, None, 0, ReadCounts())


def cut_by_replay(messages: list[bytes], limit: int, budget: int) -> list[list[bytes]]:
    """What replay's reading side does: cut before a message that does not fit, after a full one."""
    batcher, batches = Batcher(limit, budget), []
    for data in messages:
        if not batcher.fits(len(data)):
            batches.append(batcher.cut(MARK).messages)
        if batcher.add(data, ("events.jsonl", 1)):
            batches.append(batcher.cut(MARK).messages)
    rest = batcher.cut(MARK, last=True)
    assert rest.last
    return [*batches, rest.messages] if rest.messages else batches


def taken_by_clients(messages: list[bytes], limit: int, budget: int) -> list[list[bytes]]:
    buffer = MemoryBuffer()
    for number, data in enumerate(messages):
        buffer.append(data, number)
    batches = []
    while len(buffer):
        batches.append(buffer.take(limit, budget).messages)
    return batches


@given(
    sizes=st.lists(st.integers(1, 12), max_size=40),
    limit=st.integers(1, 8),
    budget=st.integers(1, 60),
)
def test_replay_cuts_the_batches_the_clients_buffer_takes(
    sizes: list[int], limit: int, budget: int
) -> None:
    messages = [str(i % 10).encode() * size for i, size in enumerate(sizes)]

    assert cut_by_replay(messages, limit, budget) == taken_by_clients(messages, limit, budget)


def test_a_batch_fills_the_budget_to_the_byte() -> None:
    # Three messages of 10 bytes and the two commas between them: 32 bytes.
    assert cut_by_replay([b"x" * 10] * 4, 10, 32) == [[b"x" * 10] * 3, [b"x" * 10]]
    assert cut_by_replay([b"x" * 10] * 4, 10, 31) == [[b"x" * 10] * 2] * 2
