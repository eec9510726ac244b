"""``b2b-events validate`` and ``b2b-events replay``: output, exit status, interruption."""

from __future__ import annotations

import getpass
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

from b2b_events import InvalidEventError, ReplayReport, read_event_log, replay
from b2b_events import _cli as cli
from b2b_events._cli import main
from b2b_events._logs.progress import progress_display
from b2b_events.collector import running
from b2b_events.events import validate

ARCHIVE = Path(__file__).parents[2] / "examples" / "segment-logs"
KEY_VAR = "B2B_EVENTS_TEST_REPLAY_KEY"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def signed_in(i: int, **changes: object) -> str:
    message = {
        "type": "track",
        "event": "Signed In",
        "userId": f"u{i}",
        "messageId": f"m{i:05d}",
        "timestamp": f"2026-11-{20 + i % 5:02d}T10:00:00.000Z",
        "receivedAt": "2026-11-25T10:00:00.000Z",
        "context": {"groupId": "acct_1"},
        **changes,
    }
    return json.dumps({k: v for k, v in message.items() if v is not None})


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A log with three valid lines and four broken ones."""
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                signed_in(1),
                "{oops",
                signed_in(2, context={}),
                "",
                signed_in(3, properties={"username": 7}),
                signed_in(4, event="Signed Up", properties={"email": "nope"}),
                signed_in(5, type="identify", event=None, traits={}),
                signed_in(6, event="Something Else"),
            ]
        )
        + "\n"
    )
    return path


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_VAR, "s3cret-write-key")
    return KEY_VAR


# -- validate -------------------------------------------------------------------


def test_validate_lists_each_invalid_line_then_the_totals(mixed: Path) -> None:
    status, out = run("validate", str(mixed))

    assert status == 1
    assert out.splitlines() == [
        f"{mixed}:2: not valid JSON: key must be a string (column 2)",
        f"{mixed}:3: Signed In: context.groupId: required",
        f"{mixed}:5: Signed In: properties.username: must be a string",
        f"{mixed}:6: Signed Up: properties.email: must be an email address",
        "7 lines  3 valid  4 invalid  in 1 file",
        "  event                 valid    invalid",
        "  Signed In                 1          2",
        "  Signed Up                 0          1",
        "  Something Else            1          0",
        "  identify                  1          0",
    ]


def test_validate_strict_rejects_events_outside_the_spec(mixed: Path) -> None:
    status, out = run("validate", "--strict", "--max-errors", "0", str(mixed))

    assert status == 1
    assert out.splitlines()[:2] == [
        "... 5 more invalid lines (--max-errors 0)",
        "7 lines  2 valid  5 invalid  in 1 file",
    ]


def test_validate_json_output(mixed: Path) -> None:
    status, out = run("validate", "--json", "--max-errors", "2", str(mixed))

    assert status == 1
    document = json.loads(out)
    assert {k: document[k] for k in ("files", "lines", "valid", "invalid")} == {
        "files": 1,
        "lines": 7,
        "valid": 3,
        "invalid": 4,
    }
    assert document["by_event"]["Signed In"] == {"valid": 1, "invalid": 2}
    assert document["errors"] == [
        {
            "file": str(mixed),
            "line": 2,
            "event": None,
            "problems": [{"path": "", "reason": "not valid JSON: key must be a string (column 2)"}],
        },
        {
            "file": str(mixed),
            "line": 3,
            "event": "Signed In",
            "problems": [{"path": "context.groupId", "reason": "required"}],
        },
    ]
    assert document["errors_truncated"] is True


def test_validate_a_valid_tree_exits_0() -> None:
    status, out = run("validate", str(ARCHIVE))

    assert status == 0
    assert out.splitlines()[0] == "168 lines  168 valid  0 invalid  in 2 files"


def test_validate_reads_gzip_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = gzip.compress((signed_in(1) + "\n" + signed_in(2, context={}) + "\n").encode())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    status, out = run("validate", "-")

    assert status == 1
    assert out.splitlines()[0] == "<stdin>:2: Signed In: context.groupId: required"


def test_validate_reports_a_truncated_gzip_member(tmp_path: Path) -> None:
    data = gzip.compress("".join(signed_in(i) + "\n" for i in range(2_000)).encode())
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])

    status, out = run("validate", str(tmp_path))

    assert status == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'cut.gz'}:")
    assert first.endswith(": gzip stream truncated: the file ends in the middle")


def test_validate_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate")[0] == 2
    assert run("validate", str(tmp_path / "missing.jsonl"))[0] == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert run("validate", str(tmp_path))[0] == 2  # nothing to read in there
    assert "no event logs" in capsys.readouterr().err
    assert run("validate", "-", "-")[0] == 2
    assert run("validate", "--max-errors", "-1", str(tmp_path))[0] == 2


# -- replay ---------------------------------------------------------------------


def test_replay_sends_the_archive_and_prints_a_summary(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with running() as collector:
        status, out = run(
            "replay", str(ARCHIVE), "--endpoint", collector.url, "--write-key-env", key,
            "--integrations", '{"All": false, "Mixpanel": true}',
        )  # fmt: skip
        stored = collector.messages()

    assert status == 0, capsys.readouterr().err
    assert len(stored) == 168
    assert all(s.message["integrations"] == {"All": False, "Mixpanel": True} for s in stored)
    summary = out.splitlines()[-1]
    assert summary.startswith("168 lines  168 delivered  0 invalid  0 filtered out  0 refused  (")
    assert "s3cret" not in out + capsys.readouterr().err


def test_replay_runs_with_a_short_thread_switch_interval_and_restores_it(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender thread must not wait 5 ms for the GIL after each network call."""
    during: list[float] = []

    def spy(*paths: Any, **options: Any) -> ReplayReport:
        during.append(sys.getswitchinterval())
        return replay(*paths, **options)

    monkeypatch.setattr(cli, "replay", spy)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # CPython's default
    try:
        with running() as collector:
            status, _ = run(
                "replay", str(ARCHIVE), "--endpoint", collector.url, "--write-key-env", key
            )
        after = sys.getswitchinterval()
    finally:
        sys.setswitchinterval(previous)

    assert status == 0
    assert during == [cli.SWITCH_INTERVAL]
    assert after == 0.005


def test_the_replay_function_leaves_the_switch_interval_alone() -> None:
    """Only the command, which owns its process, shortens it; a library call does not."""
    seen: list[float] = []
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        report = replay(
            ARCHIVE, dry_run=True, on_progress=lambda _: seen.append(sys.getswitchinterval())
        )
        after = sys.getswitchinterval()
    finally:
        sys.setswitchinterval(previous)

    assert report.ok
    assert seen
    assert set(seen) == {0.005}
    assert after == 0.005


def test_replay_starts_before_the_line_count_is_done(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large archive is not read once just to show a total before anything is sent."""
    started = threading.Event()
    totals: list[int] = []

    def slow_count(files: Any, stop: Any = None) -> int:
        assert started.wait(10), "the count held the replay back"
        return 1_234

    def spy(*paths: Any, **options: Any) -> ReplayReport:
        started.set()
        return replay(*paths, **options)

    class Recording:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._shown = progress_display(*args, **kwargs)
            self.update, self.problem = self._shown.update, self._shown.problem
            self.retry, self.close = self._shown.retry, self._shown.close

        def set_total(self, total: int) -> None:
            totals.append(total)
            self._shown.set_total(total)

    monkeypatch.setattr(cli, "count_lines", slow_count)
    monkeypatch.setattr(cli, "replay", spy)
    monkeypatch.setattr(cli, "progress_display", Recording)
    with running() as collector:
        status, _ = run("replay", str(ARCHIVE), "--endpoint", collector.url, "--write-key-env", key)

    assert status == 0
    assert totals == [1_234]


def test_the_switch_interval_comes_back_after_a_failed_replay(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*paths: Any, **options: Any) -> ReplayReport:
        assert sys.getswitchinterval() == cli.SWITCH_INTERVAL
        raise KeyboardInterrupt

    previous = sys.getswitchinterval()
    monkeypatch.setattr(cli, "replay", failing)

    status, _ = run(
        "replay", str(ARCHIVE), "--endpoint", "http://127.0.0.1:9", "--write-key-env", key
    )

    assert status == 1
    assert sys.getswitchinterval() == previous


def test_overlapping_replays_restore_the_interval_once_both_end() -> None:
    previous = sys.getswitchinterval()
    first, second = cli._short_switch_interval(), cli._short_switch_interval()

    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    still = sys.getswitchinterval()  # the second replay is still running
    second.__exit__(None, None, None)

    assert still == cli.SWITCH_INTERVAL
    assert sys.getswitchinterval() == previous


def test_a_shorter_interval_set_by_the_program_is_kept() -> None:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(cli.SWITCH_INTERVAL / 5)
    try:
        with cli._short_switch_interval():
            during = sys.getswitchinterval()
    finally:
        after = sys.getswitchinterval()
        sys.setswitchinterval(previous)

    assert during == after < cli.SWITCH_INTERVAL / 4  # as set, give or take its rounding


def test_replay_skips_and_reports_invalid_lines_and_exits_1(mixed: Path, key: str) -> None:
    with running() as collector:
        status, out = run("replay", str(mixed), "--endpoint", collector.url, "--write-key-env", key)
        stored = [s.message["messageId"] for s in collector.messages()]

    assert status == 1
    assert stored == ["m00001", "m00005", "m00006"]
    lines = out.splitlines()
    assert lines[:4] == [
        f"{mixed}:2: not valid JSON: key must be a string (column 2)",
        f"{mixed}:3: Signed In: context.groupId: required",
        f"{mixed}:5: Signed In: properties.username: must be a string",
        f"{mixed}:6: Signed Up: properties.email: must be an email address",
    ]
    assert lines[4].startswith("7 lines  3 delivered  4 invalid  0 filtered out  0 refused")
    assert lines[5] == "invalid lines were skipped, not sent"


def test_replay_filters_and_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(signed_in(i) + "\n" for i in range(10)))

    status, out = run(
        "replay", str(path), "--dry-run", "--event", "Signed In", "--event", "identify",
        "--since", "2026-11-21", "--until", "2026-11-23T00:00:00Z",
    )  # fmt: skip

    assert status == 0
    summary, note = out.splitlines()
    assert summary.startswith("10 lines  4 to send  0 invalid  6 filtered out  0 refused  (")
    assert note == "dry run: nothing was sent"


def test_replay_resumes_from_its_checkpoint(tmp_path: Path, key: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(signed_in(i) + "\n" for i in range(30)))
    checkpoint = tmp_path / "replay.ckpt"
    with running() as collector:
        argv = ["replay", str(path), "--endpoint", collector.url, "--write-key-env", key,
                "--checkpoint", str(checkpoint), "--batch-size", "10"]  # fmt: skip
        collector.faults.fail_next(100, status=400)  # the first batch is refused, to the last one
        first_status, first = run(*argv, "--quiet")
        collector.faults.clear()
        second_status, second = run(*argv)
        stored = collector.count()

    assert first_status == 1
    assert first.count("refused by the endpoint (HTTP 400") == 30
    assert second_status == 1  # the refusals of the first run still count
    assert second.splitlines()[-2:] == [
        "30 lines  0 delivered  0 invalid  0 filtered out  30 refused  "
        + second.splitlines()[-2].split("refused  ")[1],
        "resumed after 30 lines done by earlier runs",
    ]
    assert stored == 0  # finished files are not read again


def test_replay_stopped_by_a_failing_endpoint_says_where_to_resume(
    tmp_path: Path, key: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(signed_in(i) + "\n" for i in range(5)))
    with running() as collector:
        collector.faults.fail_next(1, status=501)  # not retried
        status, out = run("replay", str(path), "--endpoint", collector.url, "--write-key-env", key)

    assert status == 1
    assert "stopped: the endpoint refused a batch (HTTP 501" in out
    assert f"not delivered from {path}:1 on; use --checkpoint FILE to be able to resume" in out


def test_replay_says_it_is_retrying_while_the_endpoint_fails(tmp_path: Path, key: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(signed_in(i) + "\n" for i in range(5)))
    with running() as collector:
        collector.faults.fail_next(2, status=503)
        status, out = run("replay", str(path), "--endpoint", collector.url, "--write-key-env", key)
        assert collector.count() == 5

    assert status == 0
    first, *_ = [line for line in out.splitlines() if line.startswith("retrying:")]
    assert first.startswith("retrying: attempt 1 failed (HTTP 503: ")
    assert "; next try in " in first
    assert out.splitlines()[-1].startswith("5 lines  5 delivered")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--integrations", "{bad"], "not valid JSON"),
        (["--integrations", "[1]"], "must be a JSON object"),
        (["--since", "yesterday"], "not an ISO-8601 date"),
        (["--rate", "0"], "must be > 0 events per second"),
        (["--batch-size", "3000"], "must be 1 to 2500"),
        (["--endpoint", "ftp://x"], "endpoint must be a base http(s) URL"),
        (["--since", "2026-11-23", "--until", "2026-11-22"], "since must be before until"),
    ],
)
def test_replay_usage_errors_exit_2(
    tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str], extra: list[str], error: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(signed_in(1) + "\n")

    assert run("replay", str(path), "--write-key-env", key, *extra)[0] == 2
    assert error in capsys.readouterr().err


def test_replay_refuses_a_checkpoint_of_another_replay(tmp_path: Path, key: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(signed_in(1) + "\n")
    checkpoint = str(tmp_path / "replay.ckpt")
    with running() as collector:
        base = ["replay", str(path), "--endpoint", collector.url, "--write-key-env", key]
        assert run(*base, "--checkpoint", checkpoint)[0] == 0
        assert run(*base, "--checkpoint", checkpoint, "--event", "Signed Up")[0] == 2


def test_replay_needs_a_write_key_it_never_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(signed_in(1) + "\n")
    assert run("replay", str(path), "--write-key-env", "B2B_EVENTS_TEST_UNSET")[0] == 2
    assert "is not set" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run("replay", str(path))[0] == 2
    assert "pass --write-key-env VAR" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream=None: "  ")
    assert run("replay", str(path))[0] == 2
    assert "no write key given" in capsys.readouterr().err
    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream=None: "typed-secret")
    with running(write_key="typed-secret") as collector:
        status, out = run("replay", str(path), "--endpoint", collector.url)
        assert collector.count() == 1
    assert status == 0
    assert "typed-secret" not in out + capsys.readouterr().err


def replay_process(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "b2b_events", "replay", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_replay_resumes_with_the_same_command(
    tmp_path: Path, stop: signal.Signals
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    ids = []
    for part in range(3):
        lines = [signed_in(part * 200 + i) for i in range(200)]
        (logs / f"part-{part}.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
        ids += [json.loads(line)["messageId"] for line in lines]
    env = {**os.environ, KEY_VAR: "k"}
    with running() as collector:
        argv = [str(logs), "--endpoint", collector.url, "--write-key-env", KEY_VAR,
                "--checkpoint", str(tmp_path / "replay.ckpt"), "--rate", "1000"]  # fmt: skip
        process = replay_process(argv, env)
        try:
            wait_for(lambda: collector.count() >= 150)
            process.send_signal(stop)
            out, err = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        interrupted = collector.count()
        rerun = replay_process(argv, env)
        rerun_out, rerun_err = rerun.communicate(timeout=30)
        received = [s.message["messageId"] for s in collector.messages()]

    assert 150 <= interrupted < 600
    assert rerun.returncode == 0, rerun_err
    assert sorted(set(received)) == ids  # nothing lost
    duplicates = len(received) - len(ids)
    if stop == signal.SIGINT:
        assert process.returncode == 1, err
        assert "stopping after the batch in flight" in err
        assert "interrupted\nnot delivered from" in out
        assert "run the same command to resume" in out
        assert duplicates == 0  # a clean stop saves exactly what was acknowledged
    else:
        assert process.returncode == -signal.SIGKILL
        assert duplicates <= 600  # re-sent after the crash, with their same messageId
    assert f"resumed after {len(ids) - (len(received) - interrupted)}" in rerun_out


def edge_lines() -> list[str]:
    """Lines where a fast path could part from ``validate``: each has a known verdict."""
    trial = {"trial_start_date": "2026-11-01", "trial_end_date": "2026-11-30"}
    return [
        "\ufeff" + signed_in(1),  # byte order mark on line 1: valid
        "  " + signed_in(2) + "\t",  # spaces around the object: valid
        signed_in(3, properties={"x": float("nan")}),  # NaN: not JSON's, invalid
        signed_in(4, integrations={"All": float("inf")}),  # Infinity: invalid
        signed_in(5)[:-1] + ', "x": 1e400}',  # a number that overflows to infinity: invalid
        signed_in(6, type="pageview"),  # not a Segment type: invalid
        signed_in(7, event=7),  # event not a string: invalid
        signed_in(8, event="Report Exported"),  # outside the spec: valid, invalid if strict
        signed_in(9, type="group", event=None, groupId="acct_1"),  # valid group
        "null",
        "[1]",
        '"text"',
        "   ",  # blank: not counted
        "",
        signed_in(10, userId=None),  # no identity: invalid
        signed_in(11, event="Trial Started", properties={**trial, "trial_plan_name": "Pro"}),
        signed_in(12, event="Trial Ended", properties={**trial, "trial_plan_name": ""}),
        signed_in(13, timestamp=1_700_000_000),  # epoch number: invalid
        signed_in(14, sentAt=float("nan")),  # a server-set field is still checked: invalid
        signed_in(15, receivedAt="2026-11-25T10:00:00.000Z", version=2),  # valid
    ]


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_validate_gives_each_line_the_verdict_of_the_validate_function(
    tmp_path: Path, strict: bool
) -> None:
    path = tmp_path / "edges.jsonl"
    path.write_text("\n".join(edge_lines()) + "\n", encoding="utf-8")
    expected_invalid = []
    for line in read_event_log(path):
        if line.message is None:
            expected_invalid.append(line.line)
            continue
        try:
            validate(line.message, strict=strict)
        except InvalidEventError:
            expected_invalid.append(line.line)

    status, out = run("validate", "--json", *(["--strict"] if strict else []), str(path))
    document = json.loads(out)

    assert status == 1
    assert [error["line"] for error in document["errors"]] == expected_invalid
    assert expected_invalid == [3, 4, 5, 6, 7, *([8] if strict else []), 10, 11, 12, 15, 17, 18, 19]
    reasons = {error["line"]: error["problems"][0]["reason"] for error in document["errors"]}
    finite = "must be a finite number (JSON has no NaN or Infinity)"
    assert reasons[3] == reasons[4] == reasons[19] == finite
    assert (document["lines"], document["valid"]) == (18, 18 - len(expected_invalid))
