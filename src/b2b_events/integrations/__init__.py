"""Web-framework integrations: a ``b2b_events.scope`` per request, from your ``identify``.

``ASGIMiddleware`` (FastAPI, Starlette) and ``WSGIMiddleware`` (Flask, Django)
are plain ASGI/WSGI: they import no framework. Each calls
``identify(request: RequestInfo) -> Identity | None`` once per request and opens
a scope with its ids and the request's context (``ip``, ``userAgent``,
``locale``, ``page``), so that every event tracked while the request is handled
says who and which account without passing the ids::

    from b2b_events import Identity
    from b2b_events.integrations import ASGIMiddleware, RequestInfo

    def identify(request: RequestInfo) -> Identity | None:
        session = load_session(request.cookies.get("session"))
        return Identity(user_id=session.user_id, group_id=session.account_id)

    app.add_middleware(ASGIMiddleware, identify=identify)
"""

from __future__ import annotations

from .._public import publish as _publish
from ._asgi import ASGIMiddleware
from ._request import RequestInfo, request_context
from ._wsgi import WSGIMiddleware

__all__ = ["ASGIMiddleware", "RequestInfo", "WSGIMiddleware", "request_context"]

_publish(globals())
