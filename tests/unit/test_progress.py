"""What ``b2b-events replay`` shows as it goes: plain lines, or a rich bar on a terminal."""

from __future__ import annotations

import builtins
import io
from typing import Any

import pytest

from b2b_events import ReplayReport
from b2b_events._logs.progress import format_progress, progress_display


def report(position: int, delivered: int, elapsed: float, **extra: Any) -> ReplayReport:
    return ReplayReport(position=position, delivered=delivered, elapsed=elapsed, **extra)


def test_a_progress_line_has_percent_counts_rate_and_eta() -> None:
    assert (
        format_progress(report(577_031, 0, 0), 1_204_337, "1,998 ev/s", "5:13")
        == " 47%  577,031/1,204,337 lines  1,998 ev/s  ETA 5:13"
    )
    assert format_progress(report(12, 0, 0), None, "3 ev/s", "") == "12 lines  3 ev/s"


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    display = progress_display(out, total=1_000_000, max_problems=2, interval=0)

    display.update(report(100, 100, 1.0))
    display.update(report(300, 300, 2.0))
    display.update(report(1_000_000, 1_000_000, 10.0))
    for n in range(4):
        display.problem(f"x.jsonl:{n}: broken")
    display.close()

    assert out.getvalue().splitlines() == [
        "  0%  100/1,000,000 lines",
        "  0%  300/1,000,000 lines  200 ev/s  ETA 1:23:19",
        "100%  1,000,000/1,000,000 lines  111,100 ev/s  ETA 0:00",
        "x.jsonl:0: broken",
        "x.jsonl:1: broken",
        "(more problems not shown; --max-errors 2)",
    ]


def test_the_total_can_arrive_while_the_replay_runs() -> None:
    out = io.StringIO()
    display = progress_display(out, total=None, max_problems=0, interval=0)

    display.update(report(100, 100, 1.0))
    display.set_total(1_000)
    display.update(report(300, 300, 2.0))

    assert out.getvalue().splitlines() == [
        "100 lines",
        " 30%  300/1,000 lines  200 ev/s  ETA 0:04",
    ]


def test_the_total_reaches_the_rich_bar_late_too() -> None:
    out = io.StringIO()
    display = progress_display(out, total=None, max_problems=1, bar=True)
    display.update(report(100, 100, 1.0))
    display.set_total(1_000)
    display.update(report(500, 500, 2.0))
    display.close()

    text = out.getvalue()
    assert "500/1000" in text
    assert "ETA 0:01" in text


def test_plain_lines_are_spaced_out_and_quiet_shows_none() -> None:
    out = io.StringIO()
    display = progress_display(out, total=None, max_problems=5, interval=3600)
    display.update(report(1, 1, 1.0))
    display.update(report(2, 2, 2.0))
    assert out.getvalue() == ""

    quiet = progress_display(out, total=None, max_problems=5, quiet=True)
    quiet.update(report(1, 1, 1.0))
    quiet.problem("x.jsonl:1: broken")
    assert out.getvalue() == "x.jsonl:1: broken\n"


def test_a_dry_run_shows_the_rate_of_messages_it_would_send() -> None:
    out = io.StringIO()
    display = progress_display(out, total=None, max_problems=0, interval=0)
    display.update(report(10, 0, 1.0, selected=10, dry_run=True))
    display.update(report(60, 0, 2.0, selected=60, dry_run=True))

    assert out.getvalue().splitlines()[-1] == "60 lines  50 ev/s"


def test_a_rich_bar_on_a_terminal() -> None:
    out = io.StringIO()
    display = progress_display(out, total=1_000, max_problems=1, bar=True)
    display.update(report(100, 100, 1.0))
    display.update(report(500, 500, 2.0))
    display.problem("x.jsonl:7: Signed Up: context.groupId: required")
    display.problem("x.jsonl:8: more")
    display.close()

    text = out.getvalue()
    assert "x.jsonl:7: Signed Up: context.groupId: required" in text
    assert "(more problems not shown; --max-errors 1)" in text
    assert "500/1000" in text
    assert "400 ev/s" in text
    assert "ETA 0:01" in text


def test_plain_lines_when_rich_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_rich(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("rich"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rich)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    display = progress_display(out, total=10, max_problems=1, interval=0)
    display.update(report(5, 5, 1.0))

    assert out.getvalue() == " 50%  5/10 lines\n"


def test_retries_are_shown_so_a_failing_endpoint_is_not_silence() -> None:
    out = io.StringIO()
    display = progress_display(out, total=None, max_problems=0, interval=0)
    display.retry(1, "HTTP 503", 0.5)
    display.retry(2, "ConnectError: connection refused", 1.25)

    assert out.getvalue().splitlines() == [
        "retrying: attempt 1 failed (HTTP 503); next try in 0.5 s",
        "retrying: attempt 2 failed (ConnectError: connection refused); next try in 1.2 s",
    ]


def test_retry_lines_are_spaced_out_the_first_shown_at_once_and_quiet_shows_none() -> None:
    out = io.StringIO()
    display = progress_display(out, total=None, max_problems=0, interval=3600)
    for attempt in range(1, 6):
        display.retry(attempt, "HTTP 503", 0.5)
    assert out.getvalue() == "retrying: attempt 1 failed (HTTP 503); next try in 0.5 s\n"

    quiet = io.StringIO()
    progress_display(quiet, total=None, max_problems=0, quiet=True).retry(1, "HTTP 503", 0.5)
    assert quiet.getvalue() == ""


def test_retries_are_shown_above_the_rich_bar() -> None:
    out = io.StringIO()
    display = progress_display(out, total=1_000, max_problems=1, interval=3600, bar=True)
    display.retry(1, "HTTP 429", 2.0)
    display.retry(2, "HTTP 429", 2.0)
    display.close()

    text = out.getvalue()
    assert "retrying: attempt 1 failed (HTTP 429); next try in 2.0 s" in text
    assert "attempt 2" not in text
