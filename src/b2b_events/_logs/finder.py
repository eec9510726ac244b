"""Finding event logs: the files that paths (files, directory trees, ``-``) stand for.

What is below a directory and not a regular file (a FIFO would block forever)
is skipped and said; a path named explicitly is read whatever its kind.
``reader`` reads what this finds.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["STDIN", "find_event_logs", "is_stream"]

logger = logging.getLogger(__name__)

STDIN = "-"
"""The path that means standard input."""


def find_event_logs(
    paths: Iterable[str | os.PathLike[str]],
    *,
    skip_unreadable: bool = False,
    on_skip: Callable[[str, str], object] | None = None,
) -> list[str]:
    """Expand ``paths`` to the files to read, in order; ``-`` (stdin) is kept as is.

    A directory stands for every ``*.jsonl``, ``*.jsonl.gz`` and ``*.gz`` below
    it, recursively (Segment's ``segment-logs/<source>/<day>/`` layout included),
    sorted by path; hidden files and directories are skipped. Below a directory,
    only regular files are read: a FIFO, a socket or a device is never opened
    (a FIFO would block forever) but skipped and passed to ``on_skip``. A path
    named explicitly is read whatever its name and kind: a FIFO named on the
    command line (``<(zcat day.gz)`` in a shell) is read as a stream, like
    ``-``. A file listed twice is read once.

    Args:
        paths: Files, directories, or ``-`` for standard input.
        skip_unreadable: A directory that cannot be listed (permission denied)
            is skipped and passed to ``on_skip`` instead of raising.
        on_skip: Called with the path and why of each entry skipped; by
            default each is logged as a warning.

    Raises:
        FileNotFoundError: A path does not exist.
        OSError: A directory cannot be listed (``PermissionError`` mostly),
            unless ``skip_unreadable``; its ``filename`` is the directory.
    """
    skipped = on_skip if on_skip is not None else _log_skip
    found: list[str] = []
    seen: set[str] = set()
    for path in [os.fspath(p) for p in paths]:
        if path == STDIN:
            candidates = [path]
        elif os.path.isdir(path):
            candidates, skips = _walk(path, skip_unreadable)
            for where, why in skips:
                skipped(where, why)
        elif os.path.exists(path):
            candidates = [path]
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", path)
        for candidate in candidates:
            key = candidate if candidate == STDIN else os.path.realpath(candidate)
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def is_stream(file: str) -> bool:
    """True for an input that reading consumes: ``-`` (stdin), a FIFO, a device."""
    return file == STDIN or _not_regular(file) is not None


def _walk(top: str, skip_unreadable: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """The logs below ``top`` and the entries skipped (path, why), each sorted by path."""
    found: list[str] = []
    skipped: list[tuple[str, str]] = []

    def cannot_list(error: OSError) -> None:
        if not skip_unreadable:
            raise error
        why = f"cannot list the directory: {error.strerror or error}"
        skipped.append((error.filename or top, why))

    # os.walk's default onerror drops a directory it cannot list without a word (#19).
    for root, dirs, names in os.walk(top, onerror=cannot_list):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.endswith((".jsonl", ".gz")):
                path = os.path.join(root, name)
                kind = _not_regular(path)
                if kind is None:
                    found.append(path)
                else:
                    skipped.append((path, f"{kind}, not a regular file"))
    # By path components, so that a directory's files stay together.
    found.sort(key=lambda path: Path(path).parts)
    skipped.sort(key=lambda skip: Path(skip[0]).parts)
    return found, skipped


def _not_regular(path: str) -> str | None:
    """What ``path`` is when not a regular file (a FIFO, ...), else None.

    A path that cannot be stat'ed (a dangling link) counts as a file: reading it
    then reports the error in its place.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _log_skip(path: str, why: str) -> None:
    logger.warning("b2b-events: skipped %s: %s", path, why)
