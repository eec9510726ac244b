"""The terminal's live view: one line per message (or refused request) on stdout, as it arrives."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from typing import TextIO

from ._refusals import Refusal
from ._store import StoredMessage

__all__ = ["LiveView", "format_line", "format_refusal"]


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


def format_refusal(refusal: Refusal) -> str:
    """``12:00:01  REFUSED 401 POST /v1/batch from 127.0.0.1: missing or wrong write key``."""
    clock = refusal.received_at[11:19]
    where = f"{refusal.method} {refusal.path} from {refusal.client}"
    return f"{clock}  REFUSED {refusal.status} {where}: {refusal.message}"


class LiveView:
    """Prints each message's (or refusal's) line to ``out``; thread-safe."""

    def __init__(self, out: TextIO | None = None) -> None:
        """Print to ``out`` (default: stdout)."""
        self._out = out
        self._lock = threading.Lock()

    def __call__(self, stored: StoredMessage) -> None:
        """Print one message's line."""
        self._print(format_line(stored))

    def refused(self, refusal: Refusal) -> None:
        """Print one refused request's line."""
        self._print(format_refusal(refusal))

    def _print(self, line: str) -> None:
        out = self._out or sys.stdout
        with self._lock:
            out.write(line + "\n")
            out.flush()


def clock() -> str:
    """The local wall clock, for status lines."""
    return datetime.now().strftime("%H:%M:%S")
