"""Where the collector keeps what arrived: in memory, or in SQLite (WAL) with ``--db``.

Each row keeps the raw message as received, when it arrived (``receivedAt``), the
client's ``sentAt`` and the spec violations found in it. ``to_log_line`` writes a
message back out as Segment's archives hold it, with what Segment's pipeline adds
(``receivedAt``, ``sentAt``, ``originalTimestamp`` and the corrected ``timestamp``):
valid input for replay.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

__all__ = ["MemoryStore", "SqliteStore", "Store", "StoredMessage", "corrected_timestamp"]


@dataclass(frozen=True)
class StoredMessage:
    """One message as the collector received it.

    Attributes:
        message: The message exactly as it arrived (a wire dict).
        received_at: When it arrived, ISO-8601 UTC (``receivedAt``).
        violations: The spec violations found, as ``path: reason``; empty when valid.
        sent_at: The client's ``sentAt``: the message's own, else its batch's;
            None when the client sent none.
    """

    message: dict[str, Any]
    received_at: str
    violations: tuple[str, ...] = field(default=())
    sent_at: str | None = None

    @property
    def ok(self) -> bool:
        """True when the message follows the spec."""
        return not self.violations

    @property
    def event(self) -> str:
        """The event name of a track message, else its type."""
        name = _name(self.message)
        return name if name is not None else str(self.message.get("type", "?"))

    @property
    def original_timestamp(self) -> str | None:
        """The client's ``timestamp`` as it sent it (Segment's ``originalTimestamp``)."""
        return _text(self.message.get("timestamp"))

    @property
    def timestamp(self) -> str:
        """The ``timestamp`` corrected for the client's clock skew (see ``corrected_timestamp``)."""
        return corrected_timestamp(self.received_at, self.sent_at, self.original_timestamp)

    def server_fields(self) -> dict[str, Any]:
        """What Segment's pipeline adds, as a dict of wire fields.

        ``receivedAt``, ``sentAt`` and ``originalTimestamp`` (these two when the
        client sent them), and the corrected ``timestamp``.
        """
        added: dict[str, Any] = {"receivedAt": self.received_at}
        if self.sent_at is not None:
            added["sentAt"] = self.sent_at
        if self.original_timestamp is not None:
            added["originalTimestamp"] = self.original_timestamp
        added["timestamp"] = self.timestamp
        return added

    def to_log_line(self) -> dict[str, Any]:
        """The message as Segment's archives hold it: with ``server_fields()`` added."""
        return {**self.message, **self.server_fields()}


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def corrected_timestamp(received_at: str, sent_at: str | None, original: str | None) -> str:
    """Segment's clock-skew correction: ``receivedAt - (sentAt - originalTimestamp)``.

    Without a client ``timestamp`` the message happened when it arrived
    (``receivedAt``); without a ``sentAt`` (or with one that is not a date-time)
    nothing can be corrected and the client's ``timestamp`` stands. A date-time
    without an offset is read as UTC.
    See https://segment.com/docs/connections/spec/common/#timestamps
    """
    if original is None:
        return received_at
    received, sent, happened = _instant(received_at), _instant(sent_at), _instant(original)
    if received is None or sent is None or happened is None:
        return original
    try:
        fixed = (received - (sent - happened)).astimezone(timezone.utc)
    except OverflowError:  # a sentAt in year 1 or 9999: no correction makes sense
        return original
    return fixed.isoformat(timespec="milliseconds")[:-6] + "Z"


def _name(message: dict[str, Any]) -> str | None:
    """What the ``event`` filter compares: a track event's name, else the type."""
    event = message.get("event")
    return event if isinstance(event, str) else _text(message.get("type"))


def _groups(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """What the ``group_id`` filter compares: ``context.groupId`` and ``groupId``."""
    context = message.get("context")
    inner = context.get("groupId") if isinstance(context, dict) else None
    return _text(inner), _text(message.get("groupId"))


def _matches(
    stored: StoredMessage,
    event: str | None,
    user_id: str | None,
    group_id: str | None,
    valid: bool | None,
) -> bool:
    message = stored.message
    if valid is not None and stored.ok != valid:
        return False
    if event is not None and _name(message) != event:
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
        valid: bool | None = None,
        limit: int | None = None,
    ) -> list[StoredMessage]:
        """Messages in arrival order, filtered; ``limit`` keeps the latest ones."""
        ...

    def count(self) -> int:
        """How many messages are stored."""
        ...

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per event name (or type), in order of first arrival: (received, valid)."""
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
        valid: bool | None = None,
        limit: int | None = None,
    ) -> list[StoredMessage]:
        """Messages in arrival order, filtered; ``limit`` keeps the latest ones."""
        with self._lock:
            found = [m for m in self._messages if _matches(m, event, user_id, group_id, valid)]
        return _latest(found, limit)

    def count(self) -> int:
        """How many messages are stored."""
        with self._lock:
            return len(self._messages)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per event name (or type), in order of first arrival: (received, valid)."""
        received: Counter[str] = Counter()
        valid: Counter[str] = Counter()
        with self._lock:
            for stored in self._messages:
                received[stored.event] += 1
                valid[stored.event] += stored.ok
        return {name: (count, valid[name]) for name, count in received.items()}

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
    violations  TEXT NOT NULL,
    sent_at     TEXT
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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        if "sent_at" not in columns:  # a database from before sentAt was kept
            self._db.execute("ALTER TABLE messages ADD COLUMN sent_at TEXT")

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
                    stored.sent_at,
                )
            )
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO messages (received_at, message_id, type, event, user_id,"
                    " group_id, message, violations, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        valid: bool | None = None,
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
        if valid is not None:
            where.append("violations = '[]'" if valid else "violations != '[]'")
        if group_id is not None:  # its column holds one of the two: the rest by text, checked below
            where.append("(group_id = ? OR instr(message, ?) > 0)")
            args += [group_id, json.dumps(group_id)]
        sql = f"SELECT {_COLUMNS} FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        found = [_row(*row) for row in rows]
        if group_id is not None:
            found = [m for m in found if group_id in _groups(m.message)]
        return _latest(found, limit)

    def count(self) -> int:
        """How many messages are stored."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        return int(n)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per event name (or type), in order of first arrival: (received, valid)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT coalesce(event, type, '?'), COUNT(*), SUM(violations = '[]') FROM messages"
                " GROUP BY 1 ORDER BY MIN(id)"
            ).fetchall()
        return {name: (int(count), int(valid)) for name, count, valid in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_COLUMNS = "message, received_at, violations, sent_at"


def _row(message: str, received_at: str, violations: str, sent_at: str | None) -> StoredMessage:
    return StoredMessage(json.loads(message), received_at, tuple(json.loads(violations)), sent_at)


def iter_sqlite(path: str | Path) -> Iterator[StoredMessage]:
    """Read every stored message of a collector database, in arrival order."""
    db = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        selected = _COLUMNS if "sent_at" in columns else _COLUMNS.replace("sent_at", "NULL")
        for row in db.execute(f"SELECT {selected} FROM messages ORDER BY id"):
            yield _row(*row)
    finally:
        db.close()
