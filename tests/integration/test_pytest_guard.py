"""Under our pytest plugin, no client of a test suite reaches a real endpoint.

A user's test suite, run with ``pytester``, imports an app that builds its
clients at import time, pointed at a real loopback server standing in for
Segment: the server must see no connection at all, whether or not a test asks
for ``b2b_events_capture``. A run marked ``send=True`` shows that the same app
does reach the server when a test says so.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_spool import leave_orphan

# Imported here so that the in-process runs below reuse these modules.
import b2b_events.testing
from b2b_events import Client

pytest_plugins = ["pytester"]


class CountingServer:
    """A loopback HTTP server that counts every connection and keeps every request body."""

    def __init__(self) -> None:
        self.connections = 0
        self.bodies: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

        class Counting(ThreadingHTTPServer):
            def verify_request(self, request: Any, client_address: Any) -> bool:
                server.connections += 1
                return True

        self._httpd = Counting(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[str]:
        batches = [json.loads(gzip.decompress(body))["batch"] for body in self.bodies]
        return [message["event"] for batch in batches for message in batch]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def segment(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingServer]:
    """The stand-in for Segment, and the app's endpoint ($APP_ENDPOINT)."""
    server = CountingServer()
    monkeypatch.setenv("APP_ENDPOINT", server.url)
    monkeypatch.delenv("B2B_EVENTS_WRITE_KEY", raising=False)
    yield server
    server.close()


APP = """
import os

import b2b_events

ENDPOINT = os.environ["APP_ENDPOINT"]

client = b2b_events.Client(write_key="wk_live_app", endpoint=ENDPOINT, flush_interval=0.01)
async_client = b2b_events.AsyncClient(write_key="wk_live_app", endpoint=ENDPOINT)
lenient = b2b_events.Client(write_key="wk_live_app", endpoint=ENDPOINT, on_invalid="drop")
b2b_events.init(write_key="wk_live_app", endpoint=ENDPOINT)


def sign_up(user_id, account_id):
    client.track.signed_up(user_id=user_id, group_id=account_id, type="organic")
"""

# A conftest.py importing the app (its clients exist before the plugin's fixtures),
# and tracking while it is imported.
CONFTEST = """
import pytest
import b2b_events

import app

app.client.track.account_created(user_id="u_0", group_id="acct_0", account_name="Conftest")


@pytest.fixture
def fixture_client():
    with b2b_events.Client(write_key="wk_live_fixture", endpoint=app.ENDPOINT) as client:
        yield client
"""

TESTS = """
import asyncio

import b2b_events
import pytest

import app


def test_an_import_time_client_is_captured(b2b_events_capture):
    app.sign_up("u_1", "acct_1")

    b2b_events_capture.assert_tracked("Signed Up", user_id="u_1", group_id="acct_1")
    assert app.client.flush(timeout=5)
    assert app.client.stats.delivered == 2  # with the one conftest.py tracked (held)


def test_an_async_client_is_captured(b2b_events_capture):
    async def track():
        app.async_client.track.signed_in(user_id="u_2", group_id="acct_1")
        assert await app.async_client.flush(timeout=5)

    asyncio.run(track())

    b2b_events_capture.assert_tracked("Signed In", user_id="u_2")


def test_a_fixture_client_is_captured(fixture_client, b2b_events_capture):
    fixture_client.track.signed_out(user_id="u_3", group_id="acct_1")

    b2b_events_capture.assert_tracked_once("Signed Out", user_id="u_3")


def test_without_the_fixture_events_are_held():
    app.sign_up("u_4", "acct_1")
    b2b_events.track.signed_in(user_id="u_4", group_id="acct_1")
    app.lenient.track.signed_out(user_id="u_4", group_id="")

    assert app.client.flush(timeout=5)
    assert b2b_events.flush(timeout=5)


def test_a_dropped_invalid_event_names_the_client_that_dropped_it(b2b_events_capture):
    app.lenient.track.signed_in(user_id="u_5", group_id="")
"""

SENDING = """
import pytest

import app


@pytest.mark.b2b_events(send=True)
def test_marked_to_send():
    app.sign_up("u_9", "acct_9")
    assert app.client.flush(timeout=10)
"""


def run(pytester: pytest.Pytester, **files: str) -> pytest.RunResult:
    pytester.makepyfile(app=APP, conftest=CONFTEST, **files)
    quick = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    return pytester.runpytest_inprocess("--strict-markers", "-W", "error", *quick)


def test_an_app_that_builds_its_clients_at_import_time_sends_nothing(
    pytester: pytest.Pytester, segment: CountingServer
) -> None:
    result = run(pytester, test_app=TESTS)

    result.assert_outcomes(passed=4, failed=1)
    assert segment.connections == 0
    output = result.stdout.str()
    created = "b2b_events.Client for " + segment.url + ", created at app.py:{} in <module>"
    assert created.format(9) in output  # the lenient client, in the failure
    result.stdout.fnmatch_lines(
        [
            "*b2b-events: held, not sent*",
            "outside any test (import, collection): 1 event(s)",
            "    Account Created, tracked at conftest.py:6 in <module>, sent by "
            + created.format(7),
            "test_app.py::test_without_the_fixture_events_are_held: 3 event(s)",
            "    Signed Up, tracked at app.py:14 in sign_up, sent by " + created.format(7),
            "    Signed In, tracked at test_app.py:*, sent by b2b_events.Client for "
            + segment.url
            + ", created at app.py:10 in <module>",
            "    Signed Out (invalid, dropped), tracked at test_app.py:*, sent by "
            + created.format(9),
            "4 event(s) held in memory; nothing left the process.*",
        ]
    )


def test_a_test_marked_send_true_sends_for_real(
    pytester: pytest.Pytester, segment: CountingServer
) -> None:
    result = run(pytester, test_sending=SENDING)

    result.assert_outcomes(passed=1)
    assert segment.events() == ["Signed Up"]  # not the Account Created of conftest.py: held
    result.stdout.fnmatch_lines(["outside any test (import, collection): 1 event(s)"])
    assert "test_sending.py::" not in result.stdout.str()


def test_under_capture_a_spool_client_does_not_send_what_an_earlier_run_left(
    tmp_path: Path, segment: CountingServer
) -> None:
    spool = tmp_path / "events.sqlite"
    left = b'{"type":"track","event":"Signed In","userId":"u_0","context":{"groupId":"a"}}'
    leave_orphan(spool, left)

    with b2b_events.testing.capture() as cap:
        client = Client(write_key="wk_live", endpoint=segment.url, spool=spool)
        client.track.signed_out(user_id="u_1", group_id="acct_1")
        assert client.flush(timeout=10)
        client.close()

    assert segment.connections == 0
    assert [m["event"] for m in cap.messages] == ["Signed Out"]
