"""How a batch travels: the ``Transport`` protocol and its httpx implementation.

The engine decides when and what to send and what a response means; a transport
only turns serialized messages into one request and reports what came back. Tests
and the pytest plugin swap in their own transport instead of patching HTTP.
"""

from __future__ import annotations

import base64
import gzip as gzip_module
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Generic, Protocol, TypeVar, runtime_checkable

import httpx

from .._version import __version__
from .wire import encode_batch

__all__ = [
    "AsyncHttpTransport",
    "AsyncTransport",
    "HttpTransport",
    "Response",
    "Transport",
    "parse_retry_after",
    "redact",
    "redact_url",
    "send_guarded",
]

logger = logging.getLogger("b2b_events.transport")

USER_AGENT = f"b2b-events/{__version__}"


_DETAIL_CHARS = 200  # of a refusal's body, in ``Response.detail`` (and drop warnings)
_REDACTED = "[redacted]"
# What may carry a credential in a body or an error: an Authorization header's value,
# a "writeKey"/"password"/"token"/... field, and long base64-like runs (base64 of
# "KEY:" is what an endpoint echoing our headers sends back).
_SECRETS = re.compile(
    r"(?i)\b(?:basic|bearer)\s+[^\s\"',;]+"
    r"|(?<=[\"'])(?:write_?key|password|secret|token|authorization|api_?key)[\"']\s*:\s*"
    r"[\"'][^\"']*[\"']"
    r"|(?<![A-Za-z0-9+/])(?=[A-Za-z+/]*[0-9])[A-Za-z0-9+/]{24,}={0,2}"
)
_MIN_SECRET = 8  # a shorter "key" (tests, local collectors) would blank ordinary words


def _redact_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if ":" in text and text[0] not in "bB":  # "writeKey": "...": keep the name
        return text[: text.index(":") + 1] + f' "{_REDACTED}"'
    if text[:6].lower() in ("basic ", "bearer"):
        return text.split(None, 1)[0] + " " + _REDACTED
    return _REDACTED


def redact(text: str, secret: str = "") -> str:
    """``text`` without anything that looks like a credential, for logs.

    Removes ``secret`` (the write key) and its Basic-auth base64 form, Basic and
    Bearer credentials, credential-named JSON fields and long base64-like runs.
    """
    if len(secret) >= _MIN_SECRET:
        encoded = base64.b64encode(f"{secret}:".encode()).decode()
        for form in (encoded, encoded.rstrip("="), secret):
            text = text.replace(form, _REDACTED)
    return _SECRETS.sub(_redact_match, text)


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced, for logs, errors and ``repr``."""
    return re.sub(r"(?<=//)[^/?#@]*@", f"{_REDACTED}@", url, count=1)


@dataclass(frozen=True)
class Response:
    """What one attempt came to.

    Attributes:
        status: The HTTP status, or 0 when no response arrived (connection
            refused or reset, timeout, DNS failure).
        retry_after: Seconds the server asked us to wait (``Retry-After``), if any.
        detail: A short description for logs: the error, or the start of the body
            with anything that looks like a credential redacted (``redact``).
    """

    status: int
    retry_after: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx."""
        return 200 <= self.status < 300

    def describe(self) -> str:
        """For logs: ``HTTP 503: <detail>``, or the network error."""
        if self.status == 0:
            return self.detail or "network error"
        return f"HTTP {self.status}" + (f": {self.detail}" if self.detail else "")


@runtime_checkable
class Transport(Protocol):
    """Sends one batch of serialized messages; the seam tests and plugins replace.

    ``send`` must not raise for delivery failures: it returns a ``Response``
    (status 0 for network errors). It is called once per attempt, so it stamps
    ``sentAt`` afresh each time.
    """

    def send(self, messages: Sequence[bytes]) -> Response:
        """Send ``messages`` (each one serialized JSON message) as one batch."""
        ...

    def close(self) -> None:
        """Release connections. Called once, by the client's ``close()``."""
        ...


def send_guarded(transport: Transport, messages: Sequence[bytes]) -> Response:
    """``transport.send``; a custom transport that raises counts as a failed attempt."""
    try:
        return transport.send(messages)
    except Exception as exc:  # the transport broke its contract: retry it as a failure
        logger.debug("b2b-events: transport raised", exc_info=True)
        return Response(0, detail=f"{type(exc).__name__}: {exc}")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header (delay-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # asctime and "-0000" dates: HTTP dates are UTC (RFC 9110 5.6.7)
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


# The connection pool a transport uses: httpx.Client, or httpx.AsyncClient.
HttpClient = TypeVar("HttpClient", httpx.Client, httpx.AsyncClient)


class _HttpBase(Generic[HttpClient]):
    """What both HTTP transports share: URL, headers, auth, body encoding, reading answers."""

    _client_class: type[HttpClient]

    def __init__(
        self,
        *,
        write_key: str,
        endpoint: str,
        gzip: bool = True,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        proxy: str | None = None,
        http_client: HttpClient | None = None,
    ) -> None:
        """Create a transport; see ``Client`` for the arguments."""
        self._write_key = write_key
        self._url = endpoint.rstrip("/") + "/v1/batch"
        self._gzip = gzip
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._proxy = proxy
        self._auth = httpx.BasicAuth(write_key, "")
        self._headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._owns_client = http_client is None
        self._client: HttpClient = http_client if http_client is not None else self._new_client()
        self._pid = os.getpid()  # the process whose sockets ``_client`` pools

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={redact_url(self._url)!r}, gzip={self._gzip})"

    def _new_client(self) -> HttpClient:
        return self._client_class(timeout=self._timeout, proxy=self._proxy, verify=True)

    def _body(self, messages: Sequence[bytes]) -> bytes:
        """The request body for one attempt: ``sentAt`` is stamped now."""
        body = encode_batch(messages, self._write_key)
        if self._gzip:
            body = gzip_module.compress(body, compresslevel=1, mtime=0)
        return body

    def _failure(self, exc: httpx.HTTPError) -> Response:
        return Response(0, detail=redact(f"{type(exc).__name__}: {exc}", self._write_key))

    def _answer(self, response: httpx.Response) -> Response:
        detail = ""
        if not response.is_success:
            # A refusal's body may echo our request (headers included): whole only at
            # DEBUG, redacted in the detail that WARNING lines show.
            logger.debug(
                "b2b-events: HTTP %d body: %s",
                response.status_code,
                redact(response.text, self._write_key),
            )
            detail = redact(response.text[: _DETAIL_CHARS * 2], self._write_key)[:_DETAIL_CHARS]
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Response(response.status_code, retry_after, detail)


class HttpTransport(_HttpBase[httpx.Client]):
    """``POST {endpoint}/v1/batch`` with httpx: Basic auth, gzip, keep-alive, TLS verified.

    The write key goes both in the Basic ``Authorization`` header (user name, empty
    password) and in the body's ``writeKey``: Segment accepts either and some
    compatible hosts read only the header. The arguments are ``Client``'s, and
    ``http_client`` (``HttpClient``) is an ``httpx.Client``.
    """

    _client_class = httpx.Client

    def send(self, messages: Sequence[bytes]) -> Response:
        """POST one batch; network failures come back as status 0, never as exceptions."""
        if self._pid != os.getpid() and self._owns_client:
            # A forked child must not share the parent's pooled sockets.
            self._client = self._new_client()
            self._pid = os.getpid()
        body = self._body(messages)
        try:
            response = self._client.post(
                self._url, content=body, headers=self._headers, auth=self._auth
            )
        except httpx.HTTPError as exc:
            return self._failure(exc)
        return self._answer(response)

    def close(self) -> None:
        """Close the connection pool if this transport created it, in this process.

        A forked child that never sent holds its parent's pool, whose sockets are
        the parent's connections: left alone (clients are closed at a
        multiprocessing child's end, too).
        """
        if self._owns_client and self._pid == os.getpid():
            self._client.close()


@runtime_checkable
class AsyncTransport(Protocol):
    """The asyncio counterpart of ``Transport``, for ``AsyncClient``."""

    async def send(self, messages: Sequence[bytes]) -> Response:
        """Send ``messages`` as one batch; never raise for delivery failures."""
        ...

    async def aclose(self) -> None:
        """Release connections. Called once, by the client's ``aclose()``."""
        ...


class AsyncHttpTransport(_HttpBase[httpx.AsyncClient]):
    """``HttpTransport`` on ``httpx.AsyncClient`` (so is ``http_client``), for ``AsyncClient``."""

    _client_class = httpx.AsyncClient

    async def send(self, messages: Sequence[bytes]) -> Response:
        """POST one batch; network failures come back as status 0, never as exceptions."""
        body = self._body(messages)
        try:
            response = await self._client.post(
                self._url, content=body, headers=self._headers, auth=self._auth
            )
        except httpx.HTTPError as exc:
            return self._failure(exc)
        return self._answer(response)

    async def aclose(self) -> None:
        """Close the connection pool if this transport created it."""
        if self._owns_client:
            await self._client.aclose()
