"""Replay checkpoints: how far the endpoint has acknowledged, so a rerun resumes there.

A checkpoint holds the acknowledged frontier of one replay: the input files done,
how many lines of the current file are done, and the running totals. Inputs are
read in a fixed order and batches are acknowledged in order, so everything before
the frontier was delivered, rejected for good, filtered out or invalid; everything
after it is read again on resume. A crash between a delivery and the next save
re-sends those messages with the same ``messageId`` (destinations de-duplicate on
it); nothing acknowledged late is skipped.

The file is replaced atomically (temporary file, then ``os.replace``), so a crash
while saving leaves the previous checkpoint. It records a fingerprint of the
options that decide what is sent (inputs, endpoint, filters, integrations): a
rerun with other options is refused rather than silently skipping lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .finder import STDIN

__all__ = [
    "TOTALS",
    "Frontier",
    "fingerprint",
    "input_key",
    "load_checkpoint",
    "save_checkpoint",
]

_FORMAT = "b2b-events replay checkpoint"
_VERSION = 1

TOTALS = ("lines", "position", "invalid", "filtered", "selected", "delivered", "rejected")
"""The running counts a checkpoint keeps (``position``: physical lines done, blank ones too)."""


@dataclass
class Frontier:
    """Everything before this point is settled.

    Attributes:
        done: Input files read to the end (absolute paths; ``-`` for stdin).
        file: The file being read at the frontier, or None between files.
        line: Lines of ``file`` settled (blank lines included).
        totals: Running counts up to here, keys from ``TOTALS``.
    """

    done: list[str] = field(default_factory=list)
    file: str | None = None
    line: int = 0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOTALS, 0))


def input_key(path: str) -> str:
    """How a checkpoint names an input: its absolute path (``-`` for stdin)."""
    return path if path == STDIN else os.path.abspath(path)


def fingerprint(options: dict[str, Any]) -> str:
    """A stable digest of the options that decide which messages are sent, and where."""
    canonical = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_checkpoint(path: str | os.PathLike[str], digest: str) -> Frontier | None:
    """Read the checkpoint at ``path``; None if there is none yet.

    Raises:
        ConfigurationError: The file is not a checkpoint, or it was written by a
            replay with other inputs, endpoint, filters or integrations.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"cannot read the checkpoint {path}: {exc}") from None
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError("not a replay checkpoint")
        frontier = Frontier(
            done=[str(name) for name in data["done"]],
            file=None if data["file"] is None else str(data["file"]),
            line=int(data["line"]),
            totals={name: int(data["totals"].get(name, 0)) for name in TOTALS},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(
            f"{path} is not a readable replay checkpoint ({exc}): remove it to start over"
        ) from None
    if data.get("fingerprint") != digest:
        raise ConfigurationError(
            f"the checkpoint {path} belongs to a replay with other inputs, endpoint, filters or "
            "integrations: rerun that same command to resume it, or remove the file to start over"
        )
    return frontier


def save_checkpoint(
    path: str | os.PathLike[str], digest: str, frontier: Frontier, options: dict[str, Any]
) -> None:
    """Write the checkpoint atomically: a temporary file in the same directory, then a rename.

    No fsync: ``os.replace`` is atomic against a crash of this process, which is
    what a checkpoint must survive; after a power loss an older checkpoint only
    means re-sending messages with their same ``messageId``.
    """
    target = Path(path)
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "fingerprint": digest,
        "options": options,
        "done": frontier.done,
        "file": frontier.file,
        "line": frontier.line,
        "totals": frontier.totals,
    }
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=1, default=str)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
