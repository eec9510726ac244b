"""The ``/v1/batch`` request body and Segment's size limits.

A batch body is ``{"batch": [...], "sentAt": "...", "writeKey": "..."}``. Messages
are kept serialized from the moment they are tracked, so a body is a join of
bytes, and ``sentAt`` is stamped afresh at each attempt (Segment corrects clock
skew from it: https://segment.com/docs/connections/spec/common/#timestamps).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_REQUEST_BYTES",
    "batch_overhead",
    "encode_batch",
    "message_name",
    "sent_at_now",
]

MAX_MESSAGE_BYTES = 32 * 1024
"""Segment's limit for one message, serialized (analytics-python uses the same 32 KiB)."""

MAX_BATCH_BYTES = 475_000
"""Our cap for one request body, envelope included: Segment's 500 KB limit with margin."""

MAX_BATCH_EVENTS = 2_500
"""Segment's limit of messages per ``/v1/batch`` request."""

MAX_REQUEST_BYTES = 500_000
"""Segment's limit for one ``/v1/batch`` body, uncompressed ("500 KB per request")."""

MAX_DEPTH = 100
"""How deep objects and arrays may nest in one message, the message itself being level 1.

One limit for every reader: ``validate()`` (and so ``b2b-events validate``, replay
and the collector, which store a deeper message flagged invalid) refuses a message
nested deeper. A collector body nested past what its JSON parser reads (200 levels)
holds such a message, and is refused with a 400 that names this limit.
"""

_SENT_AT_SAMPLE = "2026-11-22T10:00:00.000Z"


def message_name(message: Mapping[str, Any] | None) -> str | None:
    """The name of a message: a track message's ``event``, else its ``type``.

    What replay's ``events`` filter and the collector's ``event`` filter compare,
    and what reports call a message; None when there is no such string.
    """
    if message is None:
        return None
    kind = message.get("type")
    if kind == "track":
        event = message.get("event")
        if isinstance(event, str):
            return event
    return kind if isinstance(kind, str) else None


def sent_at_now() -> str:
    """Return the current UTC time as the wire's ISO-8601 string with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def batch_overhead(write_key: str) -> int:
    """Return the body bytes a batch spends on its envelope, messages and commas aside."""
    return len(encode_batch([], write_key, _SENT_AT_SAMPLE))  # every sentAt has this length


def encode_batch(messages: Sequence[bytes], write_key: str, sent_at: str | None = None) -> bytes:
    """Return the JSON body for ``messages`` (each already serialized), stamped with ``sentAt``."""
    sent_at = sent_at_now() if sent_at is None else sent_at
    tail = f'],"sentAt":"{sent_at}","writeKey":{json.dumps(write_key)}}}'
    return b'{"batch":[' + b",".join(messages) + tail.encode()
