"""A Flask app: the default client, and one scope per request from ``WSGIMiddleware``.

``identify`` says who the request is; every event tracked while Flask handles
it (``invite_user``, a service-layer function, passes no ids) takes that user
and account, and the request's ip, user agent, locale and page.

Run: ``B2B_EVENTS_WRITE_KEY=... flask --app examples/flask_app.py run`` (Flask is
not a dependency of b2b-events; install it for your app). Try it against the
local collector: ``b2b-events collect`` in another terminal and
``B2B_EVENTS_ENDPOINT=http://127.0.0.1:8088``.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

import b2b_events
from b2b_events import Identity
from b2b_events.integrations import RequestInfo, WSGIMiddleware

SESSIONS: dict[str, Identity] = {}
"""Session cookie -> who is signed in: your session store."""


def identify(request: RequestInfo) -> Identity | None:
    """Who is making the request: read once per request by the middleware."""
    return SESSIONS.get(request.cookies.get("session", ""))


def create_app() -> Flask:
    """The app, with the default client from $B2B_EVENTS_WRITE_KEY / $B2B_EVENTS_ENDPOINT."""
    # In production, a bad event should cost a log line, not a failed request.
    b2b_events.init(on_invalid="drop")
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, identify=identify)  # type: ignore[method-assign]
    app.add_url_rule("/signup", view_func=signup, methods=["POST"])
    app.add_url_rule("/invites", view_func=invite, methods=["POST"])
    return app


def signup() -> ResponseReturnValue:
    form: dict[str, Any] = request.get_json()
    # ... create the user here ...
    session = secrets.token_urlsafe(16)
    SESSIONS[session] = Identity(user_id=form["user_id"], group_id=form["account_id"])
    # Not signed in yet when the request came: the ids are given here, the
    # request's context (ip, userAgent, locale, page) comes from the scope.
    b2b_events.track.signed_up(
        user_id=form["user_id"], group_id=form["account_id"], email=form["email"], type="organic"
    )
    response = jsonify(user_id=form["user_id"])
    response.set_cookie("session", session, httponly=True)
    return response, 201


def invite() -> ResponseReturnValue:
    email = request.get_json()["email"]
    invite_user(email)
    return jsonify(invited=email), 201


def invite_user(email: str) -> None:
    """Service layer: send the invitation; who sent it, and for which account, is in scope."""
    # ... send the e-mail here ...
    b2b_events.track.invite_sent(invitee_email=email)


if __name__ == "__main__":
    try:
        create_app().run()
    finally:
        b2b_events.close(timeout=5)  # deliver what is queued before exiting
