"""Writing event logs: one wire message per line, ``.jsonl`` or ``.jsonl.gz``, rotated by size.

The line format is the one of Segment's raw archives (SPEC.md, "Event logs"), so
what a client records is read back by ``read_event_log`` and re-sent by
``b2b-events replay``. ``Client(record=...)`` writes through an ``EventLogWriter``
as events are tracked; ``EventLogTransport`` writes batches instead of sending them.

Files are written with our own buffer and, for ``.gz``, a raw zlib stream in gzip
framing, rather than ``gzip.GzipFile``: after ``os.fork()`` the child must drop
the parent's buffered lines without ever flushing or closing them (a closing
``GzipFile`` would write a trailer into the parent's file).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
import zlib
from collections.abc import Sequence
from pathlib import Path

from ._exceptions import ConfigurationError
from ._fork import at_fork
from ._transport import Response

__all__ = [
    "LOG_SUFFIXES",
    "EventLogTransport",
    "EventLogWriter",
    "close_open_writers",
    "split_log_name",
]

logger = logging.getLogger("b2b_events.eventlog")

LOG_SUFFIXES = (".jsonl.gz", ".jsonl")
"""The names an event log may have; ``.gz`` means gzip."""

_BUFFER_BYTES = 64 * 1024  # written out when the buffer holds this much...
_FLUSH_EVERY = 1.0  # ...or when this many seconds passed since the last write-out
_SEQUENCE_DIGITS = 6


def split_log_name(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Split ``dir/events.jsonl.gz`` into (``dir/events``, ``.jsonl.gz``).

    Raises:
        ConfigurationError: The name does not end in ``.jsonl`` or ``.jsonl.gz``.
    """
    name = os.fspath(path)
    for suffix in LOG_SUFFIXES:
        if name.endswith(suffix) and len(Path(name).name) > len(suffix):
            return Path(name[: -len(suffix)]), suffix
    raise ConfigurationError(
        f"an event log's name ends in .jsonl or .jsonl.gz (gzip), not {Path(name).name!r}"
    )


class EventLogWriter:
    """Append serialized messages to an event log, one per line. Thread-safe.

    The file at ``path`` is the one being written. Before a line would take it
    past ``max_bytes`` (counted before compression), it is finished and renamed
    ``<name>.000001.jsonl[.gz]`` (the next free number) and a new file started at
    ``path``: names sort in the order they were written. A non-empty file
    already at ``path`` is renamed the same way when the writer opens, so a
    restarted process never appends to a file a crash may have cut short.

    Lines are buffered and written out every 64 KiB, every second (checked on
    each write), on ``flush()`` and on ``close()``; open writers are closed at
    interpreter exit. A gzip log is readable up to its last write-out even if
    the process dies before ``close()``. After ``os.fork()`` the child writes to
    ``<name>-<pid>.jsonl[.gz]``. One process per path: several processes
    writing the same path would interleave and rename each other's files.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        log_errors: bool = False,
    ) -> None:
        """Open the log (moving a non-empty existing file aside).

        Args:
            path: ``*.jsonl``, or ``*.jsonl.gz`` for gzip.
            max_bytes: Start a new file before one would hold more than this
                many bytes of lines (uncompressed). None: never.
            log_errors: Log a failed write (once) and stop recording, instead
                of raising ``OSError``; for recording alongside delivery.

        Raises:
            ConfigurationError: A bad name, ``max_bytes`` below 1, or a path
                that cannot be opened (the error says why).
        """
        self._stem, self._suffix = split_log_name(os.path.abspath(path))  # a later chdir: no matter
        if max_bytes is not None and max_bytes < 1:
            raise ConfigurationError(f"max_bytes must be >= 1, not {max_bytes!r}")
        self._max_bytes = max_bytes
        self._log_errors = log_errors
        self._broken = False
        self._closed = False
        self._init_state()
        try:
            self._open()
        except OSError as exc:
            raise ConfigurationError(f"cannot write the event log {self.path}: {exc}") from None
        # The child must not share the parent's file, buffer or (held) lock.
        at_fork(after_in_child=self._after_fork_in_child)
        _open_writers.add(self)

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._fd = -1
        self._buffer = bytearray()  # lines not yet written out
        self._unwritten = bytearray()  # bytes for the file (compressed) that a write did not take
        self._compressor: zlib._Compress | None = None
        self._ended = False  # the gzip stream is complete: the file takes no more lines
        self._size = 0  # bytes of lines in the current file, uncompressed
        self._last_write = time.monotonic()
        self._pid = os.getpid()

    @property
    def path(self) -> Path:
        """The file being written now."""
        return self._stem.with_name(self._stem.name + self._suffix)

    # -- writing ------------------------------------------------------------

    def write(self, message: bytes) -> None:
        """Append one serialized message (compact JSON, no newline) as a line.

        Raises:
            OSError: Writing failed (unless ``log_errors``).
        """
        self.write_many((message,))

    def write_many(self, messages: Sequence[bytes]) -> bool:
        """Append messages, one per line, together (no other writer's line comes between).

        Returns:
            False if the log is closed (or stopped after a failure): nothing written.

        Raises:
            OSError: Writing failed (unless ``log_errors``).
        """
        if self._pid != os.getpid():  # fork without the at-fork hook (belt and braces)
            self._after_fork_in_child()
        with self._lock:
            if self._closed or self._broken:
                return False
            try:
                for message in messages:
                    self._append(message)
                if (
                    len(self._buffer) >= _BUFFER_BYTES
                    or time.monotonic() - self._last_write >= _FLUSH_EVERY
                ):
                    self._write_out(sync=True)
            except OSError as exc:
                self._failed(exc)
            return True

    def _append(self, message: bytes) -> None:
        """With the lock held: buffer one line, starting a new file first if it would overflow."""
        cost = len(message) + 1
        limit = self._max_bytes
        if self._ended or (limit is not None and self._size and self._size + cost > limit):
            self._rotate()  # (ended: a rotation whose trailer did not get written at first)
        self._buffer += message
        self._buffer += b"\n"
        self._size += cost

    def flush(self) -> None:
        """Write out what is buffered; a gzip log is then readable up to here.

        Raises:
            OSError: Writing failed (unless ``log_errors``).
        """
        with self._lock:
            if self._closed or self._broken or self._pid != os.getpid():
                return
            try:
                self._write_out(sync=True)
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        """Write out and close the file (finishing the gzip stream). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            _open_writers.discard(self)
            if self._pid != os.getpid():
                return
            try:
                if not self._broken:
                    self._finish()
            except OSError as exc:
                self._failed(exc)
            finally:
                self._close_fd()

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventLogWriter({str(self.path)!r}, max_bytes={self._max_bytes})"

    # -- files --------------------------------------------------------------

    def _open(self) -> None:
        """Open a fresh file at ``path``, moving a non-empty one aside first."""
        path = self.path
        try:
            existing = path.stat().st_size
        except FileNotFoundError:
            existing = 0
        if existing:
            self._rename_finished()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._size = 0
        self._ended = False
        if self._suffix.endswith(".gz"):
            # wbits 16 + 15: zlib writes the gzip header and trailer itself.
            self._compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def _rename_finished(self) -> None:
        number = _next_free_number(self._stem, self._suffix)  # looked up when it is taken
        os.replace(self.path, _numbered(self._stem, self._suffix, number))

    def _rotate(self) -> None:
        self._finish()
        self._close_fd()
        self._rename_finished()
        self._open()

    def _write_out(self, *, sync: bool) -> None:
        """Write the buffer to the file; ``sync`` also flushes the compressor (readable so far).

        What a failed write (a full disk) did not take stays in ``_unwritten`` and
        goes first next time: no line is lost or torn, and a gzip stream stays whole.
        """
        data = bytes(self._buffer)
        self._buffer.clear()
        self._last_write = time.monotonic()
        if self._compressor is not None:
            data = self._compressor.compress(data)
            if sync:
                data += self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._unwritten += data
        self._drain()

    def _drain(self) -> None:
        unwritten = self._unwritten
        while unwritten:
            del unwritten[: os.write(self._fd, unwritten)]

    def _finish(self) -> None:
        self._write_out(sync=False)
        if self._compressor is not None:
            self._unwritten += self._compressor.flush(zlib.Z_FINISH)
            self._compressor = None
            self._ended = True
        self._drain()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _failed(self, exc: OSError) -> None:
        if not self._log_errors:
            raise exc
        self._broken = True
        self._buffer.clear()
        self._unwritten.clear()
        logger.error(
            "b2b-events: recording to %s failed (%s); events are still sent but no longer recorded",
            self.path,
            exc,
        )

    def _after_fork_in_child(self) -> None:
        """Forget the parent's file and buffer (the parent writes them) and start our own file."""
        if self._pid == os.getpid():
            return
        fd = self._fd
        self._init_state()
        if fd >= 0:
            os.close(fd)  # our copy of the descriptor only
        if self._closed or self._broken:
            return
        self._stem = self._stem.with_name(f"{self._stem.name}-{os.getpid()}")
        try:
            self._open()
        except OSError as exc:  # no caller to raise to: this runs in the at-fork hook
            self._broken = True
            logger.error("b2b-events: cannot open the event log %s after fork: %s", self.path, exc)


class EventLogTransport:
    """A ``Transport`` that writes each batch to an event log instead of sending it.

    For recording only: ``Client(transport=EventLogTransport("events.jsonl.gz"))``
    validates, batches and accounts as usual, and every batch lands in the log
    (no network, no write key). To send and record, use ``Client(record=...)``.

    Examples:
        >>> from b2b_events import Client, EventLogTransport
        >>> with Client(transport=EventLogTransport("events.jsonl")) as client:  # doctest: +SKIP
        ...     client.track.signed_in(user_id="u_1", group_id="acct_1")
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        """Open the log; see ``EventLogWriter`` for the naming and rotation rules.

        Raises:
            ConfigurationError: A bad name or ``max_bytes``, or a path that cannot be opened.
        """
        self._writer = EventLogWriter(path, max_bytes=max_bytes)

    @property
    def path(self) -> Path:
        """The file being written now."""
        return self._writer.path

    def send(self, messages: Sequence[bytes]) -> Response:
        """Append the batch's messages; a failed write answers status 0, so the engine retries.

        The failed write's lines stay buffered and are written later, and the
        retry writes them again: such a batch is in the log twice (same
        ``messageId``s), at least once, as over HTTP.
        """
        try:
            written = self._writer.write_many(messages)
        except OSError as exc:
            return Response(0, detail=f"writing {self.path}: {exc}")
        if not written:
            return Response(0, detail=f"the event log {self.path} is closed")
        return Response(200)

    def close(self) -> None:
        """Write out and close the log."""
        self._writer.close()

    def __repr__(self) -> str:
        return f"EventLogTransport({str(self.path)!r})"


def _numbered(stem: Path, suffix: str, number: int) -> Path:
    return stem.with_name(f"{stem.name}.{number:0{_SEQUENCE_DIGITS}d}{suffix}")


def _next_free_number(stem: Path, suffix: str) -> int:
    """One more than the highest ``<stem>.NNNNNN<suffix>`` in the directory."""
    digits = rf"\.(\d{{{_SEQUENCE_DIGITS},}})"
    pattern = re.compile(re.escape(stem.name) + digits + re.escape(suffix))
    highest = 0
    try:
        names = os.listdir(stem.parent)
    except FileNotFoundError:
        return 1
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1


_open_writers: weakref.WeakSet[EventLogWriter] = weakref.WeakSet()


def close_open_writers() -> None:
    """Finish every open log: write out the buffer and the gzip trailer.

    Called at exit by the engines' handler (``_engine``), after they have sent
    what they held.
    """
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception:
            logger.exception("b2b-events: closing the event log %s failed", writer.path)
