"""The pytest plugin, run on user test files with ``pytester``: passes, failures, their text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import respx  # noqa: F401

# Imported here so that the in-process runs below reuse these modules instead of
# importing (and then discarding) fresh copies.
import b2b_events.testing  # noqa: F401

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).parents[3] / "examples" / "testing"

INVALID = """b'{"type": "track", "event": "Signed Up", "userId": "u_1"}'"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Hypothesis' plugin re-imports itself on every in-process run: a second each.
    quick = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    return pytester.runpytest_inprocess("--strict-markers", "-W", "error", *quick, *args)


def assert_helpers_hidden(result: pytest.RunResult) -> None:
    output = result.stdout.str()
    assert "b2b_events/testing" not in output
    assert "__tracebackhide__" not in output


def test_the_fixture_captures_the_default_client_and_new_clients(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import b2b_events

        def signup(user_id, account_id, email):
            b2b_events.track.signed_up(user_id=user_id, group_id=account_id, email=email)

        def test_signup_tracks_account(b2b_events_capture):
            signup("u_1", "acct_1", "a@b.co")

            b2b_events_capture.assert_tracked(
                "Signed Up", user_id="u_1", group_id="acct_1", properties={"email": "a@b.co"}
            )
            assert len(b2b_events_capture.events("Invite Sent")) == 0

        def test_clients_built_in_the_test_need_no_write_key(b2b_events_capture, monkeypatch):
            monkeypatch.delenv("B2B_EVENTS_WRITE_KEY", raising=False)
            b2b_events.init().track.signed_in(user_id="u_1", group_id="acct_1")
            client = b2b_events.Client()
            client.track.signed_out(user_id="u_1", group_id="acct_1")

            b2b_events_capture.assert_order("Signed In", "Signed Out")
        """
    )

    run(pytester).assert_outcomes(passed=2)


def test_nothing_leaves_the_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import b2b_events
        import pytest
        import respx

        def track_everywhere():
            b2b_events.init(write_key="real", endpoint="https://api.segment.io")
            b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
            with b2b_events.Client(write_key="real") as client:
                client.track.signed_in(user_id="u_2", group_id="acct_1")
            assert b2b_events.flush(timeout=5)
            b2b_events.close()

        def test_with_the_fixture_no_request_is_made(b2b_events_capture):
            with respx.mock(assert_all_called=False) as router:
                every_request = router.route()
                track_everywhere()

            assert not every_request.called
            assert len(b2b_events_capture.events("Signed In")) == 2

        def test_without_it_the_events_are_held():
            with respx.mock(assert_all_called=False) as router:
                every_request = router.route()
                track_everywhere()

            assert not every_request.called

        @pytest.mark.b2b_events(send=True)
        def test_marked_send_true_the_same_code_sends():
            with respx.mock(assert_all_called=False) as router:
                every_request = router.route()
                track_everywhere()

            assert every_request.call_count == 2
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*b2b-events: held, not sent*",
            "test_nothing_leaves_the_process.py::test_without_it_the_events_are_held: 2 event(s)",
            "    Signed In, tracked at *:7 in *, sent by b2b_events.Client for "
            "https://api.segment.io, created at test_nothing_leaves_the_process.py:6 in *",
            "    Signed In, tracked at *:9 in *, created at *_process.py:8 in *",
        ]
    )


def test_the_previous_default_client_is_back_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import b2b_events

        class Recorder:
            def __init__(self):
                self.sent = []

            def send(self, messages):
                self.sent.extend(messages)
                return b2b_events.Response(200)

            def close(self):
                pass

        @pytest.fixture(scope="module")
        def app_client():
            recorder = Recorder()
            client = b2b_events.init(transport=recorder, sync=True)
            yield client, recorder
            b2b_events.close()

        def test_captured(app_client, b2b_events_capture):
            client, recorder = app_client
            assert b2b_events.default_client() is not client
            b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
            assert recorder.sent == []

        def test_restored(app_client):
            client, recorder = app_client
            assert b2b_events.default_client() is client
            assert not client.closed
            b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
            assert len(recorder.sent) == 1
        """
    )

    run(pytester).assert_outcomes(passed=2)


def test_a_failed_assert_tracked_shows_the_closest_message_as_a_diff(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import b2b_events

        def test_wrong_account(b2b_events_capture):
            b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
            b2b_events.track.signed_up(user_id="u_1", group_id="acct_2", email="a@b.co")
            b2b_events_capture.assert_tracked("Signed Up", user_id="u_1", group_id="acct_1")
        """
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       b2b_events_capture.assert_tracked("Signed Up", user_id="u_1", group_id=*',
            "E       AssertionError: 'Signed Up' with user_id='u_1', group_id='acct_1' was not *",
            "E       Captured 2 messages: Signed In, Signed Up.",
            "E       Closest captured message (- captured, + expected):",
            "E          {",
            'E         -    "groupId": "acct_2",',
            'E         +    "groupId": "acct_1",',
            "*_shows_the_closest_message_as_a_diff.py:6: AssertionError",
        ]
    )
    assert_helpers_hidden(result)


def test_failures_of_the_other_helpers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import b2b_events

        def track_two():
            b2b_events.track.signed_up(user_id="u_1", group_id="acct_1")
            b2b_events.track.signed_up(user_id="u_2", group_id="acct_1")

        def test_once(b2b_events_capture):
            track_two()
            b2b_events_capture.assert_tracked_once("Signed Up", group_id="acct_1")

        def test_not(b2b_events_capture):
            track_two()
            b2b_events_capture.assert_not_tracked("Signed Up", user_id="u_2")

        def test_order(b2b_events_capture):
            track_two()
            b2b_events_capture.assert_order("Account Created", "Signed Up")
        """
    )

    result = run(pytester)

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E  *'Signed Up' with group_id='acct_1' was tracked 2 times, expected once:",
            "E  *'Signed Up' with user_id='u_2' was tracked once, expected never:",
            "E  *expected 'Account Created' -> 'Signed Up' in this order; "
            "'Account Created' was not tracked.",
        ],
        consecutive=False,
    )
    assert_helpers_hidden(result)


def test_an_invalid_message_fails_the_test_naming_event_call_site_and_problems(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_senders=f"""
        def test_another_sender(b2b_events_capture):
            b2b_events_capture.transport.send([{INVALID}])
        """
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_another_sender _*",
            "1 captured b2b-events message breaks the spec:",
            "- Signed Up, tracked at test_senders.py:2 in test_another_sender",
            "    context.groupId: required",
            '    message: {"event":"Signed Up","type":"track","userId":"u_1"}',
            "Strict mode fails on invalid messages; *",
        ]
    )
    assert_helpers_hidden(result)


def test_spec_only_marker_fails_custom_events_at_their_call_site(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_names="""
        import pytest
        import b2b_events

        pytestmark = pytest.mark.b2b_events(spec_only=True)

        def export_report():
            b2b_events.track.event("Report Exported", user_id="u_1", group_id="acct_1")

        def test_custom_event(b2b_events_capture):
            export_report()

        @pytest.mark.b2b_events(spec_only=False)
        def test_custom_event_allowed_here(b2b_events_capture):
            export_report()
            b2b_events_capture.assert_tracked("Report Exported")
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "- Report Exported, tracked at test_names.py:7 in export_report",
            "    event: 'Report Exported' is not a B2B SaaS spec event (strict mode)",
        ]
    )


def test_strict_false_marker_keeps_violations_without_failing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.b2b_events(strict=False)
        def test_lenient(b2b_events_capture):
            b2b_events_capture.transport.send([{INVALID}])
            (violation,) = b2b_events_capture.violations
            assert violation.error.event == "Signed Up"
            assert [str(p) for p in violation.error.problems] == ["context.groupId: required"]
            b2b_events_capture.assert_tracked("Signed Up")
        """
    )

    run(pytester).assert_outcomes(passed=1)


def test_a_test_failing_anyway_gets_the_violations_in_its_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        def test_broken(b2b_events_capture):
            b2b_events_capture.transport.send([{INVALID}])
            raise RuntimeError("app bug")
        """
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       RuntimeError: app bug",
            "*Captured b2b-events violations call*",
            "1 captured b2b-events message breaks the spec:",
        ]
    )


def test_an_invalid_message_sent_at_teardown_errors_the_teardown(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def app(b2b_events_capture):
            yield
            b2b_events_capture.transport.send([{INVALID}])

        def test_app(app):
            pass
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_app*", "1 captured b2b-events message breaks the spec:"]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("strcit=False", "unknown option strcit; it takes strict=, spec_only="),
        ("False", "unknown option False; it takes strict=, spec_only="),
        ('strict="no"', "strict must be True or False"),
    ],
)
def test_a_wrong_marker_option_is_an_error(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.b2b_events({marker})
        def test_it(b2b_events_capture):
            pass
        """
    )

    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*@pytest.mark.b2b_events: {message}*"])


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")

    result.stdout.fnmatch_lines(
        ["@pytest.mark.b2b_events(strict=True, spec_only=False, send=False): options of the *"]
    )


def test_the_testing_example_passes(pytester: pytest.Pytester) -> None:
    for source in sorted(EXAMPLE.glob("*.py")):
        shutil.copy(source, pytester.path / source.name)

    result = run(pytester)

    result.assert_outcomes(passed=4)
