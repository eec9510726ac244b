"""What ``b2b-events replay`` shows while it runs: a progress bar, or plain lines.

A terminal with rich installed (the ``cli`` extra: ``pip install 'b2b-events[cli]'``)
gets a live bar with the rate and the ETA; anything else (a pipe, a log file, a CI
job, no rich) gets a plain line every few seconds. Problems (invalid or refused
lines) are printed above the bar as they are found, up to a cap; so are the
retries while the endpoint fails (a line every few seconds at most), so that a
replay waiting on a failing endpoint says so instead of sitting silent.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol, TextIO

from .counts import ReplayReport

__all__ = ["Display", "format_progress", "format_retry", "progress_display"]


class Display(Protocol):
    """Where a replay reports as it goes; called from the reading and the sending thread."""

    def update(self, report: ReplayReport) -> None:
        """A batch was acknowledged: show how far the replay is."""
        ...

    def problem(self, text: str) -> None:
        """Show one invalid or refused line."""
        ...

    def retry(self, attempt: int, reason: str, wait: float) -> None:
        """A request failed ``attempt`` times, last for ``reason``: next try in ``wait`` s."""
        ...

    def set_total(self, total: int) -> None:
        """The inputs' line count, once known: from then on, percent and ETA."""
        ...

    def close(self) -> None:
        """The replay ended (or was interrupted): stop drawing."""
        ...


def progress_display(
    out: TextIO,
    *,
    total: int | None,
    max_problems: int,
    quiet: bool = False,
    interval: float = 2.0,
    bar: bool | None = None,
) -> Display:
    """Pick the display: a rich bar on a terminal (when rich is installed), plain lines otherwise.

    Args:
        out: Where to write.
        total: Lines in the inputs (None when unknown: stdin).
        max_problems: Problems printed at most; the rest are only counted.
        quiet: No progress at all (problems are still printed).
        interval: Seconds between two plain progress lines, and between two
            retry lines (plain or above the bar).
        bar: Force the bar (True) or plain lines (False); default: a bar on a terminal.
    """
    if bar is None:
        bar = not quiet and out.isatty()
    if bar:
        try:
            return _RichDisplay(out, total=total, max_problems=max_problems, interval=interval)
        except ImportError:
            pass
    return _PlainDisplay(
        out, total=total, max_problems=max_problems, interval=None if quiet else interval
    )


class _Problems:
    """Prints the first ``max_problems`` problems, then one note that more are not shown."""

    def __init__(self, max_problems: int) -> None:
        self._max = max_problems
        self._count = 0
        self._lock = threading.Lock()

    def take(self, text: str) -> str | None:
        with self._lock:
            self._count += 1
            if self._count <= self._max:
                return text
            if self._count == self._max + 1:
                return f"(more problems not shown; --max-errors {self._max})"
            return None


class _Every:
    """Says yes at most once per ``interval`` seconds (always the first time)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self._interval:
                return False
            self._last = now
            return True


def format_retry(attempt: int, reason: str, wait: float) -> str:
    """One retry line: ``retrying: attempt 3 failed (HTTP 503); next try in 4.0 s``."""
    return f"retrying: attempt {attempt} failed ({reason}); next try in {wait:.1f} s"


class _Rate:
    """Events per second and ETA, measured from the first report of this run."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self._first: ReplayReport | None = None

    def describe(self, report: ReplayReport) -> tuple[str, str]:
        first = self._first
        if first is None:
            self._first = report
            return "", ""
        elapsed = report.elapsed - first.elapsed
        if elapsed <= 0:
            return "", ""
        rate = (_sent(report) - _sent(first)) / elapsed
        lines_rate = (report.position - first.position) / elapsed
        eta = ""
        total = self.total
        if total is not None and lines_rate > 0:
            eta = _clock(max(0, total - report.position) / lines_rate)
        return f"{rate:,.0f} ev/s", eta


def _sent(report: ReplayReport) -> int:
    """Messages delivered; in a dry run (nothing delivered), the ones that would be sent."""
    return report.selected if report.dry_run else report.delivered


def format_progress(report: ReplayReport, total: int | None, rate: str, eta: str) -> str:
    """One plain progress line: ``48%  577,031/1,204,337 lines  1,998 ev/s  ETA 5:13``."""
    if total:
        percent = min(100, report.position * 100 // total)
        parts = [f"{percent:3d}%", f"{report.position:,}/{total:,} lines"]
    else:
        parts = [f"{report.position:,} lines"]
    parts += [rate] if rate else []
    parts += [f"ETA {eta}"] if eta else []
    return "  ".join(parts)


class _PlainDisplay:
    def __init__(
        self, out: TextIO, *, total: int | None, max_problems: int, interval: float | None
    ) -> None:
        self._out = out
        self._problems = _Problems(max_problems)
        self._interval = interval
        self._retries = _Every(interval) if interval is not None else None
        self._rate = _Rate(total)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def update(self, report: ReplayReport) -> None:
        rate, eta = self._rate.describe(report)
        if self._interval is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                return
            self._last = now
        self._write(format_progress(report, self._rate.total, rate, eta))

    def problem(self, text: str) -> None:
        shown = self._problems.take(text)
        if shown is not None:
            self._write(shown)

    def retry(self, attempt: int, reason: str, wait: float) -> None:
        if self._retries is not None and self._retries.due():
            self._write(format_retry(attempt, reason, wait))

    def set_total(self, total: int) -> None:
        self._rate.total = total

    def _write(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()

    def close(self) -> None:
        pass


class _RichDisplay:
    def __init__(
        self, out: TextIO, *, total: int | None, max_problems: int, interval: float
    ) -> None:
        # rich is optional (the `cli` extra): imported only when a bar is drawn.
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
        )

        self._problems = _Problems(max_problems)
        self._retries = _Every(interval)
        self._rate = _Rate(total)
        columns: list[Any] = [BarColumn(), TaskProgressColumn(), MofNCompleteColumn()]
        columns += [TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}")]
        self._progress = Progress(*columns, console=Console(file=out), refresh_per_second=4)
        self._task = self._progress.add_task("replay", total=total, rate="", eta="")
        self._progress.start()

    def update(self, report: ReplayReport) -> None:
        rate, eta = self._rate.describe(report)
        self._progress.update(
            self._task, completed=report.position, rate=rate, eta=f"ETA {eta}" if eta else ""
        )

    def problem(self, text: str) -> None:
        shown = self._problems.take(text)
        if shown is not None:
            self._print(shown)

    def retry(self, attempt: int, reason: str, wait: float) -> None:
        if self._retries.due():
            self._print(format_retry(attempt, reason, wait))

    def _print(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def set_total(self, total: int) -> None:
        self._rate.total = total
        self._progress.update(self._task, total=total)

    def close(self) -> None:
        self._progress.stop()


def _clock(seconds: float) -> str:
    """``5:13``, or ``1:05:13`` past an hour."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
