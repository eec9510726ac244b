"""A real HTTP server on 127.0.0.1 that speaks ``/v1/batch``, with scripted faults.

Tests tell it how to answer each request (a status, a delay, a dropped
connection) and read back exactly what arrived on the wire.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: bytes
    payload: dict[str, Any]
    received: float
    status: int = 0

    @property
    def batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = self.payload.get("batch", [])
        return batch


@dataclass
class Reply:
    """Answer with this status (and headers), after ``delay`` seconds."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Reset:
    """Drop the connection without answering (a TCP reset)."""


Action = Reply | Reset
Responder = Callable[[Request], Action]


class BatchServer:
    """A threaded loopback HTTP server recording every ``/v1/batch`` request."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._script: list[Action] = []
        self.responder: Responder = lambda request: Reply(200)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(raw)
                request = Request(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
                    body=body,
                    payload=json.loads(body),
                    received=time.monotonic(),
                )
                action = server._next_action(request)
                if isinstance(action, Reset):
                    request.status = -1
                    server._record(request)
                    # SO_LINGER with a zero timeout turns close() into a TCP RST.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if action.delay:
                    time.sleep(action.delay)
                request.status = action.status
                server._record(request)
                data = json.dumps({"success": 200 <= action.status < 300}).encode()
                try:
                    self.send_response(action.status)
                    for name, value in action.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, *actions: Action) -> None:
        """Answer the next requests with these actions, then with the responder."""
        with self._lock:
            self._script.extend(actions)

    def _next_action(self, request: Request) -> Action:
        with self._lock:
            if self._script:
                return self._script.pop(0)
        return self.responder(request)

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def accepted(self) -> list[dict[str, Any]]:
        """Messages of every request answered with a 2xx, in arrival order."""
        with self._lock:
            return [m for r in self.requests if 200 <= r.status < 300 for m in r.batch]

    def accepted_ids(self) -> list[str]:
        return [m["messageId"] for m in self.accepted()]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` messages were accepted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.accepted()) >= count:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
