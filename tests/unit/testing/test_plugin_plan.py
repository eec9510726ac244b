"""The pytest plugin checks captured messages against the team's plan (ini option or fixture)."""

from __future__ import annotations

import sys

import pytest

pytest_plugins = ["pytester"]

TEAM_EVENTS = """
from typing import Literal

import b2b_events


class ReportExported(b2b_events.Event, name="Report Exported", group=True):
    report_id: str
    format: Literal["csv", "pdf"]


PLAN = b2b_events.TrackingPlan.b2b_saas().with_events(ReportExported)
"""

TESTS = """
import pytest

import b2b_events
from team_events import ReportExported


def test_a_typed_event_passes(b2b_events_capture):
    b2b_events.init()
    b2b_events.track(ReportExported(report_id="r_1", format="csv"), user_id="u", group_id="g")
    b2b_events_capture.assert_tracked("Report Exported")


def test_by_name_it_is_checked_against_the_plan(b2b_events_capture):
    b2b_events.init()
    b2b_events.track.event("Report Exported", user_id="u", group_id="g",
                           properties={"report_id": "r_1"})


@pytest.mark.b2b_events(spec_only=True)
def test_spec_only_refuses_events_outside_the_plan(b2b_events_capture):
    b2b_events.init()
    b2b_events.track.event("Seat Limit Reached", user_id="u")
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    quick = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    return pytester.runpytest_inprocess("--strict-markers", "-W", "error", *quick, *args)


def _assert_plan_checked(result: pytest.RunResult, *, passed: int = 1) -> None:
    result.assert_outcomes(passed=passed, failed=2)
    result.stdout.fnmatch_lines(
        [
            "- Report Exported, tracked at *test_app.py:*",
            "    properties.format: required",
            "- Seat Limit Reached, tracked at *test_app.py:*",
            "    event: 'Seat Limit Reached' is not in the plan 'B2B SaaS'",
        ],
        consecutive=False,
    )


def test_the_ini_option_names_the_plan(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(team_events=TEAM_EVENTS, test_app=TESTS)
    pytester.makeini("[pytest]\nb2b_events_plan = team_events:PLAN\n")
    _assert_plan_checked(run(pytester))


def test_a_fixture_of_your_own_gives_the_plan(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(team_events=TEAM_EVENTS, test_app=TESTS)
    pytester.makeconftest(
        """
        import pytest
        from team_events import PLAN

        @pytest.fixture(scope="session")
        def b2b_events_plan():
            return PLAN
        """
    )
    _assert_plan_checked(run(pytester))


def test_without_a_plan_your_events_get_the_envelope_checks_only(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(team_events=TEAM_EVENTS, test_app=TESTS)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*'Seat Limit Reached' is not a B2B SaaS spec event*"])


def test_an_ini_plan_that_cannot_be_loaded_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app="def test_x(b2b_events_capture):\n    pass\n")
    pytester.makeini("[pytest]\nb2b_events_plan = nowhere_module:PLAN\n")
    result = run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*b2b_events_plan = nowhere_module:PLAN: cannot load the plan*"])


def test_an_ini_plan_json_is_found_next_to_the_ini_file_from_a_sub_directory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As every path in an ini file: relative to that file, not to where pytest runs.
    pytester.makepyfile(team_events=TEAM_EVENTS)
    pytester.makeini("[pytest]\nb2b_events_plan = plan/segment.json\n")
    (pytester.path / "plan").mkdir()
    written = pytester.run(
        sys.executable,
        "-c",
        "import json, team_events; "
        "open('plan/segment.json', 'w').write(json.dumps(team_events.PLAN.to_segment()))",
    )
    assert written.ret == 0
    tests = pytester.mkdir("tests")
    by_name = TESTS.split("def test_by_name", 1)[1]  # the tests that do not import the module
    (tests / "test_app.py").write_text("import pytest, b2b_events\ndef test_by_name" + by_name)
    monkeypatch.chdir(tests)
    _assert_plan_checked(run(pytester), passed=0)
