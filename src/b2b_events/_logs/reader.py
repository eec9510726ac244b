"""Reading event logs: files, gzip and stdin, one line at a time.

An event log is newline-delimited JSON, one wire message per line: what
``Client(record=...)`` writes, what ``b2b-events export`` prints, and what
Segment's raw archives hold (gzipped, under ``segment-logs/<source>/<day>/``;
SPEC.md, "Event logs"). Reading streams fixed-size chunks, so memory stays flat
whatever the input size; gzip is recognised by its magic bytes, not by name.
Which files a path stands for (a directory tree) is ``finder``'s to say.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple

from pydantic_core import from_json

from .finder import STDIN, find_event_logs, is_stream

__all__ = [
    "MAX_LINE_BYTES",
    "LogLine",
    "UnreadableError",
    "count_lines",
    "display_name",
    "gunzip",
    "parse_line",
    "read_event_log",
    "read_file",
    "read_raw",
]

STDIN_NAME = "<stdin>"

MAX_LINE_BYTES = 1024 * 1024
"""Longer lines are reported as errors and not kept (a message is at most 32 KB)."""

_CHUNK = 256 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number"}
_WHERE = re.compile(r" at line \d+ column (\d+)$")  # each line is parsed on its own: "line 1"


class LogLine(NamedTuple):
    """One non-blank line of an event log: where it is, and its message or what is wrong.

    Attributes:
        file: The file's path as found (``<stdin>`` for standard input).
        line: The line number in that file, from 1 (blank lines count).
        message: The line's JSON object, or None when ``error`` is set.
        error: Why the line could not be read (not JSON, not an object, a
            truncated gzip stream, ...), or None.
    """

    file: str
    line: int
    message: dict[str, Any] | None
    error: str | None

    @property
    def location(self) -> str:
        """``file:line``, as compilers and editors show it."""
        return f"{self.file}:{self.line}"


class UnreadableError(Exception):
    """The input cannot be read past this point (gzip truncated or corrupt, I/O error)."""


def read_event_log(*paths: str | os.PathLike[str]) -> Iterator[LogLine]:
    """Yield every non-blank line of the event logs at ``paths``, in order.

    Each file, directory (recursively) or ``-`` (stdin) is read as
    ``find_event_logs`` lists them (what it skips, such as a FIFO in a
    directory, is logged as a warning); gzip is decompressed as it streams. A line
    that cannot be used comes with its ``error`` and reading goes on; a gzip
    stream cut short (a crashed writer) gives every complete line before the
    break, then one error at the line where it breaks.

    Args:
        paths: Files, directories, or ``-`` for standard input.

    Raises:
        FileNotFoundError: A path does not exist (before anything is yielded).
        OSError: A directory cannot be listed (before anything is yielded).

    Examples:
        >>> for line in read_event_log("segment-logs/"):  # doctest: +SKIP
        ...     print(line.location, line.error or line.message["type"])
    """
    files = find_event_logs(paths)
    for file in files:
        yield from read_file(file)


def read_file(file: str) -> Iterator[LogLine]:
    """Yield the non-blank lines of one file (or ``-``).

    A file that cannot be opened gives one error line with line number 0.
    """
    name = display_name(file)
    for block in read_raw(file):
        if isinstance(block, LogLine):
            yield block
            return
        first, lines = block
        for number, raw in enumerate(lines, first):
            if not raw or raw.isspace():
                continue
            yield _parse(name, number, raw)


def display_name(file: str) -> str:
    """How a ``LogLine`` names ``file``: as given, ``<stdin>`` for ``-``."""
    return STDIN_NAME if file == STDIN else file


def read_raw(file: str, skip: int = 0) -> Iterator[tuple[int, list[bytes]] | LogLine]:
    """Every line of one file (or ``-``) after the first ``skip``, as bytes, in blocks.

    The one line-reading loop: under ``read_file``, and for callers that go
    through millions of lines (``validate``, ``replay``), no ``LogLine`` per
    line. Each block comes with the number of its first line (lines are
    numbered from 1, blank ones included); one over ``MAX_LINE_BYTES`` is a
    placeholder that ``parse_line`` reports. When the file cannot be opened, or
    read further (a truncated gzip stream), the last item is its error
    ``LogLine`` (line 0 when it cannot be opened).
    """
    name = display_name(file)
    try:
        stream = _open(file)
    except OSError as exc:
        yield LogLine(name, 0, None, f"cannot read: {exc.strerror or exc}")
        return
    number = 0  # lines read so far
    try:
        for block in _line_blocks(_chunks(stream)):
            first = number + 1
            number += len(block)
            if number <= skip:
                continue
            yield (first, block) if first > skip else (skip + 1, block[skip - first + 1 :])
    except UnreadableError as exc:
        yield LogLine(name, number + 1, None, str(exc))
    finally:
        if file != STDIN:
            stream.close()


def parse_line(file: str, number: int, raw: bytes) -> LogLine | None:
    """The ``LogLine`` of line ``number`` of ``file`` (its display name), or None when blank."""
    if not raw or raw.isspace():
        return None
    return _parse(file, number, raw)


def count_lines(files: Iterable[str], stop: threading.Event | None = None) -> int | None:
    """Count the lines of ``files`` (blank ones too), for progress; streams are not read.

    Streams (stdin, a FIFO: ``is_stream``) are left out, since counting would
    consume them: a caller with one among its inputs has no total. Unreadable
    files and truncated gzip streams count for what can be read.
    Returns None when ``stop`` is set before the count is done.
    """
    total = 0
    for file in files:
        if is_stream(file):
            continue
        try:
            with _open(file) as stream:
                last = b"\n"
                for chunk in _chunks(stream):
                    if stop is not None and stop.is_set():
                        return None
                    total += chunk.count(b"\n")
                    last = chunk[-1:]
                total += last != b"\n"
        except (OSError, UnreadableError):
            continue
    return total


# -- bytes to lines -----------------------------------------------------------


def _open(file: str) -> BinaryIO:
    if file == STDIN:
        return sys.stdin.buffer
    return open(file, "rb")


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Yield the decompressed content of ``stream`` in chunks of at most ``_CHUNK`` bytes."""
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)

    def read_some(size: int) -> bytes:
        try:
            return read(size)
        except OSError as exc:
            raise UnreadableError(f"read error: {exc}") from None

    first = read_some(_CHUNK)
    while 0 < len(first) < len(_GZIP_MAGIC):  # a pipe may give one byte at a time
        more = read_some(_CHUNK)
        if not more:
            break
        first += more
    if first.startswith(_GZIP_MAGIC):
        yield from gunzip(first, read_some)
        return
    chunk = first
    while chunk:
        yield chunk
        chunk = read_some(_CHUNK)


def gunzip(data: bytes, read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Decompress gzip members one after the other (concatenated gzip is valid gzip)."""
    while True:
        data = yield from _gunzip_member(data, read)
        # What follows a member: another member, zero padding, or nothing.
        while True:
            data = data.lstrip(b"\0")
            if len(data) >= len(_GZIP_MAGIC):
                break
            more = read(_CHUNK)
            if not more:
                if data:
                    raise UnreadableError("unexpected bytes after the gzip stream")
                return
            data += more
        if not data.startswith(_GZIP_MAGIC):
            raise UnreadableError("unexpected bytes after the gzip stream")


def _gunzip_member(data: bytes, read: Callable[[int], bytes]) -> Generator[bytes, None, bytes]:
    """Decompress one member, ``_CHUNK`` bytes at most per step (no gzip bomb); return the rest."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while not decompressor.eof:
        if not data:
            data = read(_CHUNK)
            if not data:
                tail = decompressor.flush()
                if tail:
                    yield tail
                if not decompressor.eof:
                    raise UnreadableError("gzip stream truncated: the file ends in the middle")
                break
        try:
            out = decompressor.decompress(data, _CHUNK)
        except zlib.error as exc:
            raise UnreadableError(f"corrupt gzip data: {exc}") from None
        if out:
            yield out
        data = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
    return data


_TOO_LONG = b"\0too long"  # a sentinel no real line can be (it is checked by identity)


def _line_blocks(chunks: Iterator[bytes]) -> Iterator[list[bytes]]:
    """Split chunks into blocks of consecutive lines; an over-long line is ``_TOO_LONG``.

    One block per chunk (a few thousand lines), so that a caller pays Python's
    per-item costs per block rather than per line.
    """
    pending = b""
    skipping = False  # inside a line over MAX_LINE_BYTES: drop until its end
    for chunk in chunks:
        text = chunk
        block: list[bytes] = []
        if skipping:
            end = text.find(b"\n")
            if end < 0:
                continue
            block.append(_TOO_LONG)
            skipping = False
            text = text[end + 1 :]
        if pending:
            text = pending + text
        lines = text.split(b"\n")
        pending = lines.pop()
        if len(text) > MAX_LINE_BYTES:  # else no line in it can be too long
            lines = [raw if len(raw) <= MAX_LINE_BYTES else _TOO_LONG for raw in lines]
        if block:
            block += lines
        else:
            block = lines
        if len(pending) > MAX_LINE_BYTES:
            pending = b""
            skipping = True
        if block:
            yield block
    if skipping:
        yield [_TOO_LONG]
    elif pending:
        yield [pending]


def _parse(file: str, number: int, raw: bytes) -> LogLine:
    if raw is _TOO_LONG:
        return LogLine(file, number, None, f"line longer than {MAX_LINE_BYTES:,} bytes")
    if number == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        # pydantic-core's parser: strict JSON (plus NaN, as json.loads), about twice as fast.
        message = from_json(raw, cache_strings="keys")
    except ValueError as exc:
        return LogLine(
            file, number, None, "not valid JSON: " + _WHERE.sub(r" (column \1)", str(exc))
        )
    if type(message) is not dict:
        kind = "null" if message is None else _JSON_TYPES.get(type(message), "a boolean")
        return LogLine(file, number, None, f"must be a JSON object, not {kind}")
    return LogLine(file, number, message, None)
