"""Run a function in a forked child and bring its JSON result back to the parent."""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any


def in_forked_child(child: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Fork; run ``child()`` in the child; return what it returned (JSON round-tripped).

    The child always ends with ``os._exit`` (no atexit handlers, no pytest teardown);
    if it raised, the parent gets ``{"error": "..."}``. A child still running after
    ``timeout`` seconds is killed and the test fails, rather than hanging the run.
    """
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            try:
                result = child()
            except BaseException as exc:
                result = {"error": repr(exc)}
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + timeout
    report = b""
    waiting = selectors.DefaultSelector()  # poll/epoll: no limit on descriptor numbers
    waiting.register(r, selectors.EVENT_READ)
    try:
        while True:
            if not waiting.select(max(deadline - time.monotonic(), 0)):
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"the forked child did not finish within {timeout} s")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            report += chunk
    finally:
        waiting.close()
        os.close(r)
        os.waitpid(pid, 0)
    return json.loads(report)
