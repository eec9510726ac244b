"""What a replay did: the report, counted over every run of a resumed replay."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ReplayReport"]


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
