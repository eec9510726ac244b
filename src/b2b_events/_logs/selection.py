"""What replay sends of each line: server-set fields dropped, validated, filtered.

The selection part of a replay (``replay.py`` orchestrates, ``counts.py`` holds
the report): pure functions of one message, no counting and no I/O.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from .._delivery.wire import MAX_MESSAGE_BYTES, message_name
from .._exceptions import InvalidEventError, MessageTooLargeError
from ..events import validate
from ..events._validate import validate_text

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = ["SERVER_SET_FIELDS", "Selection", "prepare_for_replay"]

SERVER_SET_FIELDS = (
    "receivedAt",
    "sentAt",
    "version",
    "originalTimestamp",
    "projectId",
    "writeKey",
)
"""Dropped from each archived message before it is re-sent.

Segment sets ``receivedAt``, ``originalTimestamp``, ``version`` and ``projectId`` (the
source) on arrival, and ``sentAt`` per request (SPEC.md, "Common fields"); a
``writeKey`` inside a message is the original sender's credential, never forwarded.
"""

# messageIds derived from a line's content, for archived lines that have none.
_DERIVED_IDS = uuid.UUID("5b0e2f4c-6a43-4f0e-9a7c-3c1d8e2b9f10")


def prepare_for_replay(
    message: dict[str, Any], integrations: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Turn an archived message into one to re-send (in place; returned for convenience).

    Drops ``SERVER_SET_FIELDS``; a message without ``timestamp`` takes its
    ``originalTimestamp``, else its ``receivedAt`` (when Segment stamped it), so
    it keeps the time it happened. ``messageId`` is kept, so destinations
    de-duplicate; a message without one gets one derived from its content (the
    same on every run). ``integrations``, when given, replaces the message's.
    """
    if "messageId" not in message:
        canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), default=str)
        message["messageId"] = str(uuid.uuid5(_DERIVED_IDS, canonical))
    original = message.pop("originalTimestamp", None)
    received = message.pop("receivedAt", None)
    if message.get("timestamp") is None:
        stamp = original if original is not None else received
        if stamp is not None:
            message["timestamp"] = stamp
    for name in SERVER_SET_FIELDS:
        message.pop(name, None)
    if integrations is not None:
        message["integrations"] = dict(integrations)
    return message


@dataclass(frozen=True)
class Selection:
    """Which messages a replay sends, and how it rewrites them."""

    events: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    integrations: Mapping[str, Any] | None = None
    plan: TrackingPlan | None = None  # validate against it (your own events)

    def pick(self, message: dict[str, Any], raw: bytes = b"") -> tuple[bytes | None, str | None]:
        """(the message to send, None), (None, why it is invalid), or (None, None): left out.

        ``raw``, the line the message was read from, lets validation skip the
        nesting walk when the text itself bounds the depth.
        """
        if self.events is not None and message_name(message) not in self.events:
            return None, None
        prepare_for_replay(message, self.integrations)
        try:
            if raw and self.integrations is None:  # the line's text bounds its nesting
                typed = validate_text(message, raw, plan=self.plan)
            else:
                typed = validate(message, plan=self.plan)
        except InvalidEventError as error:
            return None, str(error)
        if (self.since is not None and typed.timestamp < self.since) or (
            self.until is not None and typed.timestamp >= self.until
        ):
            return None, None
        # pydantic-core writes compact UTF-8 JSON several times faster than json.dumps.
        data = to_json(message)
        if len(data) > MAX_MESSAGE_BYTES:
            return None, str(MessageTooLargeError(typed.name, len(data), MAX_MESSAGE_BYTES))
        return data, None
