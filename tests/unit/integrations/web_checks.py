"""What the ASGI and WSGI middleware tests share: the sessions, and the checks of events."""

from __future__ import annotations

import contextvars
import json
import threading
from typing import Any

import b2b_events
from b2b_events import Identity
from b2b_events.integrations import RequestInfo
from b2b_events.testing import Capture

__all__ = [
    "REQUESTS",
    "assert_each_event_has_its_own_ids",
    "assert_no_secret",
    "by_header",
    "by_session",
    "headers_for",
    "request_context",
    "start_two_threads",
]

SESSIONS = {"s_1": ("u_1", "acct_1"), "s_2": ("u_2", "acct_2")}
SECRET_COOKIE, SECRET_TOKEN = "secret-cookie-value", "secret-token-value"
REQUESTS = 400
"""Requests in each concurrency test: 25 rounds of 16 in flight at once."""


def by_session(request: RequestInfo) -> Identity | None:
    """What an app's identify does: look the session cookie up."""
    found = SESSIONS.get(request.cookies.get("session", ""))
    return Identity(user_id=found[0], group_id=found[1]) if found else None


def by_header(request: RequestInfo) -> Identity:
    return Identity(user_id=request.headers["x-user"], group_id=request.headers["x-account"])


def headers_for(n: int) -> dict[str, str]:
    return {"X-User": f"u_{n}", "X-Account": f"acct_{n % 7}"}


def request_context(message: dict[str, Any]) -> dict[str, Any]:
    """The context a message got, but ``library``."""
    return {key: value for key, value in message["context"].items() if key != "library"}


def start_two_threads() -> Identity | None:
    """Run two threads: one plain (what it saw is returned), one tracking in a copied context."""
    seen: list[Identity | None] = []
    plain = threading.Thread(target=lambda: seen.append(b2b_events.current_identity()))
    context = contextvars.copy_context()
    carried = threading.Thread(target=context.run, args=(b2b_events.track.signed_in,))
    for thread in (plain, carried):
        thread.start()
        thread.join()
    return seen[0]


def assert_no_secret(message: dict[str, Any]) -> None:
    text = json.dumps(message)
    assert message["userId"] == "u_1"  # the session cookie was read, by identify only
    assert SECRET_COOKIE not in text
    assert SECRET_TOKEN not in text


def assert_each_event_has_its_own_ids(capture: Capture, requests: int) -> None:
    """Each request ``n`` tracked two events, each with ``u_n`` and ``acct_{n % 7}``."""
    messages = capture.messages
    assert len(messages) == 2 * requests
    assert {m["properties"]["request"] for m in messages} == set(range(requests))
    for message in messages:
        n = message["properties"]["request"]
        assert message["userId"] == f"u_{n}"
        assert message["context"]["groupId"] == f"acct_{n % 7}"
