"""The collector's HTTP side: Segment's ingestion routes on a local port.

``POST /v1/batch`` (and ``/v1/track``, ``/v1/identify``, ``/v1/group``) accept what
Segment's HTTP Tracking API accepts: JSON, optionally gzipped, with Basic auth or a
body ``writeKey``. Each message is validated against the spec, like Segment
Protocols, and stored with its violations. ``GET /health`` and
``GET /v1/messages`` (filters: ``event``, ``userId``, ``groupId``, ``limit``)
answer in JSON.
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
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic_core import from_json, to_json

from .._delivery.wire import MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES
from .._exceptions import InvalidEventError
from .._logs.reader import UnreadableError, gunzip
from ..events import validate
from ._faults import Faults
from ._store import Store, StoredMessage

__all__ = ["MAX_BODY_BYTES", "CollectorHTTPServer"]

logger = logging.getLogger("b2b_events.collector")

MAX_BODY_BYTES = MAX_REQUEST_BYTES
"""Largest request body accepted, after gzip decoding (Segment's 500 KB: 500,000 bytes)."""

_SINGLE_ROUTES = {"/v1/track": "track", "/v1/identify": "identify", "/v1/group": "group"}


class BadRequest(Exception):  # noqa: N818 - an HTTP answer, not a programming error
    """Answer with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def received_now() -> str:
    """The server's clock as ``receivedAt``: ISO-8601 UTC with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


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
    ) -> None:
        """Bind ``address``; call ``serve_forever`` to start answering."""
        self.store = store
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
        if url.path != "/v1/messages":
            self._json(404, {"error": f"no route GET {url.path}"})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            limit = int(query["limit"]) if "limit" in query else None
        except ValueError:
            limit = -1
        if limit is not None and limit < 0:
            self._json(400, {"error": "limit must be a whole number, 0 or more"})
            return
        found = self.server.store.query(
            event=query.get("event"),
            user_id=query.get("userId"),
            group_id=query.get("groupId"),
            limit=limit,
        )
        self._json(
            200,
            [
                {"message": m.message, "receivedAt": m.received_at, "violations": m.violations}
                for m in found
            ],
        )

    # -- POST -------------------------------------------------------------

    def do_POST(self) -> None:
        self.server.begin()  # before the check: stop() waits for requests it let in
        try:
            if self.server.stopping:
                # A kept-alive connection outlives serve_forever(): refuse, so the
                # sender retries elsewhere instead of losing what a closing store took.
                self.close_connection = True
                self._json(503, {"error": "the collector is stopping"}, {"Connection": "close"})
                return
            self._post()
        except BadRequest as error:
            self._json(error.status, error.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            logger.exception("collector: error while handling %s", self.path)
            self._json(500, {"error": "internal error in the collector"})
        finally:
            self.server.end()

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path != "/v1/batch" and path not in _SINGLE_ROUTES:
            raise BadRequest(404, f"no route POST {path}")
        raw = self._read_body()
        fault = self.server.faults.take()
        if self.server.faults.delay:
            time.sleep(self.server.faults.delay)
        if fault is not None:
            if fault.kind == "drop":
                self._reset()
                return
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self._json(fault.status, {"error": "injected fault"}, headers)
            return
        body = self._decode(raw)
        payload = _parse_json(body)
        self._check_auth(payload)
        messages = _messages_of(payload, path, len(body))
        received_at = received_now()
        stored = [StoredMessage(m, received_at, _violations(m)) for m in messages]
        if self.server.reject_invalid:
            invalid = {i: list(s.violations) for i, s in enumerate(stored) if not s.ok}
            if invalid:
                raise BadRequest(400, "invalid messages", violations=invalid)
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
            raise BadRequest(400, f"request body over {MAX_BODY_BYTES:,} bytes")
        return self.rfile.read(length)

    def _decode(self, raw: bytes) -> bytes:
        if self.headers.get("Content-Encoding", "").lower() != "gzip":
            return raw
        body = bytearray()
        try:
            for chunk in gunzip(raw, _nothing_more):  # every member, a chunk at a time
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise BadRequest(400, f"decoded body over {MAX_BODY_BYTES:,} bytes")
        except UnreadableError as exc:
            raise BadRequest(400, f"body is not valid gzip: {exc}") from None
        return bytes(body)

    def _check_auth(self, payload: dict[str, Any]) -> None:
        expected = self.server.write_key
        if expected is None:
            return
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":  # auth schemes are case-insensitive (RFC 9110)
            try:
                user = base64.b64decode(credentials.strip()).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                user = None
            if user == expected:
                return
        if payload.get("writeKey") == expected:
            return
        raise BadRequest(401, "missing or wrong write key")


def _parse_json(body: bytes) -> dict[str, Any]:
    if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM, which json.loads would skip too
        body = body[3:]
    try:
        # pydantic-core's parser (a quarter faster than json.loads), held to JSON: no NaN
        payload = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise BadRequest(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, f"body must be a JSON object, not {type(payload).__name__}")
    return payload


def _messages_of(payload: dict[str, Any], path: str, body_size: int) -> list[dict[str, Any]]:
    if path in _SINGLE_ROUTES:
        kind = _SINGLE_ROUTES[path]
        if payload.setdefault("type", kind) != kind:
            raise BadRequest(400, f"{path} takes {kind} messages, not {payload['type']!r}")
        payload.pop("writeKey", None)
        _check_sizes([payload], body_size, single=True)
        return [payload]
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
    _check_sizes(batch, body_size)
    return batch


def _check_sizes(messages: list[dict[str, Any]], body_size: int, *, single: bool = False) -> None:
    """Segment refuses a request with a message over 32 KiB (compact JSON, as senders count)."""
    if body_size <= MAX_MESSAGE_BYTES:
        return  # no message of a body this small can be
    for index, message in enumerate(messages):
        size = len(to_json(message))
        if size > MAX_MESSAGE_BYTES:
            where = "the message" if single else f"batch[{index}]"
            limit = f"over the {MAX_MESSAGE_BYTES:,} limit"
            raise BadRequest(400, f"{where} is {size:,} bytes, {limit}")


def _nothing_more(size: int) -> bytes:
    return b""  # a request body is read whole before it is decoded


def _violations(message: dict[str, Any]) -> tuple[str, ...]:
    try:
        validate(message)
    except InvalidEventError as error:
        return tuple(str(problem) for problem in error.problems)
    return ()
