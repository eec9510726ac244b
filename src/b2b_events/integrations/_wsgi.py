"""WSGI middleware (Flask, Django, any WSGI app): one scope per request.

Plain WSGI, no framework import: ``app.wsgi_app = WSGIMiddleware(app.wsgi_app,
identify=...)`` in Flask, ``application = WSGIMiddleware(get_wsgi_application(),
identify=...)`` in Django's ``wsgi.py``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .._scope import Scope
from ._request import Identify, RequestInfo, identity_of, request_scope, url_path

__all__ = ["StartResponse", "WSGIApp", "WSGIMiddleware", "wsgi_request"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


class WSGIMiddleware:
    """Open a ``b2b_events.scope`` for each request of a WSGI app.

    Every event tracked while the request is handled, and while its response
    body is produced (a streamed response's generator), takes the ids
    ``identify`` gives and the request's context, unless the call passes its own.

    Example:
        >>> def identify(request: RequestInfo) -> Identity | None:  # doctest: +SKIP
        ...     session = sessions.get(request.cookies.get("session", ""))
        ...     return Identity(user_id=session.user_id, group_id=session.account_id)
        >>> app.wsgi_app = WSGIMiddleware(app.wsgi_app, identify=identify)  # doctest: +SKIP
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        identify: Identify | None = None,
        request_context: bool = True,
        ip: bool = True,
    ) -> None:
        """Wrap ``app``.

        Raises:
            TypeError: ``identify`` is a coroutine function.

        Args:
            app: The WSGI application.
            identify: ``identify(request) -> Identity | None``: the ids for the
                request's events; None or a result of None: no ids. If it
                raises, the error is logged and the request goes on without ids.
            request_context: Fill ``context.userAgent``, ``locale``, ``page``
                (and ``ip``) from the request, as analytics.js does.
            ip: With ``request_context``, also ``context.ip`` (the client's address).
        """
        if inspect.iscoroutinefunction(identify):
            raise TypeError("WSGIMiddleware calls identify synchronously: pass a plain function")
        self.app = app
        self._identify = identify
        self._request_context = request_context
        self._ip = ip

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Handle one request inside its scope; the body is produced inside it too."""
        request = wsgi_request(environ)
        identity = identity_of(self._identify, request)
        opened = request_scope(identity, request, fill_context=self._request_context, ip=self._ip)
        with opened:
            body = self.app(environ, start_response)
        if isinstance(body, (list, tuple)):  # already produced
            return body
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            return body  # the server sends the file itself: keep its fast path
        return _ScopedBody(body, opened)


class _ScopedBody:
    """A response body whose every chunk is produced inside the request's scope."""

    def __init__(self, body: Iterable[bytes], opened: Scope) -> None:
        self._body = body
        self._chunks: Iterator[bytes] | None = None
        self._scope = opened

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._scope:
            if self._chunks is None:
                self._chunks = iter(self._body)
            return next(self._chunks)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            with self._scope:
                close()


def wsgi_request(environ: dict[str, Any]) -> RequestInfo:
    """The ``RequestInfo`` of a WSGI environ (PEP 3333)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
        elif key in _UNPREFIXED and value:
            headers[_UNPREFIXED[key]] = value
    scheme = environ.get("wsgi.url_scheme", "http")
    host = headers.get("host")
    if not host:
        host, port = environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "")
        if port and port != _DEFAULT_PORTS.get(scheme):
            host = f"{host}:{port}"
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    with contextlib.suppress(UnicodeEncodeError):  # else a server that decoded them already
        raw = raw.encode("latin-1").decode("utf-8", "replace")  # PEP 3333: bytes as latin-1
    path = url_path(raw) or "/"
    query = environ.get("QUERY_STRING", "")
    return RequestInfo(
        method=environ.get("REQUEST_METHOD", "GET"),
        url=f"{scheme}://{host}{path}" + (f"?{query}" if query else ""),
        path=path,
        query_string=query,
        headers=headers,
        client_ip=environ.get("REMOTE_ADDR") or None,
        raw=environ,
    )
