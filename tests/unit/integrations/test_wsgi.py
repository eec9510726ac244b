"""``WSGIMiddleware`` in a real Flask app, driven by Flask's test client; and a bare environ."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults

import pytest
from flask import Flask, Response, stream_with_context
from flask.testing import FlaskClient
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
from b2b_events.integrations import RequestInfo, WSGIMiddleware
from b2b_events.integrations._wsgi import wsgi_request
from b2b_events.testing import Capture


def make_app(identify: Callable[[RequestInfo], Any] | None = by_session, **options: Any) -> Flask:
    app = Flask(__name__)
    app.testing = True  # a view's exception reaches the test

    @app.post("/signin")
    def signin() -> dict[str, str]:
        b2b_events.track.signed_in()  # no ids: the request's scope says them
        return {"ok": "yes"}

    @app.get("/export")
    def export() -> Response:
        def rows() -> Iterator[str]:  # runs after signin() returned, as the body is sent
            for n in range(3):
                b2b_events.track.event("Row Exported", properties={"row": n})
                yield f"{n}\n"

        return Response(rows(), mimetype="text/plain")

    app.wsgi_app = WSGIMiddleware(app.wsgi_app, identify=identify, **options)  # type: ignore[method-assign]
    return app


@pytest.fixture
def client() -> FlaskClient:
    return make_app().test_client()


def test_a_view_tracks_with_the_ids_identify_gives(
    client: FlaskClient, b2b_events_capture: Capture
) -> None:
    client.set_cookie("session", "s_1")
    response = client.post("/signin")

    assert response.status_code == 200
    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_1", group_id="acct_1")


def test_the_request_fills_ip_user_agent_locale_and_page(
    client: FlaskClient, b2b_events_capture: Capture
) -> None:
    client.set_cookie("session", "s_2", domain="app.example.com")
    client.post(
        "/signin?plan=pro",
        base_url="https://app.example.com",
        headers={
            "User-Agent": "Mozilla/5.0 (Macintosh)",
            "Accept-Language": "de-DE,de;q=0.9",
            "Referer": "https://app.example.com/login",
        },
    )

    (message,) = b2b_events_capture.messages
    assert request_context(message) == {
        "groupId": "acct_2",
        "ip": "127.0.0.1",
        "userAgent": "Mozilla/5.0 (Macintosh)",
        "locale": "de-DE",
        "page": {
            "path": "/signin",
            "url": "https://app.example.com/signin?plan=pro",
            "referrer": "https://app.example.com/login",
            "search": "?plan=pro",
        },
    }


def test_cookie_and_authorization_never_reach_an_event(
    client: FlaskClient, b2b_events_capture: Capture
) -> None:
    client.set_cookie("session", "s_1")
    client.set_cookie("csrftoken", "secret-cookie-value")
    client.post("/signin", headers={"Authorization": "Bearer secret-token-value"})

    (message,) = b2b_events_capture.messages
    assert_no_secret(message)


def test_the_request_context_can_be_turned_off(b2b_events_capture: Capture) -> None:
    client = make_app(request_context=False).test_client()
    client.set_cookie("session", "s_1")
    client.post("/signin")

    (message,) = b2b_events_capture.messages
    assert set(message["context"]) == {"library", "groupId"}


def test_a_streamed_body_is_produced_inside_the_request_scope(
    client: FlaskClient, b2b_events_capture: Capture
) -> None:
    client.set_cookie("session", "s_1")
    response = client.get("/export")

    assert response.get_data(as_text=True) == "0\n1\n2\n"
    assert len(b2b_events_capture.events("Row Exported", user_id="u_1", group_id="acct_1")) == 3
    assert b2b_events.current_identity() is None


def test_a_thread_keeps_the_request_scope_only_through_copy_context(
    b2b_events_capture: Capture,
) -> None:
    app = make_app()
    seen: dict[str, Identity | None] = {}

    @app.post("/work")
    def work() -> dict[str, str]:
        seen["plain"] = start_two_threads()
        return {"ok": "yes"}

    client = app.test_client()
    client.set_cookie("session", "s_1")
    client.post("/work")

    assert seen == {"plain": None}
    b2b_events_capture.assert_tracked_once("Signed In", user_id="u_1", group_id="acct_1")


def test_a_coroutine_identify_is_refused() -> None:
    async def identify(request: RequestInfo) -> Identity:
        return Identity()

    with pytest.raises(TypeError, match="plain function"):
        make_app(identify)


def test_an_identify_that_returns_something_else_is_ignored_and_logged(
    caplog: pytest.LogCaptureFixture, b2b_events_capture: Capture
) -> None:
    client = make_app(lambda request: ("u_1", "acct_1")).test_client()

    with pytest.raises(b2b_events.InvalidEventError, match=r"context\.groupId: required"):
        client.post("/signin")

    assert "returned <class 'tuple'>, not an Identity" in caplog.text


def test_hundreds_of_interleaved_requests_on_threads_keep_their_ids(
    b2b_events_capture: Capture,
) -> None:
    callers = 16
    barrier = threading.Barrier(callers)
    requests = REQUESTS
    app = Flask(__name__)

    @app.post("/tracked/<int:n>")
    def tracked(n: int) -> dict[str, int]:
        b2b_events.track.signed_in(properties={"request": n})
        barrier.wait(timeout=60)  # 16 requests between their two events, on 16 threads
        b2b_events.track.signed_out(properties={"request": n})
        return {"n": n}

    app.wsgi_app = WSGIMiddleware(app.wsgi_app, identify=by_header)  # type: ignore[method-assign]

    def call(n: int) -> int:
        response = app.test_client().post(f"/tracked/{n}", headers=headers_for(n))
        return int(response.get_json()["n"])

    with ThreadPoolExecutor(max_workers=callers) as pool:
        assert list(pool.map(call, range(requests))) == list(range(requests))

    assert_each_event_has_its_own_ids(b2b_events_capture, requests)


def test_stream_with_context_keeps_the_scope_too(b2b_events_capture: Capture) -> None:
    app = make_app()

    @app.get("/stream")
    def stream() -> Response:
        def rows() -> Iterator[str]:
            b2b_events.track.event("Row Exported")
            yield "row\n"

        return Response(stream_with_context(rows()))

    client = app.test_client()
    client.set_cookie("session", "s_2")
    assert client.get("/stream").get_data(as_text=True) == "row\n"
    b2b_events_capture.assert_tracked_once("Row Exported", user_id="u_2", group_id="acct_2")


# -- the request as the middleware reads it from a bare environ ------------------------


def environ(**overrides: Any) -> dict[str, Any]:
    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    env.update(overrides)
    return env


def test_a_request_without_host_header_takes_server_name_and_port() -> None:
    env = environ(
        SERVER_NAME="intranet", SERVER_PORT="8080", SCRIPT_NAME="/app", REMOTE_ADDR="127.0.0.1"
    )
    env.pop("HTTP_HOST", None)
    env["PATH_INFO"] = "/r\u00c3\u00a9sum\u00c3\u00a9 x"  # PEP 3333: UTF-8 bytes as latin-1

    request = wsgi_request(env)

    assert request.path == "/app/r%C3%A9sum%C3%A9%20x"
    assert request.url == "http://intranet:8080/app/r%C3%A9sum%C3%A9%20x"
    assert request.client_ip == "127.0.0.1"


def test_headers_are_read_by_lower_case_name() -> None:
    request = wsgi_request(
        environ(HTTP_X_REQUEST_ID="r1", CONTENT_TYPE="application/json", HTTP_COOKIE="a=1; b=2")
    )

    assert request.headers["x-request-id"] == "r1"
    assert request.headers["content-type"] == "application/json"
    assert request.cookies == {"a": "1", "b": "2"}


# -- a bare WSGI app: what the middleware hands back to the server ---------------------


class Body:
    """A response body that tracks when the server closes it."""

    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield b"ok"

    def close(self) -> None:
        self.closed = True
        b2b_events.track.event("Body Closed")


def serve(body: Any, **options: Any) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return body

    env = environ(HTTP_COOKIE="session=s_1", REMOTE_ADDR="127.0.0.1")
    env["wsgi.file_wrapper"] = FileWrapper
    return WSGIMiddleware(app, identify=by_session, **options)(env, lambda *args: None)


def test_a_list_body_and_a_file_wrapper_are_handed_back_as_they_are() -> None:
    listed = [b"ok"]
    wrapped = FileWrapper(io.BytesIO(b"ok"))

    assert serve(listed) is listed
    assert serve(wrapped) is wrapped


def test_the_server_closing_the_body_is_inside_the_request_scope(
    b2b_events_capture: Capture,
) -> None:
    body = Body()
    served = serve(body)

    assert list(served) == [b"ok"]
    served.close()

    assert body.closed
    b2b_events_capture.assert_tracked_once("Body Closed", user_id="u_1", group_id="acct_1")
    assert b2b_events.current_identity() is None


def test_without_identify_only_the_request_context_is_given(b2b_events_capture: Capture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        b2b_events.track.event("Page Viewed", anonymous_id="anon_1")
        start_response("200 OK", [])
        return [b"ok"]

    WSGIMiddleware(app)(environ(REMOTE_ADDR="127.0.0.1"), lambda *args: None)

    (message,) = b2b_events_capture.messages
    assert "userId" not in message
    assert "groupId" not in message["context"]
    assert message["context"]["ip"] == "127.0.0.1"
