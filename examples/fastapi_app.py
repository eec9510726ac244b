"""A FastAPI app that tracks sign-ups with ``AsyncClient`` and flushes on shutdown.

Run: ``B2B_EVENTS_WRITE_KEY=... uvicorn examples.fastapi_app:app`` (FastAPI and
uvicorn are not dependencies of b2b-events; install them for your app). Try it
against the local collector: ``b2b-events collect`` in another terminal and
``B2B_EVENTS_ENDPOINT=http://127.0.0.1:8088``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from pydantic import BaseModel

import b2b_events


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the app's event loop; write key and endpoint from the environment.
    app.state.analytics = b2b_events.AsyncClient(on_invalid="drop")
    yield
    await app.state.analytics.aclose(timeout=5)  # deliver what is queued before exiting


app = FastAPI(lifespan=lifespan)


class SignUp(BaseModel):
    user_id: str
    account_id: str
    email: str


@app.post("/signup", status_code=201)
async def signup(form: SignUp, request: Request) -> dict[str, str]:
    # ... create the user here ...
    analytics: b2b_events.AsyncClient = request.app.state.analytics
    analytics.track.signed_up(  # a plain call: validates and queues, never waits on I/O
        user_id=form.user_id,
        group_id=form.account_id,
        email=form.email,
        type="organic",
        context={"ip": request.client.host if request.client else ""},
    )
    return {"user_id": form.user_id}
