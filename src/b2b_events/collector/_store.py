"""Where the collector keeps what arrived: in memory, or in SQLite (WAL) with ``--db``.

Each row keeps the raw message as received, when it arrived (``receivedAt``) and the
spec violations found in it. ``export_jsonl`` writes the messages back out as an
event log (one message per line, ``receivedAt`` added): valid input for replay.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._delivery.wire import message_name

__all__ = ["MemoryStore", "SqliteStore", "Store", "StoredMessage"]


@dataclass(frozen=True)
class StoredMessage:
    """One message as the collector received it.

    Attributes:
        message: The message exactly as it arrived (a wire dict).
        received_at: When it arrived, ISO-8601 UTC (``receivedAt``).
        violations: The spec violations found, as ``path: reason``; empty when valid.
    """

    message: dict[str, Any]
    received_at: str
    violations: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the message follows the spec."""
        return not self.violations

    @property
    def event(self) -> str:
        """The event name of a track message, else its type."""
        name = message_name(self.message)
        return name if name is not None else str(self.message.get("type", "?"))

    def to_log_line(self) -> dict[str, Any]:
        """The message with ``receivedAt``, as an event-log (JSONL) line holds it."""
        return {**self.message, "receivedAt": self.received_at}


def _groups(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """What the ``group_id`` filter compares: ``context.groupId`` and ``groupId``."""
    context = message.get("context")
    inner = context.get("groupId") if isinstance(context, dict) else None
    return _text(inner), _text(message.get("groupId"))


def _matches(
    stored: StoredMessage, event: str | None, user_id: str | None, group_id: str | None
) -> bool:
    message = stored.message
    if event is not None and message_name(message) != event:
        return False
    if user_id is not None and message.get("userId") != user_id:
        return False
    return group_id is None or group_id in _groups(message)


def _latest(found: list[StoredMessage], limit: int | None) -> list[StoredMessage]:
    if limit is None:
        return found
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    return found[len(found) - limit :] if limit < len(found) else found


class Store(Protocol):
    """What the collector needs from a store. Thread-safe."""

    def add(self, messages: Sequence[StoredMessage]) -> None:
        """Keep ``messages``; they are durable once this returns."""
        ...

    def query(
        self,
        *,
        event: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredMessage]:
        """Messages in arrival order, filtered; ``limit`` keeps the latest ones."""
        ...

    def count(self) -> int:
        """How many messages are stored."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class MemoryStore:
    """Messages in a list: the default, gone when the collector stops."""

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._messages: list[StoredMessage] = []

    def add(self, messages: Sequence[StoredMessage]) -> None:
        """Keep ``messages``."""
        with self._lock:
            self._messages.extend(messages)

    def query(
        self,
        *,
        event: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredMessage]:
        """Messages in arrival order, filtered; ``limit`` keeps the latest ones."""
        with self._lock:
            found = [m for m in self._messages if _matches(m, event, user_id, group_id)]
        return _latest(found, limit)

    def count(self) -> int:
        """How many messages are stored."""
        with self._lock:
            return len(self._messages)

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    message_id  TEXT,
    type        TEXT,
    event       TEXT,
    user_id     TEXT,
    group_id    TEXT,
    message     TEXT NOT NULL,
    violations  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_event ON messages (event);
"""


class SqliteStore:
    """Messages in a SQLite file (WAL journal), committed before the request is answered.

    Query it directly too: ``SELECT message, received_at FROM messages ORDER BY id``
    gives the messages in arrival order; ``violations`` is a JSON list of strings.
    """

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the database at ``path``."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def add(self, messages: Sequence[StoredMessage]) -> None:
        """Insert ``messages`` in one transaction."""
        rows = []
        for stored in messages:
            m = stored.message
            context = m.get("context")
            group = context.get("groupId") if isinstance(context, dict) else None
            rows.append(
                (
                    stored.received_at,
                    _text(m.get("messageId")),
                    _text(m.get("type")),
                    _text(m.get("event")),
                    _text(m.get("userId")),
                    _text(group if group is not None else m.get("groupId")),
                    json.dumps(m, separators=(",", ":")),
                    json.dumps(list(stored.violations)),
                )
            )
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO messages (received_at, message_id, type, event, user_id,"
                    " group_id, message, violations) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(
        self,
        *,
        event: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        limit: int | None = None,
    ) -> list[StoredMessage]:
        """Messages in arrival order, filtered; ``limit`` keeps the latest ones."""
        where, args = [], []
        if event is not None:
            where.append("(event = ? OR (event IS NULL AND type = ?))")
            args += [event, event]
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if group_id is not None:  # its column holds one of the two: the rest by text, checked below
            where.append("(group_id = ? OR instr(message, ?) > 0)")
            args += [group_id, json.dumps(group_id)]
        sql = "SELECT message, received_at, violations FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        found = [StoredMessage(json.loads(m), r, tuple(json.loads(v))) for m, r, v in rows]
        if group_id is not None:
            found = [m for m in found if group_id in _groups(m.message)]
        return _latest(found, limit)

    def count(self) -> int:
        """How many messages are stored."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        return int(n)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def iter_sqlite(path: str | Path) -> Iterator[StoredMessage]:
    """Read every stored message of a collector database, in arrival order."""
    db = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        for message, received_at, violations in db.execute(
            "SELECT message, received_at, violations FROM messages ORDER BY id"
        ):
            yield StoredMessage(json.loads(message), received_at, tuple(json.loads(violations)))
    finally:
        db.close()
