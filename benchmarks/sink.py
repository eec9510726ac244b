"""A loopback ``/v1/batch`` sink for benchmarks: counts messages, nothing else.

Runs in its own process so that its CPU time is not charged to the client being
measured. ``GET /count`` returns how many messages arrived; ``POST /reset`` zeroes it.
``python sink.py 0.3``: a flaky endpoint, that answers 30% of batch requests (drawn
at random, seeded) with a 500 and counts none of their messages.
"""

from __future__ import annotations

import gzip
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_count = 0
_fail_rate = 0.0
_draw = random.Random(2026).random


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with _lock:
            count = _count
        self._reply(str(count).encode())

    def do_POST(self) -> None:
        global _count  # noqa: PLW0603
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/reset":
            with _lock:
                _count = 0
            self._reply(b"0")
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        arrived = body.count(b'"messageId"')
        with _lock:
            failed = _draw() < _fail_rate
            if not failed:
                _count += arrived
        if failed:
            self._reply(b'{"code": "server_error", "message": "flaky"}', 500)
            return
        self._reply(b'{"success": true}')


def main() -> None:
    global _fail_rate  # noqa: PLW0603
    if len(sys.argv) > 1:
        _fail_rate = float(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
