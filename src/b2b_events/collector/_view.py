"""The live view: one line per message on stdout, as it arrives."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import TextIO

from ._store import StoredMessage

__all__ = ["LiveView", "format_line"]


def format_line(stored: StoredMessage) -> str:
    """``12:00:01  Signed Up        user=u_1  group=acct_1  ok`` (or ``INVALID ...``)."""
    message = stored.message
    clock = stored.received_at[11:19]
    user = message.get("userId") or message.get("anonymousId") or "-"
    context = message.get("context")
    group = (context.get("groupId") if isinstance(context, dict) else None) or message.get(
        "groupId"
    )
    verdict = "ok" if stored.ok else "INVALID " + "; ".join(stored.violations)
    return f"{clock}  {stored.event:<21} user={user}  group={group or '-'}  {verdict}"


class LiveView:
    """Prints each message's line to ``out``; thread-safe."""

    def __init__(self, out: TextIO | None = None) -> None:
        """Print to ``out`` (default: stdout)."""
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, stored: StoredMessage) -> None:
        """Print one message's line."""
        out = self._out or sys.stdout
        with self._lock:
            out.write(format_line(stored) + "\n")
            out.flush()


def clock() -> str:
    """The local wall clock, for status lines."""
    return datetime.now().strftime("%H:%M:%S")
