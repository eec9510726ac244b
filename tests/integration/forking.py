"""Run a function in a forked child and bring its JSON result back to the parent."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from typing import Any


def in_forked_child(child: Callable[[], Any]) -> Any:
    """Fork; run ``child()`` in the child; return what it returned (JSON round-tripped).

    The child always ends with ``os._exit`` (no atexit handlers, no pytest teardown);
    if it raised, the parent gets ``{"error": "..."}``.
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
    with os.fdopen(r) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(report)
