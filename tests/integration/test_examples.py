"""The examples run, against a loopback server where they send."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from batch_server import BatchServer

import b2b_events

EXAMPLES = Path(__file__).parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_prints_a_valid_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    load("quickstart").main()
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [m["event"] for m in lines] == ["Account Created", "Signed Up", "Trial Started"]
    assert lines[1]["properties"] == {
        "type": "organic",
        "email": "pgibbons@initech.com",
        "referrer": "newsletter",
    }
    assert "rejected as expected -> Invite Sent: context.groupId" in out


def test_web_app_tracks_signed_up_through_the_default_client(
    server: BatchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B2B_EVENTS_WRITE_KEY", "k")
    monkeypatch.setenv("B2B_EVENTS_ENDPOINT", server.url)
    web_app = load("web_app")
    web_app.setup()
    try:
        body = json.dumps({"user_id": "u_1", "account_id": "acct_1", "email": "a@example.com"})
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/signup",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body.encode()),
        }
        setup_testing_defaults(environ)
        statuses: list[str] = []
        response = web_app.app(environ, lambda status, headers: statuses.append(status))
        assert statuses == ["201 Created"]
        assert json.loads(b"".join(response)) == {"user_id": "u_1"}
        assert b2b_events.flush(timeout=5)
    finally:
        b2b_events.close()
    (message,) = server.accepted()
    assert message["event"] == "Signed Up"
    assert message["context"]["groupId"] == "acct_1"
    assert message["properties"] == {"email": "a@example.com", "type": "organic"}


def test_backfill_script_delivers_and_reports(server: BatchServer) -> None:
    env = {**os.environ, "B2B_EVENTS_WRITE_KEY": "k", "B2B_EVENTS_ENDPOINT": server.url}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "backfill_script.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tracked 6, delivered 6, dropped 0" in result.stdout
    assert [m["event"] for m in server.accepted()] == ["Trial Started", "Trial Ended"] * 3


HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "Accept-Language": "en-GB,en;q=0.8",
    "Referer": "http://app/welcome",
}


def assert_signed_up_then_invited(messages: list[dict[str, Any]], url: str) -> None:
    """The two events of the examples: ids given, then ids from the request's scope."""
    signed_up, invited = messages
    assert signed_up["event"] == "Signed Up"
    assert signed_up["userId"] == "u_1"
    assert signed_up["context"]["groupId"] == "acct_1"
    assert signed_up["properties"] == {"email": "a@example.com", "type": "organic"}
    assert signed_up["context"]["userAgent"] == HEADERS["User-Agent"]
    assert signed_up["context"]["locale"] == "en-GB"
    assert signed_up["context"]["page"] == {
        "path": "/signup",
        "url": f"{url}/signup",
        "referrer": "http://app/welcome",
    }
    assert invited["event"] == "Invite Sent"
    assert invited["userId"] == "u_1"  # from the session, through identify and the scope
    assert invited["context"]["groupId"] == "acct_1"
    assert invited["properties"] == {"invitee_email": "m@example.com"}
    assert "session" not in json.dumps(messages)  # the Cookie header stays out


def test_fastapi_app_tracks_with_the_request_scope_and_flushes_on_shutdown(
    server: BatchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B2B_EVENTS_WRITE_KEY", "k")
    monkeypatch.setenv("B2B_EVENTS_ENDPOINT", server.url)
    app = load("fastapi_app").app

    async def main() -> None:
        async with app.router.lifespan_context(app):  # start-up ... shutdown
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://app.test", headers=HEADERS
            ) as http:
                form = {"user_id": "u_1", "account_id": "acct_1", "email": "a@example.com"}
                response = await http.post("/signup", json=form)
                assert response.status_code == 201
                response = await http.post("/invites", json={"email": "m@example.com"})
                assert response.status_code == 201
                assert server.accepted() == []  # queued, not sent within the request
        # the lifespan's shutdown awaited aclose(): delivered

    asyncio.run(main())
    messages = server.accepted()
    assert_signed_up_then_invited(messages, "http://app.test")
    assert {m["context"]["ip"] for m in messages} == {"203.0.113.7"}


def test_flask_app_tracks_with_the_request_scope(
    server: BatchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B2B_EVENTS_WRITE_KEY", "k")
    monkeypatch.setenv("B2B_EVENTS_ENDPOINT", server.url)
    client = load("flask_app").create_app().test_client()
    try:
        form = {"user_id": "u_1", "account_id": "acct_1", "email": "a@example.com"}
        response = client.post("/signup", json=form, headers=HEADERS)
        assert response.status_code == 201
        response = client.post("/invites", json={"email": "m@example.com"}, headers=HEADERS)
        assert response.status_code == 201
        assert b2b_events.flush(timeout=5)
    finally:
        b2b_events.close()
    messages = server.accepted()
    assert_signed_up_then_invited(messages, "http://localhost")
    assert {m["context"]["ip"] for m in messages} == {"127.0.0.1"}


def test_analytics_dropin_sends_analytics_python_calls_into_the_collector() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "analytics_dropin.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "on_error: Signed In: context.groupId: required (1 message)"
    assert lines[1:] == [
        f"{name} ok=True"
        for name in ("identify", "group", "Signed Up", "Report Exported", "page", "screen")
    ] + ["alias ok=True"]


def test_custom_events_checks_events_and_moves_the_plan_through_segment_json() -> None:
    # A process of its own: run as a script, its module is importable by pydantic.
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_events.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "refused: Report Exported: properties.format: must be 'csv' or 'pdf'",
        "collector: Report Exported: ok",
        "collector: Seat Limit Reached: ok",
        "collector: Report Exported: INVALID properties.report_id: required; "
        "properties.format: required",
        "plan.json: 12 events, read back as 'Initech'",
        "imported plan refused: Seat Limit Reached: properties.reached_at: "
        "'yesterday' is not a 'date-time'",
    ]
