"""The durable spool: accepted messages on disk (SQLite) until the endpoint acknowledges them.

Design: one file per process, next to the path you give, and adoption of orphans.

- A client with ``spool="/var/lib/app/events.sqlite"`` writes to its own file,
  ``events.sqlite.<pid>.<random>.spool``. Before the file gets that name it is
  locked with ``flock`` (created under a temporary name, locked, then renamed), and
  the lock is held for the life of the process: a file under its final name whose
  ``flock`` can be taken belongs to nobody alive. No two processes ever write the
  same file (no "database is locked" in the hot path, no leases to expire), and
  since the operating system drops the lock when a process dies, a dead process's
  file becomes an orphan at once. ``flock`` survives ``fork()`` in the parent (the
  SQLite connection is closed and reopened around it; the lock is not), so no
  other process can take the file meanwhile.
- SQLite itself runs in EXCLUSIVE locking mode (no shared-memory index) with a WAL
  journal and ``synchronous=NORMAL``.
- On start, and every ``ADOPT_EVERY`` seconds while sending, a client looks for
  sibling spool files whose lock it can take: those of processes that crashed,
  were killed or exited before delivering. It sends their messages first, with
  their original ``messageId``, and removes each file once it is empty on disk.
- A file SQLite reports as corrupt (or not a database) is renamed
  ``<name>.corrupt-<time>`` and reported: never deleted. A file that cannot be
  adopted now (locked by a reader such as the sqlite3 shell, permissions, I/O) is
  left in place, reported once and tried again at each look (the worker looks even
  when idle, and its ``flush()`` is False while such a file's events wait).

Durability: an INSERT is committed before ``track()`` returns. With WAL and
``synchronous=NORMAL`` the commit is in the operating system's hands when it
returns: it survives the process being killed (SIGKILL, OOM killer, a crash), but
the last commits before a power loss or kernel crash may be lost (SQLite fsyncs
the WAL at checkpoints, not at each commit). Rows are deleted only after a 2xx
for their batch (or a permanent refusal), so a crash between the 2xx and the
delete re-sends them once more, with the same ``messageId``: Segment
de-duplicates those. Needs a local filesystem with ``flock`` (not Windows).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["ADOPT_EVERY", "Ref", "Spool", "SpoolError"]

logger = logging.getLogger("b2b_events.spool")

ADOPT_EVERY = 30.0
"""Seconds between two looks for orphaned spool files of dead processes."""

_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_CHUNK = 500  # ids per IN (...): old SQLite builds allow 999 parameters at most


class SpoolError(Exception):
    """The spool file could not be created or written."""


@dataclass(eq=False)
class _File:
    """One open spool file: ours, or an adopted orphan."""

    path: Path
    lock: int  # a file descriptor holding flock(LOCK_EX) on ``path``; -1 once closed
    db: sqlite3.Connection
    count: int = 0  # rows on disk, not taken
    size: int = 0  # their bytes
    after: int = 0  # rows with a larger id were never taken
    last_id: int = 0  # ids are ours to give and only grow: "id > after" misses nothing
    taken: dict[int, int] = field(default_factory=dict)  # row id -> size, in flight
    returned: list[int] = field(default_factory=list)  # taken, then given back: take first
    cursor: sqlite3.Cursor | None = None  # the hot path's, reused (a little cheaper)


def _lock(fd: int) -> bool:
    """Take ``flock(LOCK_EX)`` on ``fd`` without waiting; False if someone holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # no locks here (ENOLCK, some network filesystems)
        logger.warning("b2b-events: cannot lock a spool file: %s", exc)
        return False
    return True


def _connect(path: Path) -> sqlite3.Connection:
    """Open a spool database we hold the flock of."""
    db = sqlite3.connect(str(path), timeout=0, isolation_level=None, check_same_thread=False)
    try:
        # EXCLUSIVE before the first access: no shared-memory index, and the lock
        # taken by the first write is kept until the connection closes.
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    except BaseException:
        db.close()
        raise
    return db


def _is_corrupt(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", None) in _CORRUPT  # only errors SQLite itself raised


Ref = tuple[_File, int]
"""Where a taken message lives: its file and row id."""


class Spool:
    """This process's spool file plus the orphans it adopted. Not thread-safe: the queue locks."""

    def __init__(self, base: str | os.PathLike[str]) -> None:
        """Create this process's file next to ``base``; orphans are found later (``scan_orphans``).

        Raises:
            SpoolError: No flock here, the directory is not writable, or the file
                cannot be created.
        """
        if fcntl is None:  # pragma: no cover - Windows
            raise SpoolError("spool= needs flock(), which this platform does not have")
        self.base = Path(base)
        if not self.base.parent.is_dir():
            raise SpoolError(f"spool directory does not exist: {self.base.parent}")
        self._pattern = re.compile(rf"{re.escape(self.base.name)}\.[0-9]+\.[0-9a-f]{{8}}\.spool")
        self._adopted: list[_File] = []
        # Orphans a scan opened (and holds the flock of) that ``accept`` has not
        # taken yet: closed in a forked child too (``release_inherited``).
        self._found: list[_File] = []
        # Held while a scan opens or retires one orphan, and from before fork() to
        # after it (``suspend``/``resume``): a fork from another thread waits for
        # that one file, so its child never inherits a half-opened orphan's lock,
        # and no connection is closed under a scan that uses it. Reentrant: a fork
        # from a signal handler in the scanning thread itself goes on (and its
        # child may keep the lock of the one file being opened, until it ends).
        self._opening = threading.RLock()
        self._closed = False  # a scan still running when close() came opens nothing more
        self._next_adoption = 0.0
        self._deferred: set[Path] = set()  # orphans that could not be opened yet
        self._own = self._create()

    def _create(self) -> _File:
        name = f"{self.base.name}.{os.getpid()}.{secrets.token_hex(4)}.spool"
        path = self.base.with_name(name)
        staging = path.with_name(name + ".new")  # not a name adopters look at
        try:
            fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot create the spool file {path}: {exc}") from exc
        named = staging
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a brand-new file: nobody else has it
            os.rename(staging, path)  # appears under its name already locked
            named = path
            return _File(path, fd, _connect(path))
        except (OSError, sqlite3.Error) as exc:
            named.unlink(missing_ok=True)  # before the unlock: nobody adopts a broken file
            os.close(fd)
            raise SpoolError(f"cannot create the spool file {path}: {exc}") from exc

    @property
    def path(self) -> Path:
        """This process's spool file."""
        return self._own.path

    @property
    def own(self) -> _File:
        """This process's file (``Ref``s into it name it)."""
        return self._own

    def queued_heads(self) -> list[Ref]:
        """Per file holding messages not taken: the first to be taken (row 0 for orphans)."""
        heads: list[Ref] = [(source, 0) for source in self._adopted if source.count]
        own = self._own
        if own.count:  # given-back rows were taken, so they come before ``after``
            heads.append((own, own.returned[0] if own.returned else own.after + 1))
        return heads

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
        cursor = own.cursor  # once: a fork hook may close it meanwhile (an error, not None)
        if cursor is None:
            cursor = own.cursor = own.db.cursor()
        cursor.execute("INSERT INTO spool (id, data) VALUES (?, ?)", (own.last_id + 1, data))
        own.last_id += 1
        own.count += 1
        own.size += len(data)

    # -- the worker -----------------------------------------------------------------

    def take(self, limit: int, budget: int) -> list[tuple[Ref, bytes]]:
        """The next batch, adopted files first: (reference for ``delete``, message) pairs.

        At most ``limit`` messages whose sizes plus one comma each fit in ``budget``.
        Rows given back (``give_back``) come before new ones.

        An adopted file that cannot be read any more is let go (``_let_go``): its
        messages stay on disk, and in ``stats.pending``, as ``close()`` leaves them.

        Raises:
            sqlite3.Error: Our own file could not be read; nothing was taken.
        """
        batch: list[tuple[Ref, bytes]] = []
        used = 0
        for source in [*self._adopted, self._own]:
            if not source.count:
                continue
            try:
                rows = self._read(source, limit - len(batch))
            except sqlite3.Error as exc:
                if source is self._own:
                    self.give_back([ref for ref, _ in batch])
                    raise
                self._let_go(source, exc)
                continue
            if not rows:
                # Counts and file disagree (someone edited the file?): trust the file.
                logger.error("b2b-events: spool %s holds fewer events than counted", source.path)
                source.count = source.size = 0
                source.returned.clear()
            for rowid, data in rows:
                cost = len(data) + (1 if batch else 0)
                if batch and used + cost > budget:
                    return batch
                batch.append(((source, rowid), bytes(data)))
                used += cost
                _consume(source, rowid, len(data))
                source.taken[rowid] = len(data)
            if len(batch) >= limit:
                break
        return batch

    @staticmethod
    def _read(source: _File, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` rows to take from ``source``: given-back ones first, in id order."""
        rows: list[tuple[int, bytes]] = []
        if source.returned:
            wanted = source.returned[: min(limit, _CHUNK)]
            marks = ",".join("?" * len(wanted))
            found = dict(
                source.db.execute(f"SELECT id, data FROM spool WHERE id IN ({marks})", wanted)
            )
            for rowid in wanted:
                if rowid in found:
                    rows.append((rowid, found[rowid]))
                else:  # gone from the file: nothing to give back
                    source.returned.remove(rowid)
        if len(rows) < limit:
            rows += source.db.execute(
                "SELECT id, data FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                (source.after, limit - len(rows)),
            ).fetchall()
        return rows

    def delete(self, refs: list[Ref]) -> None:
        """Remove settled messages (delivered, or refused for good); retire emptied orphans.

        Raises:
            sqlite3.Error: The delete failed; the rows stay on disk (and are sent
                again by a later process, with the same ``messageId``).
        """
        for source, rowids in _by_source(refs):
            for rowid in rowids:
                source.taken.pop(rowid, None)
            db = source.db
            db.execute("BEGIN")  # one commit for the batch, in statements of _CHUNK ids
            try:
                for start in range(0, len(rowids), _CHUNK):
                    chunk = rowids[start : start + _CHUNK]
                    db.execute(
                        f"DELETE FROM spool WHERE id IN ({','.join('?' * len(chunk))})", chunk
                    )
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            if source is not self._own and not source.count and not source.taken:
                self._retire(source)

    def give_back(self, refs: list[Ref]) -> None:
        """Return taken messages to the spool, unsent: taken again first, or by a later process."""
        for source, rowids in _by_source(refs):
            back = [r for r in rowids if r in source.taken]
            for rowid in back:
                source.size += source.taken.pop(rowid)
            source.count += len(back)
            source.returned = sorted({*source.returned, *back})

    def pop_oldest(self) -> bytes | None:
        """Remove and return the oldest message not taken (``drop_oldest``).

        Raises:
            sqlite3.Error: The read or the delete failed; nothing was removed.
        """
        taken = self.take(1, 0)
        if not taken:
            return None
        [((source, rowid), data)] = taken
        try:
            source.db.execute("DELETE FROM spool WHERE id = ?", (rowid,))
        except sqlite3.Error:
            self.give_back([(source, rowid)])
            raise
        del source.taken[rowid]
        return data

    # -- orphans --------------------------------------------------------------------

    def _let_go(self, source: _File, exc: sqlite3.Error) -> None:
        """An adopted file failed: stop using it, so our own file keeps being delivered.

        Its untaken messages stay on disk (moved aside if corrupt) for a later process.
        """
        logger.error("b2b-events: giving up on spool file %s: %s", source.path, exc)
        self._adopted.remove(source)
        with contextlib.suppress(sqlite3.Error):
            source.db.close()
        if _is_corrupt(exc):
            self._quarantine(source.path, exc)
        _unlock(source)

    def adopt_orphans(self, *, force: bool = False) -> int:
        """Take over the files of dead processes; return how many messages came with them."""
        return sum(orphan.count for orphan in self.accept(self.scan_orphans(force=force)))

    @property
    def deferred(self) -> int:
        """Orphaned files that could not be adopted yet (locked by a reader, I/O errors).

        Their events wait: each scan tries them again.
        """
        return len(self._deferred)

    @property
    def next_adoption(self) -> float:
        """``time.monotonic()`` at which ``scan_orphans`` looks again (unless forced)."""
        return self._next_adoption

    def scan_orphans(self, *, force: bool = False) -> list[_File]:
        """Open the files of dead processes (at most every ``ADOPT_EVERY`` s unless forced).

        The slow part of adoption (directory, locks, counting rows), safe to run
        without the queue's lock: it changes nothing the hot path reads. Returns
        every orphan opened and not accepted yet (a failed scan's too): hand them
        to ``accept``.
        """
        now = time.monotonic()
        if not force and now < self._next_adoption:
            return []
        self._next_adoption = now + ADOPT_EVERY
        mine = {self._own.path, *(f.path for f in [*self._adopted, *self._found])}
        # What this scan cannot adopt (a file removed meanwhile: gone). Swapped in at
        # the end: flush() reads ``deferred`` meanwhile, from another thread.
        deferred: set[Path] = set()
        for path in sorted(self.base.parent.iterdir()):
            if path.suffix == ".new" and self._pattern.fullmatch(path.stem):
                with self._opening:
                    _remove_stale_staging(path)
                continue
            if path in mine or not self._pattern.fullmatch(path.name):
                continue
            try:
                self._open_orphan(path)
            except OSError as exc:
                if path not in self._deferred:  # said once, not at every look
                    logger.warning(
                        "b2b-events: cannot adopt spool file %s now (%s); its events wait, and "
                        "flush() returns False, until it can be: trying again every %.0f s",
                        path,
                        exc,
                        ADOPT_EVERY,
                    )
                deferred.add(path)
        self._deferred = deferred
        return list(self._found)

    def accept(self, orphans: list[_File]) -> list[_File]:
        """Start delivering opened orphans (the queue's lock held); return those taken.

        An orphan no longer waiting (taken by an overlapping scan's ``accept``,
        or let go by ``close()`` meanwhile) is passed over.
        """
        taken: list[_File] = []
        with self._opening:
            for orphan in orphans:
                if orphan not in self._found:
                    continue
                self._found.remove(orphan)
                self._adopted.append(orphan)
                taken.append(orphan)
                logger.info(
                    "b2b-events: delivering %d event(s) left in %s by an earlier process",
                    orphan.count,
                    orphan.path.name,
                )
        return taken

    def _open_orphan(self, path: Path) -> None:
        """Open one orphan into ``_found``, or remove it if it is empty (fork waits meanwhile)."""
        with self._opening:
            if self._closed:
                return
            orphan = self._adopt(path)
            if orphan is None:
                return
            if orphan.count:
                self._found.append(orphan)
            else:
                self._retire(orphan)

    def _adopt(self, path: Path) -> _File | None:
        """Open an orphan if nobody alive holds it; None if held or moved aside (corrupt).

        Raises:
            OSError: It cannot be opened or read now (try again later).
        """
        fd = os.open(path, os.O_RDWR)
        if not _lock(fd):
            os.close(fd)
            return None  # a live process's file: it delivers them
        db: sqlite3.Connection | None = None
        try:
            db = _connect(path)
            count, size, last = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0), COALESCE(MAX(id), 0) FROM spool"
            ).fetchone()
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            os.close(fd)  # unlocked: another look later, or by another process
            if _is_corrupt(exc):
                self._quarantine(path, exc)
            else:  # "database is locked" (open in the sqlite3 shell, say), I/O errors
                raise OSError(f"cannot read it: {exc}") from exc
            return None
        return _File(path, fd, db, int(count), int(size), last_id=int(last))

    def _retire(self, source: _File) -> None:
        """Remove an adopted file that is empty on disk (with its WAL); keep it otherwise."""
        if source in self._adopted:
            self._adopted.remove(source)
        try:
            empty = source.db.execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 0
        except sqlite3.Error:
            empty = False
        source.db.close()
        if empty:
            for leftover in (source.path, Path(f"{source.path}-wal")):
                leftover.unlink(missing_ok=True)
        _unlock(source)  # last: nobody can take it while it is being removed

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
        """Close every file; a file that still holds messages stays on disk for a later process."""
        with self._opening:
            self._closed = True
            for source in [*self._found, *self._adopted, self._own]:
                self._retire(source)
            self._found.clear()

    # -- fork -------------------------------------------------------------------------

    def suspend(self) -> None:
        """Before fork, in the parent: close the SQLite connections (until ``resume``).

        SQLite connections must never cross a fork; the flocks stay held, so no
        other process can take the files meanwhile. A scan opening an orphan
        finishes that file first, and opens no other until ``resume``.
        """
        self._opening.acquire()
        for source in self._files():
            source.cursor = None
            source.db.close()

    def resume(self) -> None:
        """After fork, in the parent: reopen the connections to the same (still locked) files.

        Closed meanwhile (from a signal handler in the forking thread): none to reopen.
        """
        try:
            if not self._closed:
                for source in self._files():
                    source.db = _connect(source.path)
        finally:
            self._opening.release()

    def forget(self) -> None:
        """Hold nothing, adopt nothing (a forked child that could not create its own file)."""
        self._adopted.clear()
        self._found.clear()
        self._own.count = self._own.size = 0
        self._closed = True

    def release_inherited(self) -> None:
        """In a forked child: close the inherited lock descriptors (the parent keeps its locks).

        Orphans a scan had opened and not handed over yet included: a child that
        kept one would hold its lock, and the file would be nobody's, until it ends.
        """
        for source in self._files():
            _unlock(source)
        self._opening = threading.RLock()  # the parent's is held by the forking thread

    def _files(self) -> list[_File]:
        """Every file this spool has open: its own, the adopted, the found."""
        return [self._own, *self._adopted, *self._found]


STALE_STAGING = 60.0
"""Seconds after which an unlocked ``*.spool.new`` (a process died creating it) is removed."""


def _remove_stale_staging(path: Path) -> None:
    """Remove a staging file left by a process killed between creating and naming it.

    Never a live one: a creator holds its lock, and a young file is left alone
    (it may be in the instant between being created and being locked).
    """
    try:
        if time.time() - path.stat().st_mtime < STALE_STAGING:
            return
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        if _lock(fd) and os.fstat(fd).st_size == 0:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _consume(source: _File, rowid: int, size: int) -> None:
    """Count row ``rowid`` (``size`` bytes), just read by ``_read``, as out of the queue."""
    if source.returned and source.returned[0] == rowid:
        source.returned.pop(0)  # a given-back row: ``_read`` reads those first, in order
    else:
        source.after = max(source.after, rowid)
    source.count -= 1
    source.size -= size


def _unlock(source: _File) -> None:
    """Close the lock descriptor once: a number closed twice may by then be someone else's."""
    fd, source.lock = source.lock, -1
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _by_source(refs: list[Ref]) -> list[tuple[_File, list[int]]]:
    grouped: dict[int, tuple[_File, list[int]]] = {}
    for source, rowid in refs:
        grouped.setdefault(id(source), (source, []))[1].append(rowid)
    return list(grouped.values())
