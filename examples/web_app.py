"""A web app that tracks sign-ups: the default client, set up once, used in handlers.

Run: ``B2B_EVENTS_WRITE_KEY=... python examples/web_app.py`` then
``curl -X POST localhost:8000/signup -d '{"user_id": "u_1", "account_id": "acct_1",
"email": "a@example.com"}'``. The pattern is the same in Flask, Django or FastAPI:
``init()`` at start-up, ``b2b_events.track...`` in handlers, ``close()`` at shutdown
(also done for you at exit).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import make_server

import b2b_events

log = logging.getLogger("web_app")

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def on_drop(reason: str, messages: list[dict[str, Any]]) -> None:
    # Production hook: events we gave up on, with the reason. Keep it quick.
    log.warning("analytics: dropped %d event(s): %s", len(messages), reason)


def setup() -> None:
    """Create the default client from $B2B_EVENTS_WRITE_KEY / $B2B_EVENTS_ENDPOINT."""
    # In production, a bad event should cost a log line, not a failed sign-up.
    b2b_events.init(on_invalid="drop", on_drop=on_drop)


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """POST /signup {user_id, account_id, email}: create the user, track Signed Up."""
    if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/signup":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    form = json.loads(environ["wsgi.input"].read(length) or b"{}")
    # ... create the user in your database here ...
    b2b_events.track.signed_up(
        user_id=form["user_id"],
        group_id=form["account_id"],
        email=form.get("email"),
        type="organic",
        context={"ip": environ.get("REMOTE_ADDR", "")},
    )
    start_response("201 Created", [("Content-Type", "application/json")])
    return [json.dumps({"user_id": form["user_id"]}).encode()]


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    setup()
    with make_server("127.0.0.1", 8000, app) as server:
        print("listening on http://127.0.0.1:8000  (POST /signup)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    b2b_events.close(timeout=5)  # deliver what is queued before exiting


if __name__ == "__main__":
    main()
