"""The ``b2b-events`` command: called as ``main([...])``, and ``collect`` as a process."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from b2b_events._cli import main
from b2b_events.collector import running


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_demo_sends_a_lifecycle_and_prints_the_summary() -> None:
    status, out = run("demo", "--quiet")
    assert status == 0
    assert "collector listening on http://127.0.0.1:" in out
    assert re.search(r"^web view: http://127\.0\.0\.1:\d+/  \(while the demo runs\)$", out, re.M)
    assert "total                       18     17        1" in out
    assert "client: 17 tracked, 17 delivered" in out
    assert "INVALID context.groupId: required" in out


def test_demo_live_view_prints_a_line_per_message() -> None:
    status, out = run("demo")
    assert status == 0
    assert sum(1 for line in out.splitlines() if "  user=" in line and "group=" in line) >= 18


def test_schema_prints_one_event_or_the_tracking_plan(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run("schema", "Signed Up")
    assert status == 0
    schema = json.loads(out)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    status, out = run("schema", "Invite Sent", "--properties")
    assert json.loads(out)["required"] == ["invitee_email"]
    status, out = run("schema")
    assert len(json.loads(out)["rules"]["events"]) == 10
    assert run("schema", "Signed Upp")[0] == 2
    assert "not a B2B SaaS spec event" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run()[0] == 2
    assert run("nonsense")[0] == 2
    assert run("collect", "--port", "x")[0] == 2
    assert "must be a whole number, not 'x'" in capsys.readouterr().err
    assert run("collect", "--fail-next", "x")[0] == 2
    assert "must be a whole number, not 'x'" in capsys.readouterr().err
    assert run("collect", "--drop-next", "-1")[0] == 2
    assert "must be >= 0" in capsys.readouterr().err
    assert run("collect", "--fail-status", "42")[0] == 2
    assert "must be an HTTP status" in capsys.readouterr().err
    assert run("--version")[0] == 0


def test_export_writes_the_database_as_an_event_log(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    with running(db=db) as collector:
        batch = [{"type": "identify", "userId": f"u{i}", "messageId": f"m{i}"} for i in range(3)]
        assert httpx.post(collector.url + "/v1/batch", json={"batch": batch}).status_code == 200
    status, out = run("export", str(db))
    assert status == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["messageId"] for line in lines] == ["m0", "m1", "m2"]
    assert all("receivedAt" in line for line in lines)
    target = tmp_path / "out.jsonl"
    status, out = run("export", str(db), "-o", str(target))
    assert status == 0
    assert "3 message(s) written" in out
    assert len(target.read_text().splitlines()) == 3
    assert run("export", str(tmp_path / "missing.sqlite"))[0] == 2


def test_unusable_files_and_addresses_are_usage_errors_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "events.sqlite"
    with running(db=db) as collector:
        batch = [{"type": "identify", "userId": "u", "messageId": "m"}]
        assert httpx.post(collector.url + "/v1/batch", json={"batch": batch}).status_code == 200
        busy_port = str(collector.port)
        assert run("collect", "--port", busy_port, "--quiet")[0] == 2  # in use
    assert "cannot start the collector" in capsys.readouterr().err
    assert run("export", str(db), "-o", str(tmp_path / "missing" / "out.jsonl"))[0] == 2
    assert "cannot write" in capsys.readouterr().err
    not_a_db = tmp_path / "log.jsonl"
    not_a_db.write_text('{"type": "identify"}\n')
    target = tmp_path / "out.jsonl"
    assert run("export", str(not_a_db), "-o", str(target))[0] == 2
    assert "is not a collector database" in capsys.readouterr().err
    assert not target.exists()  # nothing made for a database that is not one
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    assert run("export", str(empty))[0] == 2
    assert "is not a collector database" in capsys.readouterr().err
    assert run("collect", "--db", str(tmp_path / "missing" / "x.sqlite"), "--quiet")[0] == 2
    assert "cannot start the collector" in capsys.readouterr().err
    assert run("collect", "--port", "99999")[0] == 2
    assert "must be 0 to 65535" in capsys.readouterr().err


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`b2b-events validate big.jsonl | head -2`: no traceback when head has its lines."""
    log = tmp_path / "bad.jsonl"
    log.write_text('{"type": "track", "event": "Signed In"}\n' * 20_000)
    command = [sys.executable, "-m", "b2b_events", "validate", str(log), "--max-errors", "20000"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # as head does once it has its lines
        errors = process.stderr.read().decode()
        status = process.wait(timeout=60)
    assert "Traceback" not in errors
    assert status == 141
    # A short output is written out at the end, at once: the reader left before that.
    command = [sys.executable, "-m", "b2b_events", "schema", "Signed Up"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # before the command has even started
        errors = process.stderr.read().decode()
        status = process.wait(timeout=60)
    assert "BrokenPipeError" not in errors
    assert status == 141


@pytest.mark.parametrize("name", ["ev#1.sqlite", "ev?x.sqlite", "ev%20.sqlite"])
def test_export_reads_a_database_whose_name_looks_like_a_uri(tmp_path: Path, name: str) -> None:
    db = tmp_path / name
    with running(db=db) as collector:
        batch = [{"type": "identify", "userId": "u", "messageId": "m"}]
        assert httpx.post(collector.url + "/v1/batch", json={"batch": batch}).status_code == 200
    status, out = run("export", str(db))
    assert status == 0
    assert json.loads(out)["messageId"] == "m"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(name)) == []


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_collect_serves_and_stops_cleanly_on_a_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    db = tmp_path / "events.sqlite"
    env = {**os.environ, "COLLECTOR_KEY": "secret"}
    process = subprocess.Popen(
        [sys.executable, "-m", "b2b_events", "collect", "--port", "0", "--db", str(db),
         "--write-key-env", "COLLECTOR_KEY"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("listening on http://127.0.0.1:")
        url = banner.split()[2]
        view = f"web view: {url}/  (user name: the write key, no password)\n"
        assert process.stdout.readline() == view
        message = {"type": "track", "event": "Signed In", "userId": "u", "context": {}}
        body = {"batch": [message], "writeKey": "secret"}
        assert httpx.post(url + "/v1/batch", json=body).status_code == 200
        assert httpx.post(url + "/v1/batch", json={"batch": [message]}).status_code == 401
        line = process.stdout.readline()
        assert "Signed In" in line
        assert "INVALID context.groupId: required" in line
        refused = process.stdout.readline()  # the terminal view shows refusals too
        assert "REFUSED 401 POST /v1/batch" in refused
        assert "missing or wrong write key" in refused
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped; 1 message(s) stored" in out
    assert json.loads(run("export", str(db))[1])["userId"] == "u"


def test_collect_refuses_an_unset_write_key_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("collect", "--write-key-env", "B2B_EVENTS_TEST_UNSET_VARIABLE")[0] == 2
    assert "is not set" in capsys.readouterr().err
