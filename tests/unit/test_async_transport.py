"""``AsyncHttpTransport`` and ``AsyncClient``'s retry decisions against respx (no sockets)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from b2b_events import AsyncClient, AsyncHttpTransport, AsyncTransport

# respx answers these clients: the HTTP requests are what the tests check.
pytestmark = pytest.mark.b2b_events(send=True)

ENDPOINT = "https://events.example.test"
URL = f"{ENDPOINT}/v1/batch"
MESSAGES = [b'{"type":"track","event":"A","messageId":"m1"}']


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def send(messages: list[bytes], **options: Any) -> tuple[int, float | None, str]:
    async def main() -> tuple[int, float | None, str]:
        transport = AsyncHttpTransport(write_key="KEY", endpoint=ENDPOINT, **options)
        try:
            response = await transport.send(messages)
        finally:
            await transport.aclose()
        return response.status, response.retry_after, response.detail

    return asyncio.run(main())


def test_async_transport_satisfies_its_protocol() -> None:
    assert isinstance(AsyncHttpTransport(write_key="k", endpoint=ENDPOINT), AsyncTransport)


def test_posts_a_gzipped_batch_with_basic_auth(mock: respx.MockRouter) -> None:
    route = mock.post(URL).respond(200)

    assert send(MESSAGES)[0] == 200

    request = route.calls.last.request
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"KEY:").decode()
    body = json.loads(gzip.decompress(request.content))
    assert body["writeKey"] == "KEY"
    assert [m["messageId"] for m in body["batch"]] == ["m1"]
    assert body["sentAt"].endswith("Z")


def test_retry_after_and_network_errors_come_back_as_responses(mock: respx.MockRouter) -> None:
    mock.post(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.ConnectError("no")]
    )

    assert send(MESSAGES)[:2] == (429, 7.0)
    status, _, detail = send(MESSAGES)
    assert status == 0
    assert "ConnectError" in detail


def test_the_async_client_retries_5xx_and_429_then_delivers(mock: respx.MockRouter) -> None:
    route = mock.post(URL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(200),
        ]
    )

    async def main() -> AsyncClient:
        async with AsyncClient(
            write_key="KEY", endpoint=ENDPOINT, retry_backoff=0.01, flush_interval=0.01
        ) as client:
            client.track.signed_in(user_id="u", group_id="g")
            assert await client.flush(timeout=10)
        return client

    client = asyncio.run(main())
    assert route.call_count == 3
    ids = {json.loads(gzip.decompress(c.request.content))["batch"][0]["messageId"]
           for c in route.calls}  # fmt: skip
    assert len(ids) == 1  # the same messageId on every attempt
    assert client.stats.delivered == 1
    assert client.stats.retries == 2


def test_the_async_client_drops_a_rejected_batch_as_rejected(mock: respx.MockRouter) -> None:
    mock.post(URL).respond(400)

    async def main() -> AsyncClient:
        async with AsyncClient(write_key="KEY", endpoint=ENDPOINT, flush_interval=0.01) as client:
            client.track.signed_in(user_id="u", group_id="g")
            await client.flush(timeout=10)
        return client

    client = asyncio.run(main())
    assert client.stats.dropped["rejected"] == 1
    assert client.stats.retries == 0
