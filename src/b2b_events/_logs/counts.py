"""What a replay counts: the reading side, the sending side, the problems kept; its report.

Plain data, passed between the parts of a replay (``replay.py`` orchestrates):
the reading side owns a ``ReadCounts``, the sender a ``SendCounts``; a batch
carries a copy of the read counts as they stood at its end, and the report is
made of both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

__all__ = ["Problems", "ReadCounts", "ReplayReport", "SendCounts"]


@dataclass
class ReadCounts:
    """Lines read, from the checkpoint's totals on: what a batch's mark records.

    Every line counted is invalid, filtered out or selected.

    Attributes:
        lines: Non-blank lines counted.
        position: Physical lines settled (blank ones included): the last
            counted line's place in the inputs.
        invalid: Lines that are not valid messages.
        selected: Valid lines that passed the filters: the ones to send.
    """

    lines: int = 0
    position: int = 0
    invalid: int = 0
    selected: int = 0

    @classmethod
    def of(cls, totals: Mapping[str, int]) -> ReadCounts:
        """The read counts among a checkpoint's ``totals``."""
        return cls(totals["lines"], totals["position"], totals["invalid"], totals["selected"])

    @property
    def filtered(self) -> int:
        """Valid lines left out by the filters."""
        return self.lines - self.invalid - self.selected

    def copy(self) -> ReadCounts:
        return replace(self)


@dataclass
class SendCounts:
    """What the sender did: delivered and rejected (from the checkpoint's on), retries (this run).

    ``delivered`` counts each message when the endpoint takes it, before its
    batch is acknowledged as a whole.
    """

    delivered: int = 0
    rejected: int = 0
    retries: int = 0


class Problems:
    """The invalid or refused lines: each told to ``tell``, the first ``keep`` kept for the report.

    Called from the reading and the sending thread.
    """

    def __init__(self, keep: int, tell: Callable[[str], object] | None = None) -> None:
        self._keep = keep
        self._tell = tell
        self._kept: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self._lock:
            if len(self._kept) < self._keep:
                self._kept.append(text)
        if self._tell is not None:
            self._tell(text)

    def kept(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._kept)


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did, over every run of it when resumed from a checkpoint.

    Attributes:
        lines: Non-blank lines read.
        invalid: Lines skipped because they are not valid messages (never sent).
        filtered: Valid lines left out by the ``events``/``since``/``until`` filters.
        selected: Valid lines that passed the filters: the ones to send.
        delivered: Of those, acknowledged by the endpoint (0 in a dry run).
        rejected: Of those, refused for good by the endpoint (HTTP 400 or 413
            for that message alone).
        retries: Attempts this run retried (network errors, 429, 5xx).
        resumed_lines: Lines settled by earlier runs, per the checkpoint.
        delivered_now: Messages this run delivered (``delivered`` counts earlier runs too).
        files: Input files read by this run.
        position: Lines settled (acknowledged, skipped or filtered), blank ones
            included: the progress through the inputs.
        elapsed: Seconds this run took.
        dry_run: Nothing was sent.
        interrupted: Stopped before the end on request (Ctrl-C, ``stop``).
        stopped: Why the replay gave up before the end (the endpoint kept
            failing or refused the key), or None.
        resume_from: ``file:line`` of the first line not settled, where a rerun
            with the same checkpoint starts; None once everything is settled.
        errors: ``file:line: event: path: reason`` for the first invalid or
            rejected lines (up to ``max_errors``).
        skipped: ``path: why`` for each input entry this run skipped: what is
            not a regular file below a directory (a FIFO), and directories
            that cannot be listed, with ``skip_unreadable``.
    """

    lines: int = 0
    invalid: int = 0
    filtered: int = 0
    selected: int = 0
    delivered: int = 0
    rejected: int = 0
    retries: int = 0
    resumed_lines: int = 0
    delivered_now: int = 0
    files: int = 0
    position: int = 0
    elapsed: float = 0.0
    dry_run: bool = False
    interrupted: bool = False
    stopped: str | None = None
    resume_from: str | None = None
    errors: tuple[str, ...] = field(default=())
    skipped: tuple[str, ...] = field(default=())

    @property
    def undelivered(self) -> int:
        """Valid, selected messages not delivered (0 in a dry run)."""
        return 0 if self.dry_run else self.selected - self.delivered

    @property
    def ok(self) -> bool:
        """True when every line was valid and every selected message delivered."""
        return (
            self.invalid == 0
            and self.undelivered == 0
            and not self.interrupted
            and self.stopped is None
        )
