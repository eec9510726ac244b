"""What the middlewares know of a request, and the context they give its events (sans-IO).

``RequestInfo`` is the same for ASGI and WSGI, so one ``identify`` function
serves both; ``request_context`` fills ``context.ip``, ``userAgent``, ``locale``
and ``page`` as analytics.js fills them in a browser
(https://segment.com/docs/connections/spec/common/#context). Only those named
headers are read: never ``Cookie`` or ``Authorization``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .._scope import Identity, Scope, merge_context, scope

__all__ = [
    "Identify",
    "RequestInfo",
    "awaited_identity",
    "identity_of",
    "request_context",
    "request_scope",
    "url_path",
]

logger = logging.getLogger(__name__)

_PATH_SAFE = "/:@!$&'()*+,;=~"  # RFC 3986 pchar and "/": left as they are in a path


@dataclass(frozen=True, kw_only=True)
class RequestInfo:
    """A request as the middlewares see it, before any framework does.

    Attributes:
        method: ``GET``, ``POST``, ...
        url: The full URL as requested: ``https://app.example.com/signup?plan=pro``.
        path: The path, percent-encoded as requested (``/a%20b``), no query.
        query_string: The query without ``?`` (``""`` if none).
        headers: Header values by lower-case name (repeated headers joined by ``, ``).
        client_ip: The peer's address as the server reports it (behind a proxy,
            let the server or a proxy-fix middleware trust its forwarding headers).
        raw: The ASGI scope or the WSGI environ, for anything else (e.g.
            ``starlette.requests.Request(request.raw)``).
    """

    method: str
    url: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    client_ip: str | None
    raw: Mapping[str, Any]

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies by name (e.g. analytics.js's ``ajs_anonymous_id``)."""
        jar: dict[str, str] = {}
        for pair in self.headers.get("cookie", "").split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name:
                jar.setdefault(name, value.strip())
        return jar


Identify = Callable[[RequestInfo], "Identity | Awaitable[Identity | None] | None"]
"""``identify(request) -> Identity(user_id=..., group_id=...)`` (or None: no ids)."""


def url_path(raw: str) -> str:
    """``raw`` (decoded) percent-encoded as a URL path."""
    return quote(raw, safe=_PATH_SAFE)


def request_context(request: RequestInfo, *, ip: bool = True) -> dict[str, Any]:
    """``ip``, ``userAgent``, ``locale`` and ``page`` of a request, as analytics.js fills them.

    ``locale`` is the first language of ``Accept-Language`` (the browser's
    ``navigator.language``); ``page`` has ``path``, ``url``, ``referrer`` and
    ``search`` (the query with its ``?``); what the request lacks is left out.
    """
    headers = request.headers
    context: dict[str, Any] = {}
    if ip and request.client_ip:
        context["ip"] = request.client_ip
    agent = headers.get("user-agent")
    if agent:
        context["userAgent"] = agent
    locale = _first_language(headers.get("accept-language", ""))
    if locale:
        context["locale"] = locale
    page: dict[str, str] = {"path": request.path, "url": request.url}
    referrer = headers.get("referer")
    if referrer:
        page["referrer"] = referrer
    if request.query_string:
        page["search"] = "?" + request.query_string
    context["page"] = page
    return context


def _first_language(accept_language: str) -> str | None:
    for item in accept_language.split(","):
        tag = item.split(";", 1)[0].strip()
        if tag and tag != "*":
            return tag
    return None


def identity_of(
    identify: Identify | None, request: RequestInfo
) -> Identity | Awaitable[Identity | None] | None:
    """What ``identify`` says of ``request``; None (and a logged error) if it raises.

    An analytics hook does not fail the request: its events go without ids.
    """
    if identify is None:
        return None
    try:
        return identify(request)
    except Exception:
        logger.exception("identify(request) failed for %s %s", request.method, request.path)
        return None


async def awaited_identity(found: Identity | Awaitable[Identity | None] | None) -> Identity | None:
    """``found``, awaited if ``identify`` is a coroutine function; its errors logged as above."""
    if not inspect.isawaitable(found):
        return found
    try:
        return await found
    except Exception:
        logger.exception("identify(request) failed")
        return None


def request_scope(found: object, request: RequestInfo, *, fill_context: bool, ip: bool) -> Scope:
    """The scope of one request: ``found`` (an identity), over the request's context.

    Anything but an ``Identity`` or None from ``identify`` is logged and ignored.
    """
    identity = found if isinstance(found, Identity) else None
    if found is not None and identity is None:
        logger.error("identify(request) returned %s, not an Identity: ignored", type(found))
    if not fill_context:
        return scope(identity)
    context = merge_context(
        request_context(request, ip=ip), identity.context if identity is not None else None
    )
    return scope(identity, context=context)
