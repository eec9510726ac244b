"""The durable spool: accepted messages on disk (SQLite) until the endpoint acknowledges them.

Design: one file per process, next to the path you give, and adoption of orphans.

- A client with ``spool="/var/lib/app/events.sqlite"`` writes to its own file,
  ``events.sqlite.<pid>.<random>.spool``, opened in SQLite's EXCLUSIVE locking mode
  (WAL journal, ``synchronous=NORMAL``). The exclusive lock is held for the life of
  the process, so no two processes ever write the same file (no "database is
  locked" in the hot path, no leases to expire) and, since the operating system
  drops the lock when a process dies, a file whose lock can be taken is an orphan.
- On start, and every ``ADOPT_EVERY`` seconds, a client looks for sibling
  ``*.spool`` files whose lock it can take: those of processes that crashed, were
  killed or exited before delivering. It sends their messages first, with their
  original ``messageId``, and removes each file once it is empty. A live process's
  file is never touched.
- A file SQLite cannot read is renamed ``<name>.corrupt-<time>`` and reported:
  never deleted.

Durability: an INSERT is committed before ``track()`` returns. With WAL and
``synchronous=NORMAL`` the commit is in the operating system's hands when it
returns: it survives the process being killed (SIGKILL, OOM killer, a crash), but
the last commits before a power loss or kernel crash may be lost (SQLite fsyncs
the WAL at checkpoints, not at each commit). Rows are deleted only after a 2xx
for their batch, so a crash between the 2xx and the delete re-sends them once
more, with the same ``messageId``: Segment de-duplicates those.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ADOPT_EVERY", "Spool", "SpoolError"]

logger = logging.getLogger("b2b_events.spool")

ADOPT_EVERY = 30.0
"""Seconds between two looks for orphaned spool files of dead processes."""


class SpoolError(Exception):
    """The spool file could not be created or written."""


@dataclass(eq=False)
class _File:
    """One open spool file: ours, or an adopted orphan."""

    path: Path
    db: sqlite3.Connection
    count: int = 0
    size: int = 0
    after: int = 0  # rows with a smaller id are taken (in flight)
    last_id: int = 0  # ids are ours to give and only grow: "id > after" misses nothing
    cursor: sqlite3.Cursor | None = None  # the hot path's, reused (a little cheaper)
    taken: set[int] = field(default_factory=set)


def _connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` holding its lock for good; raise sqlite3.OperationalError if held."""
    db = sqlite3.connect(str(path), timeout=0, isolation_level=None, check_same_thread=False)
    try:
        # EXCLUSIVE before the first access: no shared-memory index, and the lock
        # taken by the first write is kept until the connection closes.
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")  # takes the lock now, or fails if another holds it
        db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db


Ref = tuple[_File, int]
"""Where a taken message lives: its file and row id."""


class Spool:
    """This process's spool file plus the orphans it adopted. Not thread-safe: the engine locks."""

    def __init__(self, base: str | os.PathLike[str]) -> None:
        """Create this process's file next to ``base`` and adopt any orphans found there.

        Raises:
            SpoolError: The directory is not writable, or the file cannot be created.
        """
        self.base = Path(base)
        if not self.base.parent.is_dir():
            raise SpoolError(f"spool directory does not exist: {self.base.parent}")
        name = f"{self.base.name}.{os.getpid()}.{secrets.token_hex(4)}.spool"
        path = self.base.with_name(name)
        try:
            self._own = _File(path, _connect(path))
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot create the spool file {path}: {exc}") from exc
        self._adopted: list[_File] = []
        self._next_adoption = 0.0

    @property
    def path(self) -> Path:
        """This process's spool file."""
        return self._own.path

    # -- counts (messages stored and not taken) -----------------------------------

    def __len__(self) -> int:
        return self._own.count + sum(f.count for f in self._adopted)

    @property
    def size(self) -> int:
        """Bytes stored and not taken."""
        return self._own.size + sum(f.size for f in self._adopted)

    # -- the hot path -------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Commit one message to this process's file (durable when this returns).

        Raises:
            sqlite3.Error: The write failed (disk full, file removed, ...).
        """
        own = self._own
        # An explicit id: SQLite would reuse ids once the table is emptied (and
        # AUTOINCREMENT's bookkeeping costs a third of the call).
        if own.cursor is None:
            own.cursor = own.db.cursor()
        own.cursor.execute("INSERT INTO spool (id, data) VALUES (?, ?)", (own.last_id + 1, data))
        own.last_id += 1
        own.count += 1
        own.size += len(data)

    # -- the worker -----------------------------------------------------------------

    def take(self, limit: int, budget: int) -> list[tuple[Ref, bytes]]:
        """The next batch, adopted files first: (reference for ``delete``, message) pairs.

        At most ``limit`` messages whose sizes plus one comma each fit in ``budget``.
        """
        batch: list[tuple[Ref, bytes]] = []
        used = 0
        for source in [*self._adopted, self._own]:
            if not source.count:
                continue
            rows = source.db.execute(
                "SELECT id, data FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                (source.after, limit - len(batch)),
            ).fetchall()
            for rowid, data in rows:
                cost = len(data) + (1 if batch else 0)
                if batch and used + cost > budget:
                    return batch
                batch.append(((source, rowid), bytes(data)))
                used += cost
                source.after = rowid
                source.taken.add(rowid)
                source.count -= 1
                source.size -= len(data)
            if not rows:
                # Counts and file disagree (someone edited the file?): trust the file.
                logger.error("b2b-events: spool %s holds fewer events than counted", source.path)
                source.count = source.size = 0
            if len(batch) >= limit:
                break
        return batch

    def delete(self, refs: list[Ref]) -> None:
        """Remove settled messages (delivered or dropped); remove emptied orphan files."""
        by_source: dict[int, tuple[_File, list[int]]] = {}
        for source, rowid in refs:
            by_source.setdefault(id(source), (source, []))[1].append(rowid)
        for source, rowids in by_source.values():
            # One statement, one commit (a batch holds at most 2,500 ids).
            marks = ",".join("?" * len(rowids))
            source.db.execute(f"DELETE FROM spool WHERE id IN ({marks})", rowids)
            source.taken.difference_update(rowids)
            if source is not self._own and not source.count and not source.taken:
                self._retire(source)

    def keep(self, refs: list[Ref]) -> None:
        """Leave taken messages on disk, unsettled: a later process delivers them."""
        for source, rowid in refs:
            source.taken.discard(rowid)

    def pop_oldest(self) -> bytes | None:
        """Remove and return the oldest message not taken (``drop_oldest``)."""
        for source in [*self._adopted, self._own]:
            if not source.count:
                continue
            row = source.db.execute(
                "SELECT id, data FROM spool WHERE id > ? ORDER BY id LIMIT 1", (source.after,)
            ).fetchone()
            if row is None:
                continue
            source.db.execute("DELETE FROM spool WHERE id = ?", (row[0],))
            source.count -= 1
            source.size -= len(row[1])
            return bytes(row[1])
        return None

    # -- orphans --------------------------------------------------------------------

    def adopt_orphans(self, *, force: bool = False) -> int:
        """Take over the files of dead processes; return how many messages came with them."""
        now = time.monotonic()
        if not force and now < self._next_adoption:
            return 0
        self._next_adoption = now + ADOPT_EVERY
        mine = {self._own.path, *(f.path for f in self._adopted)}
        found = 0
        for path in sorted(self.base.parent.glob(f"{self.base.name}.*.spool")):
            if path in mine or _owner_is_our_parent(path):
                continue
            try:
                db = _connect(path)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    continue  # a live process holds it
                self._quarantine(path, exc)
                continue
            except sqlite3.DatabaseError as exc:
                self._quarantine(path, exc)
                continue
            try:
                count, size = db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM spool"
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                db.close()
                self._quarantine(path, exc)
                continue
            orphan = _File(path, db, int(count), int(size))
            if orphan.count:
                self._adopted.append(orphan)
                found += orphan.count
                logger.info(
                    "b2b-events: delivering %d event(s) left in %s by an earlier process",
                    orphan.count,
                    path.name,
                )
            else:
                self._retire(orphan)
        return found

    def _retire(self, source: _File) -> None:
        """Close an empty adopted file and remove it (with its WAL)."""
        if source in self._adopted:
            self._adopted.remove(source)
        source.db.close()
        for leftover in (source.path, Path(f"{source.path}-wal"), Path(f"{source.path}-journal")):
            leftover.unlink(missing_ok=True)

    @staticmethod
    def _quarantine(path: Path, exc: Exception) -> None:
        target = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.rename(target)
        except OSError:
            logger.exception("b2b-events: cannot move aside unreadable spool file %s", path)
            return
        logger.error(
            "b2b-events: spool file %s is unreadable (%s); moved aside to %s, not deleted",
            path,
            exc,
            target.name,
        )

    def close(self) -> None:
        """Close every file; ours stays on disk if it still holds messages."""
        for source in list(self._adopted):
            if not source.count and not source.taken:
                self._retire(source)
            else:
                source.db.close()
        self._adopted.clear()
        own = self._own
        try:
            empty = own.db.execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 0
        except sqlite3.Error:  # unreadable now: keep the file, the next start looks at it
            empty = False
        own.db.close()
        if empty:
            for leftover in (own.path, Path(f"{own.path}-wal")):
                leftover.unlink(missing_ok=True)

    def suspend(self) -> None:
        """Before fork: close every connection (the child must not inherit them)."""
        for source in [self._own, *self._adopted]:
            source.cursor = None
            source.db.close()

    def resume(self) -> None:
        """After fork, in the parent: reopen and re-lock the same files."""
        for source in [self._own, *self._adopted]:
            source.db = _connect(source.path)


def _owner_is_our_parent(path: Path) -> bool:
    """True for the file of the process that forked us: it is alive, just briefly unlocked."""
    parts = path.name.rsplit(".", 3)  # <base>.<pid>.<token>.spool
    return len(parts) == 4 and parts[1] == str(os.getppid())
