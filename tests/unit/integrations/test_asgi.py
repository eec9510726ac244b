"""``ASGIMiddleware`` in a real FastAPI app, driven by FastAPI's TestClient and httpx."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, WebSocket
from fastapi.testclient import TestClient
from web_checks import (
    REQUESTS,
    assert_each_event_has_its_own_ids,
    assert_no_secret,
    by_header,
    by_session,
    headers_for,
    request_context,
    start_two_threads,
)

import b2b_events
from b2b_events import Identity
from b2b_events.integrations import ASGIMiddleware, RequestInfo
from b2b_events.testing import Capture


def make_app(identify: Callable[[RequestInfo], Any] | None = by_session, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/signin")
    async def signin() -> dict[str, str]:
        await asyncio.sleep(0)
        b2b_events.track.signed_in()  # no ids: the request's scope says them
        return {"ok": "yes"}

    @app.post("/signin-sync")
    def signin_sync() -> dict[str, str]:  # runs in a worker thread
        b2b_events.track.signed_in()
        return {"ok": "yes"}

    @app.post("/explicit")
    async def explicit() -> dict[str, str]:
        b2b_events.track.signed_in(user_id="u_9", group_id="acct_9")
        return {"ok": "yes"}

    app.add_middleware(ASGIMiddleware, identify=identify, **options)
    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


def test_a_handler_tracks_with_the_ids_identify_gives(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    response = client.post("/signin", headers={"Cookie": "session=s_1"})

    assert response.status_code == 200
    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_1", group_id="acct_1")


def test_the_request_fills_ip_user_agent_locale_and_page(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    client.post(
        "/signin?plan=pro",
        headers={
            "Cookie": "session=s_1",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8",
            "Referer": "https://app.example.com/login",
        },
    )

    (message,) = b2b_events_capture.messages
    assert request_context(message) == {
        "groupId": "acct_1",
        "ip": "testclient",
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
        "locale": "fr-CH",
        "page": {
            "path": "/signin",
            "url": "http://testserver/signin?plan=pro",
            "referrer": "https://app.example.com/login",
            "search": "?plan=pro",
        },
    }


def test_cookie_and_authorization_never_reach_an_event(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    client.post(
        "/signin",
        headers={
            "Cookie": "session=s_1; csrftoken=secret-cookie-value",
            "Authorization": "Bearer secret-token-value",
        },
    )

    (message,) = b2b_events_capture.messages
    assert_no_secret(message)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"request_context": False}, set()),
        ({"ip": False}, {"userAgent", "page"}),
    ],
)
def test_the_request_context_can_be_turned_off(
    b2b_events_capture: Capture, options: dict[str, Any], expected: set[str]
) -> None:
    with TestClient(make_app(by_session, **options)) as client:
        client.post("/signin", headers={"Cookie": "session=s_1"})

    (message,) = b2b_events_capture.messages
    assert set(message["context"]) - {"library", "groupId"} == expected
    assert message["context"]["groupId"] == "acct_1"


def test_a_sync_endpoint_in_a_worker_thread_sees_the_scope(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    client.post("/signin-sync", headers={"Cookie": "session=s_2"})

    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_2", group_id="acct_2")


def test_an_explicit_argument_in_the_handler_wins(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    client.post("/explicit", headers={"Cookie": "session=s_1"})

    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_9", group_id="acct_9")


def test_an_async_identify_is_awaited(b2b_events_capture: Capture) -> None:
    async def identify(request: RequestInfo) -> Identity:
        await asyncio.sleep(0)
        return Identity(user_id="u_a", group_id="acct_a")

    with TestClient(make_app(identify)) as client:
        client.post("/signin")

    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_a", group_id="acct_a")


def test_a_failing_identify_is_logged_and_the_request_goes_on(
    caplog: pytest.LogCaptureFixture, b2b_events_capture: Capture
) -> None:
    def identify(request: RequestInfo) -> Identity:
        raise LookupError("session store down")

    with TestClient(make_app(identify)) as client:
        response = client.post("/explicit")

    assert response.status_code == 200
    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_9", group_id="acct_9")
    (record,) = [r for r in caplog.records if r.name.startswith("b2b_events")]
    assert record.levelno == logging.ERROR
    assert "identify(request) failed for POST /explicit" in record.getMessage()


def test_a_failing_async_identify_is_logged_too(
    caplog: pytest.LogCaptureFixture, b2b_events_capture: Capture
) -> None:
    async def identify(request: RequestInfo) -> Identity:
        raise LookupError("session store down")

    with TestClient(make_app(identify)) as client:
        assert client.post("/explicit").status_code == 200

    assert "identify(request) failed" in caplog.text
    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_9")


def test_without_an_identity_a_b2b_event_without_ids_still_fails(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    with pytest.raises(b2b_events.InvalidEventError, match=r"context\.groupId: required"):
        client.post("/signin")  # no session: no ids; the handler's error reaches the test


def test_lifespan_passes_through_and_nothing_leaks_out_of_the_request(
    client: TestClient, b2b_events_capture: Capture
) -> None:
    client.post("/signin", headers={"Cookie": "session=s_1"})

    assert b2b_events.current_identity() is None


# -- work started inside a request ---------------------------------------------------


def test_a_thread_keeps_the_request_scope_only_through_copy_context(
    b2b_events_capture: Capture,
) -> None:
    app = make_app()
    seen: dict[str, Identity | None] = {}

    @app.post("/work")
    async def work() -> dict[str, str]:
        seen["plain"] = start_two_threads()
        return {"ok": "yes"}

    with TestClient(app) as client:
        client.post("/work", headers={"Cookie": "session=s_1"})

    assert seen == {"plain": None}
    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_1", group_id="acct_1")


def test_a_task_created_in_a_request_keeps_its_scope_after_the_response(
    b2b_events_capture: Capture,
) -> None:
    app = make_app()
    gate = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def later() -> None:
        await gate.wait()  # runs on after the request's scope has closed
        b2b_events.track.signed_in()

    @app.post("/spawn")
    async def spawn() -> dict[str, str]:
        tasks.append(asyncio.create_task(later()))
        return {"ok": "yes"}

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            await http.post("/spawn", headers={"Cookie": "session=s_2"})
        assert b2b_events_capture.messages == []
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())

    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_2", group_id="acct_2")


def test_fastapi_background_tasks_run_inside_the_request_scope(
    b2b_events_capture: Capture,
) -> None:
    app = make_app()

    @app.post("/later")
    async def later(background: BackgroundTasks) -> dict[str, str]:
        background.add_task(b2b_events.track.signed_in)  # after the response is sent
        return {"ok": "yes"}

    with TestClient(app) as client:
        client.post("/later", headers={"Cookie": "session=s_2"})

    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_2", group_id="acct_2")


def test_a_websocket_connection_has_its_scope(b2b_events_capture: Capture) -> None:
    app = make_app()

    @app.websocket("/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        b2b_events.track.event(
            "Dashboard Opened", properties={"via": await websocket.receive_text()}
        )
        await websocket.close()

    with (
        TestClient(app) as client,
        client.websocket_connect("/live", headers={"Cookie": "session=s_1"}) as websocket,
    ):
        websocket.send_text("ws")

    b2b_events_capture.assert_tracked_once(
        "Dashboard Opened",
        user_id="u_1",
        group_id="acct_1",
        context={"page": {"path": "/live", "url": "ws://testserver/live"}},
    )


# -- concurrency: requests in flight never see each other's ids ------------------------


def concurrent_app(in_flight: Callable[[], Any]) -> FastAPI:
    """Each request tracks, waits until many others are in flight, then tracks again."""
    app = FastAPI()

    @app.post("/async/{n}")
    async def tracked(n: int) -> dict[str, int]:
        b2b_events.track.signed_in(properties={"request": n})
        await in_flight()
        b2b_events.track.signed_out(properties={"request": n})
        return {"n": n}

    @app.post("/sync/{n}")
    def tracked_sync(n: int) -> dict[str, int]:  # a worker thread per request
        b2b_events.track.signed_in(properties={"request": n})
        in_flight()
        b2b_events.track.signed_out(properties={"request": n})
        return {"n": n}

    app.add_middleware(ASGIMiddleware, identify=by_header)
    return app


def test_hundreds_of_interleaved_requests_on_tasks_keep_their_ids(
    b2b_events_capture: Capture,
) -> None:
    requests = REQUESTS

    async def main() -> None:
        arrived = 0
        everyone = asyncio.Event()

        async def in_flight() -> None:
            nonlocal arrived
            arrived += 1
            if arrived == requests:
                everyone.set()
            await everyone.wait()  # all of them are between their two events now

        transport = httpx.ASGITransport(app=concurrent_app(in_flight))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            responses = await asyncio.gather(
                *(http.post(f"/async/{n}", headers=headers_for(n)) for n in range(requests))
            )
        assert [r.json()["n"] for r in responses] == list(range(requests))

    asyncio.run(main())

    assert_each_event_has_its_own_ids(b2b_events_capture, requests)


def test_hundreds_of_interleaved_requests_on_threads_keep_their_ids(
    b2b_events_capture: Capture,
) -> None:
    callers = 16
    barrier = threading.Barrier(callers)
    requests = REQUESTS

    def in_flight() -> None:
        barrier.wait(timeout=60)  # 16 requests between their two events, on 16 threads

    with TestClient(concurrent_app(in_flight)) as client:

        def call(n: int) -> int:
            response = client.post(f"/sync/{n}", headers=headers_for(n))
            return int(response.json()["n"])

        with ThreadPoolExecutor(max_workers=callers) as pool:
            assert list(pool.map(call, range(requests))) == list(range(requests))

    assert_each_event_has_its_own_ids(b2b_events_capture, requests)
