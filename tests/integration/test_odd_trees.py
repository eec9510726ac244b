"""``validate`` and ``replay`` on odd inputs: a FIFO, a directory that cannot be listed.

Each command runs in a subprocess with a generous timeout: a regression (the
FIFO opened, and waited on forever) then fails its test instead of hanging the
suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2b_events.collector import running

KEY_VAR = "B2B_EVENTS_TEST_REPLAY_KEY"
TIMEOUT = 60.0  # seconds; the commands take well under one


def signed_in(i: int) -> str:
    return json.dumps(
        {
            "type": "track",
            "event": "Signed In",
            "userId": f"u{i}",
            "messageId": f"m{i:05d}",
            "timestamp": "2026-11-22T10:00:00.000Z",
            "context": {"groupId": "acct_1"},
        }
    )


def lines(start: int, count: int) -> str:
    return "".join(signed_in(i) + "\n" for i in range(start, start + count))


def b2b_events(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2b_events", *argv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, KEY_VAR: "k"},
        check=False,
    )


@pytest.fixture
def logs_with_a_fifo(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    (logs / "day1").mkdir(parents=True)
    (logs / "day1" / "a.jsonl").write_text(lines(0, 3))
    os.mkfifo(logs / "day1" / "b.jsonl")  # no writer: opening it would block for ever
    (logs / "day1" / "c.jsonl").write_text(lines(3, 2))
    return logs


def test_validate_skips_and_reports_a_fifo_in_a_directory(logs_with_a_fifo: Path) -> None:
    fifo = logs_with_a_fifo / "day1" / "b.jsonl"

    result = b2b_events("validate", str(logs_with_a_fifo))
    as_json = b2b_events("validate", "--json", str(logs_with_a_fifo))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"{fifo}: skipped: a FIFO (named pipe), not a regular file",
        "5 lines  5 valid  0 invalid  in 2 files (1 skipped)",
    ]
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert (document["files"], document["valid"]) == (2, 5)
    assert document["skipped"] == [
        {"path": str(fifo), "reason": "a FIFO (named pipe), not a regular file"}
    ]


def test_replay_skips_and_reports_a_fifo_in_a_directory(logs_with_a_fifo: Path) -> None:
    fifo = logs_with_a_fifo / "day1" / "b.jsonl"
    with running() as collector:
        result = b2b_events(
            "replay", str(logs_with_a_fifo), "--endpoint", collector.url, "--write-key-env", KEY_VAR
        )
        received = [stored.message["userId"] for stored in collector.messages()]

    assert result.returncode == 0, result.stderr
    assert received == [f"u{i}" for i in range(5)]
    assert f"{fifo}: skipped: a FIFO (named pipe), not a regular file\n" in result.stdout
    assert "1 skipped (listed above)\n" in result.stdout


def write_into(fifo: Path, text: str) -> threading.Thread:
    """Write ``text`` into ``fifo`` from a thread (opening blocks until a reader opens it)."""
    writer = threading.Thread(target=fifo.write_text, args=(text,), daemon=True)
    writer.start()
    return writer


def test_a_fifo_named_on_the_command_line_is_read_as_a_stream(tmp_path: Path) -> None:
    fifo = tmp_path / "live.jsonl"
    os.mkfifo(fifo)

    write_into(fifo, lines(0, 4))
    validated = b2b_events("validate", str(fifo))
    # The progress counts the lines of the inputs: it must leave the pipe to the replay.
    write_into(fifo, lines(0, 500))
    with running() as collector:
        replayed = b2b_events(
            "replay", str(fifo), "--endpoint", collector.url, "--write-key-env", KEY_VAR,
            "--batch-size", "10",
        )  # fmt: skip
        received = collector.count()

    assert validated.returncode == 0, validated.stderr
    assert "4 lines  4 valid  0 invalid  in 1 file\n" in validated.stdout
    assert replayed.returncode == 0, replayed.stderr
    assert received == 500
    assert "500 lines  500 delivered" in replayed.stdout


# -- a directory that cannot be listed ------------------------------------------


@pytest.fixture
def closed_tree() -> Iterator[Path]:
    """``logs/`` with a readable log and ``logs/closed/`` (mode 000) holding another.

    Outside pytest's private temporary directory, so that an unprivileged user
    can reach it (see ``unprivileged``).
    """
    with tempfile.TemporaryDirectory(prefix="b2b-events-test-") as base:
        os.chmod(base, 0o755)
        logs = Path(base) / "logs"
        (logs / "closed").mkdir(parents=True)
        (logs / "closed" / "x.jsonl").write_text(lines(9, 1))
        (logs / "open.jsonl").write_text(lines(0, 2))
        (logs / "closed").chmod(0)
        try:
            yield logs
        finally:
            (logs / "closed").chmod(0o755)


# Root reads any directory (CAP_DAC_OVERRIDE): as root, the command gives up its
# privileges (to nobody, uid 65534) after its imports, before it runs, so that the
# kernel refuses it the directory as it refuses anyone else. After, not before: the
# interpreter may live where nobody cannot go.
UNPRIVILEGED = """
import os, sys
from b2b_events._cli import main
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
sys.exit(main(sys.argv[1:]))
"""


def unprivileged(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``b2b-events argv`` as a user whom a mode-000 directory is refused to."""
    return subprocess.run(
        [sys.executable, "-c", UNPRIVILEGED, *argv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_a_directory_that_cannot_be_listed_fails_the_commands(closed_tree: Path) -> None:
    for argv in (["validate"], ["replay", "--dry-run"]):
        result = unprivileged(*argv, str(closed_tree))

        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert result.stderr == (
            f"b2b-events: cannot list the directory {closed_tree / 'closed'}: "
            "Permission denied (--skip-unreadable skips it)\n"
        )


def test_a_directory_that_cannot_be_listed_is_skipped_on_request(closed_tree: Path) -> None:
    skipped = f"{closed_tree / 'closed'}: skipped: cannot list the directory: Permission denied"

    validated = unprivileged("validate", "--skip-unreadable", str(closed_tree))
    replayed = unprivileged("replay", "--dry-run", "--skip-unreadable", str(closed_tree))

    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.splitlines()[:2] == [
        skipped,
        "2 lines  2 valid  0 invalid  in 1 file (1 skipped)",
    ]
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith(skipped + "\n")
    assert "2 lines  2 to send" in replayed.stdout
    assert "1 skipped (listed above)\n" in replayed.stdout
