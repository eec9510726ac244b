"""The collector's HTTP side: Segment's ingestion routes on a local port.

``POST /v1/batch`` and the single-message routes (``/v1/track``, ``/v1/identify``,
``/v1/group``, ``/v1/page``, ``/v1/screen``, ``/v1/alias``) accept what Segment's
HTTP Tracking API accepts: JSON, optionally gzipped, with Basic auth or a body
``writeKey``. Each message is validated against the spec, like Segment Protocols,
and stored with its violations and the fields Segment's pipeline adds. Refusals
answer ``{"code", "message"}``, as the official libraries read them.

``GET /`` is the web view; ``GET /health``, ``GET /v1/messages`` (filters:
``event``, ``userId``, ``groupId``, ``valid``, ``limit``) and ``GET /v1/view``
(what the web view polls: a page of them, ``offset`` back from the newest)
answer in JSON. With a write key, every route but ``/health`` and the view's
static files requires it.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pydantic_core import from_json, to_json

from .._delivery.wire import (
    MAX_BATCH_EVENTS,
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_BYTES,
    sent_at_now,
)
from .._exceptions import InvalidEventError
from .._logs.reader import UnreadableError, gunzip
from ..events._validate import validate_text
from ._faults import Faults
from ._refusals import Refusal, Refusals
from ._store import Store, StoredMessage

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = ["MAX_BODY_BYTES", "CollectorHTTPServer"]

logger = logging.getLogger("b2b_events.collector")

MAX_BODY_BYTES = MAX_REQUEST_BYTES
"""Largest request body accepted, after gzip decoding (Segment's 500 KB: 500,000 bytes)."""

_SINGLE_ROUTES = {
    f"/v1/{kind}": kind for kind in ("track", "identify", "group", "page", "screen", "alias")
}
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    411: "length_required",
    413: "payload_too_large",
    500: "internal_error",
    503: "unavailable",
}
_STATIC = {  # the web view: plain files, no build step, nothing from elsewhere
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/view.css": ("view.css", "text/css; charset=utf-8"),
    "/static/view.js": ("view.js", "text/javascript; charset=utf-8"),
}
_REALM = 'Basic realm="b2b-events collector: the write key as user name"'
_VIEW_LIMIT = 200  # messages to a page of the web view


class BadRequest(Exception):  # noqa: N818 - an HTTP answer, not a programming error
    """Answer with ``status`` and ``{"code", "message"}`` (and ``error``, the message again).

    segment-analytics-python and rudder-sdk-python read ``code`` and ``message``
    from a refusal (rudder's fails without ``code``); ``error`` is kept for readers
    of earlier versions.
    """

    def __init__(self, status: int, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.body = {"code": self.code, "message": message, "error": message, **extra}


received_now = sent_at_now  # the server's clock as ``receivedAt``, in the wire's format


class CollectorHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the collector's settings, store and faults."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        store: Store,
        faults: Faults,
        write_key: str | None,
        reject_invalid: bool,
        on_message: Callable[[StoredMessage], None] | None,
        plan: TrackingPlan | None = None,
        on_refusal: Callable[[Refusal], None] | None = None,
    ) -> None:
        """Bind ``address``; call ``serve_forever`` to start answering."""
        self.plan = plan
        self.store = store
        self.refusals = Refusals()
        self.on_refusal = on_refusal
        self.faults = faults
        self.write_key = write_key
        self.reject_invalid = reject_invalid
        self.on_message = on_message
        self.stopping = False  # set by Collector.stop(): kept-alive connections get 503
        self.after_store: Callable[[], object] | None = None  # the CLI's GC hook
        self._busy = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    def begin(self) -> None:
        """A request started (``wait_idle`` waits for it)."""
        with self._idle:
            self._busy += 1

    def end(self) -> None:
        """A request finished."""
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled (idle keep-alive connections aside)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK stall
    server: CollectorHTTPServer
    timeout = 30  # an idle keep-alive connection is closed after this

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # -- answers ------------------------------------------------------------

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends a TCP RST, like a crashed or overloaded server.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    # -- GET --------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._json(200, {"status": "ok", "messages": self.server.store.count()})
            return
        try:
            if url.path in _STATIC:
                if url.path == "/":  # the page asks for the key once; the browser keeps it
                    self._require_key()
                self._static(*_STATIC[url.path])
                return
            if url.path not in ("/v1/messages", "/v1/view"):
                raise BadRequest(404, f"no route GET {url.path}")
            self._require_key()  # stored messages hold emails: a key guards them too
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/v1/view":
                self._json(200, self._view(query))
                return
            found = self.server.store.query(**_filters(query), limit=_limit(query, None))
            self._json(200, [_listing(m) for m in found])
        except BadRequest as error:
            self._json(error.status, error.body, _auth_header(error))

    def _require_key(self) -> None:
        if not self._header_auth():
            raise BadRequest(401, "missing or wrong write key (Basic auth, key as user name)")

    def _static(self, name: str, content_type: str) -> None:
        data = files(__package__).joinpath("static").joinpath(name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _view(self, query: dict[str, str]) -> dict[str, Any]:
        """What the web view shows: counts, a page of the matching messages, the refusals."""
        store = self.server.store
        total = store.count()
        refused, latest = self.server.refusals.latest()
        if query.get("seen") == str(total) and query.get("refusedSeen") == str(refused):
            # Nothing new since the page's last poll (same filters): skip the queries.
            return {"unchanged": True, "total": total, "refusedTotal": refused}
        found = store.query(**_filters(query))
        size = _limit(query, _VIEW_LIMIT) or 0
        offset = _whole(query, "offset") or 0  # the newest `offset` matching ones are skipped
        matching = len(found)
        drawn = _whole(query, "matching")  # how many matched when that page was drawn
        if offset and drawn is not None:  # an older page stays put as new messages arrive
            offset += max(0, matching - drawn)
        newest = max(0, matching - offset)
        shown = found[max(0, newest - size) : newest]
        return {
            "total": total,
            "counts": [
                {"event": name, "received": received, "valid": valid}
                for name, (received, valid) in store.counts().items()
            ],
            "matching": matching,
            "offset": offset,
            "pageSize": size,
            "messages": [_listing(m) for m in reversed(shown)],  # newest first
            "refusedTotal": refused,
            "refused": [r.to_json() for r in latest],
        }

    # -- POST -------------------------------------------------------------

    def do_POST(self) -> None:
        self.server.begin()  # before the check: stop() waits for requests it let in
        path = urlsplit(self.path).path
        try:
            if self.server.stopping:
                # A kept-alive connection outlives serve_forever(): refuse, so the
                # sender retries elsewhere instead of losing what a closing store took.
                self.close_connection = True
                raise BadRequest(503, "the collector is stopping")
            self._post(path)
        except BadRequest as error:
            self._refuse(path, error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            logger.exception("collector: error while handling %s", self.path)
            self._refuse(path, BadRequest(500, "internal error in the collector"))
        finally:
            self.server.end()

    def _refuse(self, path: str, error: BadRequest, headers: dict[str, str] | None = None) -> None:
        headers = {**(headers or {}), **_auth_header(error)}
        if self.close_connection:
            headers["Connection"] = "close"
        self._json(error.status, error.body, headers)
        refusal = Refusal(
            received_now(), "POST", path, error.status, error.code, error.message, self.client_ip
        )
        self.server.refusals.add(refusal)
        on_refusal = self.server.on_refusal
        if on_refusal is not None:
            try:
                on_refusal(refusal)
            except Exception:  # the answer is sent: a second one would corrupt the stream
                logger.exception("collector: the live view failed on a refusal")

    @property
    def client_ip(self) -> str:
        return str(self.client_address[0])

    def _post(self, path: str) -> None:
        if path != "/v1/batch" and path not in _SINGLE_ROUTES:
            raise BadRequest(404, f"no route POST {path}")
        body, payload = self._authorized_body()
        if self._faulted(path):
            return
        messages, batch_sent_at, texts = _messages_of(payload, path, body)
        received_at = received_now()
        plan = self.server.plan
        stored = [
            StoredMessage(m, received_at, _violations(m, text, plan), _sent_at(m, batch_sent_at))
            for m, text in zip(messages, texts, strict=True)
        ]
        if self.server.reject_invalid:
            invalid = {i: list(s.violations) for i, s in enumerate(stored) if not s.ok}
            if invalid:
                raise BadRequest(
                    400, "invalid messages", code="invalid_messages", violations=invalid
                )
        self.server.store.add(stored)
        if self.server.after_store is not None:
            self.server.after_store()
        self._json(200, {"success": True})
        on_message = self.server.on_message
        if on_message is not None:
            try:
                for message in stored:
                    on_message(message)
            except Exception:  # the answer is sent: a second one would corrupt the stream
                logger.exception("collector: the live view failed; the messages are stored")

    def _faulted(self, path: str) -> bool:
        """Apply the delay and the next injected fault; True when the fault answered."""
        fault = self.server.faults.take()
        if self.server.faults.delay:
            time.sleep(self.server.faults.delay)
        if fault is None:
            return False
        if fault.kind == "drop":
            self._reset()
            return True
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        error = BadRequest(fault.status, "injected fault", code="injected_fault")
        self._refuse(path, error, headers)
        return True

    def _authorized_body(self) -> tuple[bytes, dict[str, Any]]:
        """The body, decoded, and its JSON, from a sender that has the key (if one is set).

        A wrong Authorization header is refused before the body is read; without
        one, the key can only be in the body, which is checked before anything else.
        """
        authorized = self._header_auth()
        raw = self._read_body()
        try:
            body = self._decode(raw)
            payload = _parse_json(body)
        except BadRequest:
            if not authorized:  # a body that cannot be read holds no key either
                raise BadRequest(401, "missing or wrong write key") from None
            raise
        if not authorized and payload.get("writeKey") != self.server.write_key:
            raise BadRequest(401, "missing or wrong write key")
        return body, payload

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise BadRequest(411, "Content-Length required")
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise BadRequest(400, "Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read: do not reuse the connection
            raise BadRequest(413, f"request body over {MAX_BODY_BYTES:,} bytes")
        return self.rfile.read(length)

    def _decode(self, raw: bytes) -> bytes:
        if self.headers.get("Content-Encoding", "").lower() != "gzip":
            return raw
        body = bytearray()
        try:
            for chunk in gunzip(raw, _nothing_more):  # every member, a chunk at a time
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise BadRequest(413, f"decoded body over {MAX_BODY_BYTES:,} bytes")
        except UnreadableError as exc:
            raise BadRequest(400, f"body is not valid gzip: {exc}") from None
        return bytes(body)

    def _header_auth(self) -> bool:
        """True: no key is needed, or the Basic header has it; False: no header at all.

        Raises:
            BadRequest: 401, when a header is there without the key.
        """
        expected = self.server.write_key
        if expected is None:
            return True
        header = self.headers.get("Authorization")
        if header is None:
            return False
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":  # auth schemes are case-insensitive (RFC 9110)
            try:
                user = base64.b64decode(credentials.strip()).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                user = None
            if user == expected:
                return True
        self.close_connection = True  # the body, if any, is left unread
        raise BadRequest(401, "missing or wrong write key")


def _sent_at(message: dict[str, Any], batch_sent_at: str | None) -> str | None:
    """A message's own ``sentAt`` (analytics.js sets one per message), else its batch's."""
    own = message.get("sentAt")
    return own if isinstance(own, str) else batch_sent_at


def _auth_header(error: BadRequest) -> dict[str, str]:
    # Lets a browser ask for the key (as user name) and send it with every later request.
    return {"WWW-Authenticate": _REALM} if error.status == 401 else {}


def _filters(query: dict[str, str]) -> dict[str, Any]:
    valid = query.get("valid")
    if valid not in (None, "", "true", "false"):
        raise BadRequest(400, "valid must be true or false")
    return {
        "event": query.get("event") or None,
        "user_id": query.get("userId") or None,
        "group_id": query.get("groupId") or None,
        "valid": None if not valid else valid == "true",
    }


def _limit(query: dict[str, str], default: int | None) -> int | None:
    limit = _whole(query, "limit")
    return default if limit is None else limit


def _whole(query: dict[str, str], name: str) -> int | None:
    """The query parameter ``name`` as a whole number, 0 or more; None if absent."""
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        value = -1
    if value < 0:
        raise BadRequest(400, f"{name} must be a whole number, 0 or more")
    return value


def _listing(stored: StoredMessage) -> dict[str, Any]:
    """A stored message in JSON: as it arrived, what Segment adds, and its violations."""
    return {
        "message": stored.message,
        "receivedAt": stored.received_at,
        "sentAt": stored.sent_at,
        "originalTimestamp": stored.original_timestamp,
        "timestamp": stored.timestamp,
        "violations": list(stored.violations),
    }


def _parse_json(body: bytes) -> dict[str, Any]:
    if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM, which json.loads would skip too
        body = body[3:]
    try:
        # pydantic-core's parser (a quarter faster than json.loads), held to JSON: no NaN
        payload = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            limit = f"nested past the {MAX_DEPTH}-level limit for a message"
            raise BadRequest(400, f"body is not valid JSON: {limit} ({exc})") from None
        raise BadRequest(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, f"body must be a JSON object, not {type(payload).__name__}")
    return payload


def _messages_of(
    payload: dict[str, Any], path: str, body: bytes
) -> tuple[list[dict[str, Any]], str | None, list[bytes]]:
    """The messages of a body, the batch's ``sentAt``, and a JSON text bounding each message.

    A single route's body is one message. Each message's text (its own JSON when
    the size check wrote it, else the whole body) bounds its nesting, so that
    validation can skip the ``MAX_DEPTH`` walk for a shallow one (``validate_text``).
    """
    if path in _SINGLE_ROUTES:
        kind = _SINGLE_ROUTES[path]
        if payload.setdefault("type", kind) != kind:
            raise BadRequest(400, f"{path} takes {kind} messages, not {payload['type']!r}")
        payload.pop("writeKey", None)
        return [payload], None, _check_sizes([payload], body, single=True)
    batch = payload.get("batch")
    if not isinstance(batch, list):
        raise BadRequest(400, "batch must be a list of messages")
    if len(batch) > MAX_BATCH_EVENTS:
        count = f"{len(batch):,} messages"
        raise BadRequest(400, f"batch has {count}, over the {MAX_BATCH_EVENTS:,} limit")
    for index, message in enumerate(batch):
        if not isinstance(message, dict):
            raise BadRequest(400, f"batch[{index}] must be a JSON object")
        if not isinstance(message.get("type"), str):
            raise BadRequest(400, f"batch[{index}] has no type")
    texts = _check_sizes(batch, body)
    sent_at = payload.get("sentAt")
    return batch, sent_at if isinstance(sent_at, str) else None, texts


def _check_sizes(
    messages: list[dict[str, Any]], body: bytes, *, single: bool = False
) -> list[bytes]:
    """Segment refuses a request with a message over 32 KiB (compact JSON, as senders count).

    Returns a text bounding each message: the body when it is too small to hold
    an oversized message, else each message's compact JSON, measured here.
    """
    if len(body) <= MAX_MESSAGE_BYTES:
        return [body] * len(messages)  # no message of a body this small can be
    texts = []
    for index, message in enumerate(messages):
        text = to_json(message)
        texts.append(text)
        size = len(text)
        if size > MAX_MESSAGE_BYTES:
            where = "the message" if single else f"batch[{index}]"
            limit = f"over the {MAX_MESSAGE_BYTES:,} limit"
            raise BadRequest(400, f"{where} is {size:,} bytes, {limit}")
    return texts


def _nothing_more(size: int) -> bytes:
    return b""  # a request body is read whole before it is decoded


def _violations(message: dict[str, Any], text: bytes, plan: TrackingPlan | None) -> tuple[str, ...]:
    try:
        validate_text(message, text, plan=plan)
    except InvalidEventError as error:
        return tuple(str(problem) for problem in error.problems)
    return ()
