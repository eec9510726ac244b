"""AsyncClient against a real loopback server, driven by asyncio.run()."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from batch_server import BatchServer, Reply
from forking import in_forked_child

from b2b_events import AsyncClient, ConfigurationError, Response
from b2b_events._client import override_transport

KEY = "wk_async_test"


def make(server: BatchServer | str, **options: Any) -> AsyncClient:
    url = server if isinstance(server, str) else server.url
    defaults: dict[str, Any] = {"flush_interval": 0.05, "retry_backoff": 0.02}
    return AsyncClient(write_key=KEY, endpoint=url, **{**defaults, **options})


def track(client: AsyncClient, n: int, prefix: str = "u") -> list[str]:
    return [
        client.track.signed_in(user_id=f"{prefix}{i}", group_id="acct_1").message_id
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_events_are_delivered_from_an_asyncio_task(server: BatchServer) -> None:
    async def main() -> tuple[list[str], bool, int]:
        async with make(server) as client:
            ids = track(client, 300)
            names = {t.get_name() for t in asyncio.all_tasks()}
            assert "b2b-events-async-worker" in names
            flushed = await client.flush(timeout=10)
        return ids, flushed, client.stats.delivered

    ids, flushed, delivered = asyncio.run(main())
    assert flushed
    assert delivered == 300
    assert server.accepted_ids() == ids
    assert server.requests[0].headers["content-encoding"] == "gzip"
    assert server.requests[0].payload["writeKey"] == KEY


def test_server_errors_and_retry_after_are_honoured(server: BatchServer) -> None:
    server.script(Reply(500), Reply(429, {"Retry-After": "1"}))

    async def main() -> AsyncClient:
        async with make(server) as client:
            track(client, 5)
            assert await client.flush(timeout=10)
        return client

    client = asyncio.run(main())
    assert client.stats.retries == 2
    assert client.stats.delivered == 5
    first, second, third = server.requests
    assert [r.status for r in server.requests] == [500, 429, 200]
    assert third.received - second.received >= 0.9
    assert [m["messageId"] for m in first.batch] == [m["messageId"] for m in third.batch]


def test_events_from_many_tasks_arrive_exactly_once(server: BatchServer) -> None:
    async def main() -> list[str]:
        async with make(server) as client:

            async def producer(t: int) -> list[str]:
                ids = []
                for i in range(100):
                    ids += track(client, 1, prefix=f"t{t}-{i}-")
                    if i % 10 == 0:
                        await asyncio.sleep(0)
                return ids

            batches = await asyncio.gather(*(producer(t) for t in range(40)))
            assert await client.flush(timeout=20)
        return [i for batch in batches for i in batch]

    ids = asyncio.run(main())
    assert sorted(server.accepted_ids()) == sorted(ids)
    assert len(ids) == 4_000


def test_track_from_another_thread_wakes_the_task(server: BatchServer) -> None:
    async def main() -> list[str]:
        async with make(server, flush_interval=30) as client:
            track(client, 1, prefix="loop")  # the task starts on this loop
            out: list[str] = []
            thread = threading.Thread(target=lambda: out.extend(track(client, 1_500)))
            thread.start()
            await asyncio.to_thread(thread.join)
            assert await client.flush(timeout=10)
        return out

    ids = asyncio.run(main())
    assert set(ids) <= set(server.accepted_ids())
    assert len(server.accepted_ids()) == 1_501


@pytest.mark.parametrize("made", ["before the loop, entered with async with", "in the loop"])
def test_events_tracked_only_from_worker_threads_go_out_while_the_app_runs(
    server: BatchServer, made: str
) -> None:
    """Sync endpoints of an async app run in a thread pool: their events must not wait."""
    before = make(server) if made.startswith("before") else None

    async def send_from_threads(client: AsyncClient) -> bool:
        ids: list[str] = []
        for _ in range(5):
            ids += await asyncio.to_thread(track, client, 1)
        deadline = time.monotonic() + 10
        while len(server.accepted_ids()) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # no flush, no aclose: the task must be running
        return sorted(server.accepted_ids()) == sorted(ids)

    async def main() -> bool:
        if before is not None:
            async with before as client:
                return await send_from_threads(client)
        client = make(server)  # as in a startup (lifespan) hook
        try:
            return await send_from_threads(client)
        finally:
            await client.aclose()

    assert asyncio.run(main())


def test_a_client_made_in_a_loop_that_stopped_moves_to_the_next(server: BatchServer) -> None:
    """Made in a set-up loop (run_until_complete), used in the app's asyncio.run()."""
    setup = asyncio.new_event_loop()

    async def made() -> AsyncClient:
        return make(server)

    client = setup.run_until_complete(made())  # the set-up loop stays open, not running

    async def main() -> bool:
        async with client:
            track(client, 1)
            return await client.flush(timeout=5)

    try:
        assert asyncio.run(main())
    finally:
        setup.close()
    assert len(server.accepted_ids()) == 1


def test_a_forked_child_does_not_count_the_parents_events(server: BatchServer) -> None:
    dropped: list[str] = []
    client = make(server, on_drop=lambda reason, messages: dropped.append(reason))
    track(client, 3)  # queued: no loop has run yet

    def child() -> dict[str, Any]:
        client._worker.close_at_exit()  # what the child's exit handler runs
        return {"pending": client.stats.pending, "dropped": dropped}

    report = in_forked_child(child)
    assert report == {"pending": 0, "dropped": []}

    async def main() -> bool:
        return await client.flush(timeout=10)

    assert asyncio.run(main())  # the parent still delivers its own
    assert len(server.accepted_ids()) == 3


def test_events_tracked_before_any_loop_runs_are_sent_once_one_does(server: BatchServer) -> None:
    client = make(server)
    ids = track(client, 10)  # plain synchronous code, no event loop anywhere

    async def main() -> bool:
        flushed = await client.flush(timeout=10)
        await client.aclose()
        return flushed

    assert asyncio.run(main())
    assert server.accepted_ids() == ids


def test_the_loop_ending_without_aclose_still_delivers(server: BatchServer) -> None:
    holder: list[AsyncClient] = []

    async def main() -> list[str]:
        client = make(server, flush_interval=30)
        holder.append(client)
        return track(client, 50)  # returns at once: asyncio.run cancels the task

    ids = asyncio.run(main())
    assert sorted(server.accepted_ids()) == sorted(ids)
    assert holder[0].stats.delivered == 50
    assert holder[0].stats.pending == 0


def test_a_send_cancelled_by_the_loop_ending_is_sent_again(server: BatchServer) -> None:
    """asyncio.run() cancels the task mid-send: the batch it held is not lost."""
    server.script(Reply(delay=0.5))  # the first batch is still in flight at the end
    holder: list[AsyncClient] = []

    async def main() -> list[str]:
        client = make(server, flush_interval=0.01)
        holder.append(client)
        ids = track(client, 20)
        await asyncio.sleep(0.2)  # the task is now waiting for the slow response
        return ids

    ids = asyncio.run(main())
    assert set(ids) <= set(server.accepted_ids())
    assert holder[0].stats.dropped_total == 0
    assert holder[0].stats.delivered == 20


def test_the_loop_ending_waits_no_longer_than_shutdown_timeout(server: BatchServer) -> None:
    """A send stuck until its HTTP timeout must not hold asyncio.run() past shutdown_timeout."""
    server.script(Reply(delay=3.0), Reply(delay=3.0))  # the send, and the one at shutdown
    holder: list[AsyncClient] = []

    async def main() -> None:
        client = make(server, flush_interval=0.01, shutdown_timeout=0.5, timeout=10)
        holder.append(client)
        track(client, 1)
        await asyncio.sleep(0.2)  # the task is now waiting for the slow response

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 2.8  # not the 3 s answer, nor the 10 s timeout
    assert holder[0].stats.dropped["unconfirmed"] == 1  # sent twice, never answered


def test_aclose_counts_a_send_without_an_answer_as_unconfirmed(server: BatchServer) -> None:
    server.script(Reply(delay=3.0))  # stored, but the answer comes after aclose() gave up

    async def main() -> AsyncClient:
        client = make(server, flush_interval=0.01, max_batch_events=1)
        track(client, 3)
        while not any(b.sending for b in client._worker.queue.in_flight):  # the first request
            await asyncio.sleep(0.01)
        await client.aclose(timeout=0.2)
        return client

    stats = asyncio.run(main()).stats
    assert stats.dropped["unconfirmed"] == 1  # the one in the request
    assert stats.dropped["timeout"] == 2  # never sent
    assert stats.pending == 0


def test_aclose_with_the_endpoint_down_drops_pending_as_timeout() -> None:
    async def main() -> tuple[AsyncClient, float]:
        client = make(f"http://127.0.0.1:{free_port()}", retry_backoff=0.05)
        track(client, 20)
        assert await client.flush(timeout=0.2) is False
        started = time.monotonic()
        await client.aclose(timeout=0.3)
        return client, time.monotonic() - started

    client, took = asyncio.run(main())
    assert took < 5
    stats = client.stats
    assert stats.pending == 0
    assert stats.dropped["timeout"] + stats.dropped["retries_exhausted"] == 20
    assert client.closed


def test_aclose_wakes_a_long_retry_after_wait(server: BatchServer) -> None:
    server.responder = lambda request: Reply(429, {"Retry-After": "30"})

    async def main() -> AsyncClient:
        client = make(server)
        track(client, 3)
        while not server.requests:
            await asyncio.sleep(0.01)
        await client.aclose(timeout=0.3)
        return client

    started = time.monotonic()
    client = asyncio.run(main())
    assert time.monotonic() - started < 5
    assert client.stats.dropped["timeout"] == 3
    assert len(server.requests) == 1


def test_split_and_rejection_follow_the_shared_policy(server: BatchServer) -> None:
    def answer(request: Any) -> Reply:
        poisoned = any(m.get("properties", {}).get("poison") for m in request.batch)
        return Reply(400 if poisoned else 200)

    server.responder = answer

    async def main() -> AsyncClient:
        async with make(server, flush_interval=1) as client:
            track(client, 6)
            client.track.signed_in(user_id="bad", group_id="g", properties={"poison": True})
            assert await client.flush(timeout=10)
        return client

    client = asyncio.run(main())
    assert client.stats.delivered == 6
    assert client.stats.dropped["rejected"] == 1


def test_tracking_after_aclose_is_counted(server: BatchServer) -> None:
    async def main() -> AsyncClient:
        client = make(server)
        await client.aclose()
        await client.aclose()  # idempotent
        track(client, 2)
        return client

    assert asyncio.run(main()).stats.dropped["closed"] == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sync": True}, "sync=True is for Client"),
        ({"overflow": "block"}, "would stall the event loop"),
        ({"http_client": httpx.Client()}, "httpx.AsyncClient"),
    ],
)
def test_options_that_would_stall_the_loop_are_refused(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AsyncClient(write_key="k", endpoint="http://127.0.0.1:9", **options)


def test_a_synchronous_transport_is_refused() -> None:
    class SyncTransport:
        def send(self, messages: Any) -> Response:
            return Response(200)

        def close(self) -> None:
            pass

    with pytest.raises(ConfigurationError, match="AsyncTransport"):
        AsyncClient(transport=SyncTransport())


def test_a_custom_async_transport_is_used() -> None:
    class Memory:
        def __init__(self) -> None:
            self.messages: list[bytes] = []
            self.closed = False

        async def send(self, messages: Any) -> Response:
            self.messages += messages
            return Response(200)

        async def aclose(self) -> None:
            self.closed = True

    memory = Memory()

    async def main() -> None:
        async with AsyncClient(transport=memory, flush_interval=0.01) as client:
            track(client, 3)

    asyncio.run(main())
    assert len(memory.messages) == 3
    assert memory.closed


def test_under_test_capture_the_async_client_delivers_within_the_call() -> None:
    captured: list[bytes] = []

    class Capture:
        write_key_optional = True

        def send(self, messages: Any) -> Response:
            captured.extend(messages)
            return Response(200)

        def close(self) -> None:
            pass

    previous = override_transport(Capture())
    try:
        client = AsyncClient()
        track(client, 2)
        assert len(captured) == 2
        assert asyncio.run(client.flush())
        asyncio.run(client.aclose())
    finally:
        override_transport(previous)
