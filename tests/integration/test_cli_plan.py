"""``--plan``: validate, replay, collect and schema check against the team's own plan."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from b2b_events import Event, TrackingPlan
from b2b_events._cli import main
from b2b_events.collector import running


class ReportExported(Event, name="Report Exported", group=True):
    """A report was exported."""

    report_id: str
    format: Literal["csv", "pdf"]


PLAN = TrackingPlan.b2b_saas(name="Initech").with_events(ReportExported)
REFERENCE = f"{__name__}:PLAN"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def message(event: str, properties: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": properties,
        "messageId": f"m-{number}",
        "timestamp": "2026-11-22T10:00:00.000Z",
    }


@pytest.fixture
def log(tmp_path: Path) -> Path:
    lines = [
        message("Report Exported", {"report_id": "r_1", "format": "csv"}, 1),
        message("Report Exported", {"report_id": "r_2", "format": "xls"}, 2),
        message("Signed In", {}, 3),
        message("Seat Limit Reached", {}, 4),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_validate_checks_your_events_with_the_plan(log: Path) -> None:
    status, out = run("validate", str(log), "--plan", REFERENCE, "--json")
    assert status == 1
    result = json.loads(out)
    assert result["by_event"] == {
        "Report Exported": {"valid": 1, "invalid": 1},
        "Seat Limit Reached": {"valid": 1, "invalid": 0},
        "Signed In": {"valid": 1, "invalid": 0},
    }
    assert result["errors"][0]["problems"] == [
        {"path": "properties.format", "reason": "must be 'csv' or 'pdf'"}
    ]
    status, out = run("validate", str(log), "--json")
    assert json.loads(out)["invalid"] == 0  # without the plan: envelope checks only


def test_validate_strict_refuses_events_outside_a_plan_read_from_json(
    log: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(PLAN.to_segment()), encoding="utf-8")
    status, out = run("validate", str(log), "--plan", str(plan_file), "--strict", "--json")
    assert status == 1
    errors = {e["line"]: e["problems"] for e in json.loads(out)["errors"]}
    assert sorted(errors) == [2, 4]
    assert errors[4] == [
        {"path": "event", "reason": "'Seat Limit Reached' is not in the plan 'Initech'"}
    ]


def test_replay_dry_run_counts_what_the_plan_refuses(log: Path) -> None:
    status, out = run("replay", str(log), "--dry-run", "--quiet", "--plan", REFERENCE)
    assert status == 1
    assert "properties.format: must be 'csv' or 'pdf'" in out


def test_the_collector_records_violations_of_the_plan() -> None:
    bad = message("Report Exported", {"report_id": "r_2"}, 1)
    with running(plan=PLAN) as collector:
        response = httpx.post(collector.url + "/v1/batch", json={"batch": [bad]}, timeout=10)
        assert response.status_code == 200
        assert collector.messages()[0].violations == ("properties.format: required",)


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        (
            "segment",
            lambda d: d["rules"][-1]["key"] == "Report Exported" and d["name"] == "Initech",
        ),
        ("segment-legacy", lambda d: d["name"] == "workspaces/local/tracking-plans/initech"),
        ("json-schema", lambda d: d["Report Exported"]["required"] == ["context", "properties"]),
    ],
)
def test_schema_writes_the_plan_in_each_format(fmt: str, check: Any) -> None:
    status, out = run("schema", "--plan", REFERENCE, "--format", fmt)
    assert status == 0
    assert check(json.loads(out))


def test_schema_of_one_event_of_the_plan() -> None:
    status, out = run("schema", "Report Exported", "--plan", REFERENCE)
    assert status == 0
    assert json.loads(out)["properties"]["properties"]["required"] == ["report_id", "format"]


@pytest.mark.parametrize("fmt", [(), ("--format", "json-schema")])
@pytest.mark.parametrize("plan", [("--plan", REFERENCE), ()])
def test_schema_properties_of_one_event_with_a_plan_or_the_json_schema_format(
    plan: tuple[str, ...], fmt: tuple[str, ...]
) -> None:
    # The refusal said "need --format json-schema" even to --format json-schema (the default).
    event = "Report Exported" if plan else "Invite Sent"
    status, out = run("schema", event, "--properties", *plan, *fmt)
    assert status == 0
    schema = json.loads(out)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == (["report_id", "format"] if plan else ["invitee_email"])


def test_schema_properties_of_a_plan_read_from_segment(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(PLAN.to_segment()), encoding="utf-8")
    status, out = run("schema", "Report Exported", "--properties", "--plan", str(plan_file))
    assert status == 0
    assert json.loads(out)["properties"]["format"]["enum"] == ["csv", "pdf"]


@pytest.mark.parametrize(
    ("fmt", "error"),
    [
        ("segment", "--format segment writes the whole plan: an event and --properties need"),
        ("segment-legacy", "--format segment-legacy writes the whole plan"),
        ("json-schema", "--properties needs an event and --format json-schema"),
    ],
)
def test_schema_properties_without_one_event_is_a_usage_error(
    fmt: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("schema", "--plan", REFERENCE, "--format", fmt, "--properties")[0] == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("validate", "--strict track events outside the plan (default: the spec's ten) are"),
        ("replay", "'identify', 'group', 'page', 'screen', 'alias'"),
    ],
)
def test_the_help_says_what_plans_and_the_six_types_change(
    command: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(command, "--help")[0] == 0
    assert says in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["validate", "replay", "collect", "schema"])
def test_a_plan_that_cannot_be_loaded_is_a_usage_error(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = ["x.jsonl"] if command in ("validate", "replay") else []
    assert run(command, *paths, "--plan", "no_such_module_here:PLAN")[0] == 2
    assert "cannot load the plan no_such_module_here:PLAN" in capsys.readouterr().err
