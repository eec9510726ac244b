"""A FastAPI app: ``AsyncClient`` flushed on shutdown, and one scope per request.

``ASGIMiddleware`` asks ``identify`` who the request is and opens a
``b2b_events.scope`` with those ids and the request's context (ip, user agent,
locale, page): ``invite_user`` below, a service-layer function, tracks
``Invite Sent`` without being handed a user or an account.

Run: ``B2B_EVENTS_WRITE_KEY=... uvicorn examples.fastapi_app:app`` (FastAPI and
uvicorn are not dependencies of b2b-events; install them for your app). Try it
against the local collector: ``b2b-events collect`` in another terminal and
``B2B_EVENTS_ENDPOINT=http://127.0.0.1:8088``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

import b2b_events
from b2b_events import Identity
from b2b_events.integrations import ASGIMiddleware, RequestInfo

SESSIONS: dict[str, Identity] = {}
"""Session cookie -> who is signed in: your session store."""


def identify(request: RequestInfo) -> Identity | None:
    """Who is making the request: read once per request by the middleware."""
    return SESSIONS.get(request.cookies.get("session", ""))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the app's event loop; write key and endpoint from the environment.
    app.state.analytics = b2b_events.AsyncClient(on_invalid="drop")
    yield
    await app.state.analytics.aclose(timeout=5)  # deliver what is queued before exiting


app = FastAPI(lifespan=lifespan)
app.add_middleware(ASGIMiddleware, identify=identify)


class SignUp(BaseModel):
    user_id: str
    account_id: str
    email: str


class Invite(BaseModel):
    email: str


@app.post("/signup", status_code=201)
async def signup(form: SignUp, request: Request, response: Response) -> dict[str, str]:
    # ... create the user here ...
    session = secrets.token_urlsafe(16)
    SESSIONS[session] = Identity(user_id=form.user_id, group_id=form.account_id)
    response.set_cookie("session", session, httponly=True)
    analytics: b2b_events.AsyncClient = request.app.state.analytics
    # Not signed in yet when the request came: the ids are given here, the
    # request's context (ip, userAgent, locale, page) comes from the scope.
    analytics.track.signed_up(  # a plain call: validates and queues, never waits on I/O
        user_id=form.user_id, group_id=form.account_id, email=form.email, type="organic"
    )
    return {"user_id": form.user_id}


@app.post("/invites", status_code=201)
async def invite(form: Invite, request: Request) -> dict[str, str]:
    invite_user(request.app.state.analytics, form.email)
    return {"invited": form.email}


def invite_user(analytics: b2b_events.AsyncClient, email: str) -> None:
    """Service layer: send the invitation; who sent it, and for which account, is in scope."""
    # ... send the e-mail here ...
    analytics.track.invite_sent(invitee_email=email)
