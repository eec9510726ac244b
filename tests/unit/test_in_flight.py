"""``max_in_flight``: a batch waiting for its retry does not hold up the batches behind it."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence

import pytest

from b2b_events import AsyncClient, Client, ConfigurationError, Response


class HeldUntilOvertaken:
    """Refuses (503) the batch of user "a" until a batch of user "b" was delivered.

    So "a" gets through only if "b" is sent while "a" waits for its retries.
    """

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self._lock = threading.Lock()

    def answer(self, messages: Sequence[bytes]) -> Response:
        users = [json.loads(m)["userId"] for m in messages]
        with self._lock:
            if "a" in users and "b" not in self.delivered:
                return Response(503, retry_after=0.05)
            self.delivered += users
        return Response(200)

    def send(self, messages: Sequence[bytes]) -> Response:
        return self.answer(messages)

    def close(self) -> None:
        pass


class AsyncHeldUntilOvertaken(HeldUntilOvertaken):
    async def send(self, messages: Sequence[bytes]) -> Response:  # type: ignore[override]
        await asyncio.sleep(0)
        return self.answer(messages)

    async def aclose(self) -> None:
        pass


def options(max_in_flight: int) -> dict[str, int]:
    # One event per batch; with one batch at a time, "a" runs out of its few retries.
    return {
        "max_batch_events": 1,
        "max_in_flight": max_in_flight,
        "max_retries": 40 if max_in_flight > 1 else 3,
    }


def test_a_batch_in_retry_lets_the_next_batch_through() -> None:
    transport = HeldUntilOvertaken()
    with Client(transport=transport, **options(2)) as client:  # type: ignore[arg-type]
        client.track.signed_in(user_id="a", group_id="acct_1")
        client.track.signed_in(user_id="b", group_id="acct_1")
        assert client.flush(timeout=10)

    assert transport.delivered == ["b", "a"]  # order across batches is not kept
    assert client.stats.delivered == 2


def test_max_in_flight_one_sends_one_batch_at_a_time() -> None:
    transport = HeldUntilOvertaken()
    with Client(transport=transport, **options(1)) as client:  # type: ignore[arg-type]
        client.track.signed_in(user_id="a", group_id="acct_1")
        client.track.signed_in(user_id="b", group_id="acct_1")
        assert client.flush(timeout=10)

    assert transport.delivered == ["b"]  # "b" only went once "a" was given up on
    assert client.stats.dropped["retries_exhausted"] == 1


@pytest.mark.parametrize(("max_in_flight", "delivered"), [(2, ["b", "a"]), (1, ["b"])])
def test_the_async_client_sends_the_next_batch_while_one_waits(
    max_in_flight: int, delivered: list[str]
) -> None:
    transport = AsyncHeldUntilOvertaken()

    async def main() -> None:
        async with AsyncClient(transport=transport, **options(max_in_flight)) as client:  # type: ignore[arg-type]
            client.track.signed_in(user_id="a", group_id="acct_1")
            client.track.signed_in(user_id="b", group_id="acct_1")
            assert await client.flush(timeout=10)

    asyncio.run(main())

    assert transport.delivered == delivered


@pytest.mark.parametrize("value", [0, 17])
def test_max_in_flight_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(ConfigurationError, match=r"max_in_flight must be 1\.\.16"):
        Client(transport=HeldUntilOvertaken(), max_in_flight=value)
