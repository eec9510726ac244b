"""ASGI middleware (FastAPI, Starlette, any ASGI app): one scope per request.

Plain ASGI, no framework import: ``app.add_middleware(ASGIMiddleware, identify=...)``
in FastAPI or Starlette, or ``ASGIMiddleware(app, identify=...)`` around any app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._request import (
    Identify,
    RequestInfo,
    awaited_identity,
    identity_of,
    request_scope,
    url_path,
)

__all__ = ["ASGIApp", "ASGIMiddleware", "asgi_request"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class ASGIMiddleware:
    """Open a ``b2b_events.scope`` for each HTTP or WebSocket request of an ASGI app.

    Every event tracked while the request is handled (in the endpoint, in what
    it calls and awaits, in tasks it creates) takes the ids ``identify`` gives
    and the request's context, unless the call passes its own.

    Example:
        >>> def identify(request: RequestInfo) -> Identity | None:  # doctest: +SKIP
        ...     session = sessions.get(request.cookies.get("session", ""))
        ...     return Identity(user_id=session.user_id, group_id=session.account_id)
        >>> app.add_middleware(ASGIMiddleware, identify=identify)  # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        identify: Identify | None = None,
        request_context: bool = True,
        ip: bool = True,
    ) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI application.
            identify: ``identify(request) -> Identity | None`` (or a coroutine
                function): the ids for the request's events; None or a result of
                None: no ids. If it raises, the error is logged and the request
                goes on without ids.
            request_context: Fill ``context.userAgent``, ``locale``, ``page``
                (and ``ip``) from the request, as analytics.js does.
            ip: With ``request_context``, also ``context.ip`` (the client's address).
        """
        self.app = app
        self._identify = identify
        self._request_context = request_context
        self._ip = ip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection; lifespan and other types pass through untouched."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = asgi_request(scope)
        identity = await awaited_identity(identity_of(self._identify, request))
        with request_scope(identity, request, fill_context=self._request_context, ip=self._ip):
            await self.app(scope, receive, send)


def asgi_request(scope: Scope) -> RequestInfo:
    """The ``RequestInfo`` of an ASGI HTTP or WebSocket scope."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        joiner = "; " if name == "cookie" else ", "
        headers[name] = headers[name] + joiner + value if name in headers else value
    scheme = scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http")
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        if server:
            name, port = server[0], server[1]
            default = _DEFAULT_PORTS.get(scheme)
            host = name if port in (None, default) else f"{name}:{port}"
        else:
            host = "localhost"
    raw_path = scope.get("raw_path")
    if raw_path:
        path = raw_path.decode("latin-1").split("?", 1)[0]
    else:
        path = url_path(scope.get("root_path", "") + scope.get("path", "/"))
    query = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    return RequestInfo(
        method=scope.get("method", "GET"),
        url=f"{scheme}://{host}{path}" + (f"?{query}" if query else ""),
        path=path,
        query_string=query,
        headers=headers,
        client_ip=client[0] if client else None,
        raw=scope,
    )
