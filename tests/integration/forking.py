"""Forked children for tests: run a function in one and bring back its result, or keep one alive."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any


def fork() -> int:
    """``os.fork()``, without Python 3.12's warning about forking with threads running."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@contextlib.contextmanager
def a_child_holding_on() -> Iterator[None]:
    """Fork a child that does nothing and lives on until the block ends.

    The block starts once the child runs its own code: its at-fork hooks have run by then.
    """
    hold, release = os.pipe()
    ready, told = os.pipe()
    pid = fork()
    if pid == 0:
        os.close(release)
        os.write(told, b"r")
        os.read(hold, 1)
        os._exit(0)
    os.close(hold)
    os.close(told)
    try:
        assert os.read(ready, 1) == b"r"
        os.close(ready)
        yield
    finally:
        os.close(release)  # the child ends
        os.waitpid(pid, 0)


def in_forked_child(child: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Fork; run ``child()`` in the child; return what it returned (JSON round-tripped).

    The child always ends with ``os._exit`` (no atexit handlers, no pytest teardown);
    if it raised, the parent gets ``{"error": "..."}``. A child still running after
    ``timeout`` seconds is killed and the test fails, rather than hanging the run.
    """
    r, w = os.pipe()
    pid = fork()
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
