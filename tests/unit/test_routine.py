"""The delivery routine's splitting and settling, driven with scripted answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from b2b_events import Response
from b2b_events._delivery.policy import RetryPolicy
from b2b_events._delivery.routine import Settle, Wait, deliver, drive, drive_async


def refuse(bad: bytes, status: int = 400) -> tuple[list[list[bytes]], object]:
    """A send that refuses any request holding ``bad`` with ``status``; records the requests."""
    requests: list[list[bytes]] = []

    def send(messages: Sequence[bytes]) -> Response:
        requests.append(list(messages))
        return Response(status) if bad in messages else Response(200)

    return requests, send


def settle_all(messages: list[bytes], send: object) -> list[Settle]:
    settled: list[Settle] = []
    drive(
        deliver(messages, RetryPolicy(), give_up=lambda due: False),
        send=send,  # type: ignore[arg-type]
        wait=lambda step: None,
        settle=settled.append,
    )
    return settled


def test_a_refused_batch_is_halved_until_the_culprit_stands_alone() -> None:
    batch = [b"a", b"b", b"c", b"d"]
    requests, send = refuse(b"c")

    settled = settle_all(batch, send)

    assert requests == [batch, [b"a", b"b"], [b"c", b"d"], [b"c"], [b"d"]]
    assert [(s.messages, s.start, s.reason) for s in settled] == [
        ([b"a", b"b"], 0, None),
        ([b"c"], 2, "rejected"),
        ([b"d"], 3, None),
    ]


@pytest.mark.parametrize(("status", "reason"), [(400, "rejected"), (413, "oversize")])
def test_a_single_message_refused_as_too_large_or_invalid(status: int, reason: str) -> None:
    _, send = refuse(b"x", status)

    (settled,) = settle_all([b"x"], send)

    assert (settled.reason, settled.verdict, settled.status) == (reason, "split", status)


def test_a_misconfigured_answer_is_not_split() -> None:
    requests, send = refuse(b"a", 401)

    (settled,) = settle_all([b"a", b"b"], send)

    assert requests == [[b"a", b"b"]]
    assert (settled.reason, settled.verdict) == ("rejected", "misconfigured")


def test_the_async_driver_takes_the_same_steps() -> None:
    answers = [Response(503, retry_after=0.0), Response(200)]
    steps: list[object] = []

    async def send(messages: Sequence[bytes]) -> Response:
        steps.append(("send", list(messages)))
        return answers.pop(0)

    async def wait(step: Wait) -> None:
        steps.append(("wait", step.seconds))

    asyncio.run(
        drive_async(
            deliver([b"a"], RetryPolicy(), give_up=lambda due: False),
            send=send,
            wait=wait,
            settle=lambda step: steps.append(("settle", step.reason)),
        )
    )

    assert steps == [("send", [b"a"]), ("wait", 0.0), ("send", [b"a"]), ("settle", None)]
