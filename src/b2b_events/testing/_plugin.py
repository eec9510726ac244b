"""The pytest plugin, registered through the ``pytest11`` entry point.

It adds the ``b2b_events_capture`` fixture and the ``b2b_events`` marker, and
guards the whole run: from before the first ``conftest.py`` is imported until
the end of the session, every client that would send over HTTP (created at
import time, in a fixture, in the test; ``Client``, ``AsyncClient``, the
default client) hands its events to the running test's capture or, for a test
that did not request the fixture, to a holder: they are reported at the end of
the run, and nothing leaves the process. ``@pytest.mark.b2b_events(send=True)``
lets a test send for real (to the local collector, in an integration test).
The plan the capture checks against: the ``b2b_events_plan`` ini option
(``module:attribute`` or a Segment ``plan.json``) or a ``b2b_events_plan``
fixture of your own. This is the only module of the package that imports pytest.

Invalid messages fail the test in the call phase (a failure, not an error), from
a ``pytest_runtest_call`` wrapper; those sent during teardown fail the teardown.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from .._client import override_transport
from .._exceptions import TrackingPlanError
from .._plan import TrackingPlan
from .._transport import Transport
from ._capture import Capture, routed
from ._hold import Held, Holder

__all__ = [
    "b2b_events_capture",
    "b2b_events_plan",
    "pytest_addoption",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "pytest_runtest_call",
    "pytest_runtest_protocol",
    "pytest_runtest_setup",
    "pytest_terminal_summary",
    "pytest_unconfigure",
]

_MARKER = "b2b_events"
_OPTIONS = {"strict": True, "spec_only": False, "send": False}
_CAPTURE = pytest.StashKey[Capture]()


_PLAN_INI = "b2b_events_plan"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``b2b_events_plan`` ini option."""
    parser.addini(
        _PLAN_INI,
        "the tracking plan b2b_events_capture checks against: module:attribute (a "
        "b2b_events.TrackingPlan) or a Segment plan.json (default: the ten B2B SaaS events)",
        default="",
    )


@pytest.fixture(scope="session")
def b2b_events_plan(pytestconfig: pytest.Config) -> TrackingPlan | None:
    """The ``TrackingPlan`` that ``b2b_events_capture`` validates against (None: the ten).

    Set the ``b2b_events_plan`` ini option, or override this fixture in a
    ``conftest.py``::

        @pytest.fixture(scope="session")
        def b2b_events_plan():
            return TrackingPlan.b2b_saas().with_events(ReportExported)
    """
    reference = str(pytestconfig.getini(_PLAN_INI)).strip()
    if not reference:
        return None
    try:
        return TrackingPlan.load(reference)
    except TrackingPlanError as exc:
        raise pytest.UsageError(f"{_PLAN_INI} = {reference}: {exc}") from None


@dataclass
class _Guard:
    """The session's override, the one it replaced, and what was held per test."""

    previous: Transport | None
    outside_tests: Holder = field(default_factory=Holder)
    held: list[tuple[str, list[Held]]] = field(default_factory=list)


_GUARD = pytest.StashKey[_Guard]()


def _guard(config: pytest.Config) -> _Guard:
    """Install the session's holder once per run (a nested pytester run gets its own)."""
    guard = config.stash.get(_GUARD, None)
    if guard is None:
        guard = _Guard(previous=None)
        guard.previous = override_transport(guard.outside_tests)
        config.stash[_GUARD] = guard
    return guard


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Guard the clients created (and used) while ``conftest.py`` files are imported."""
    _guard(early_config)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``b2b_events`` marker (``--strict-markers`` friendly); guard the run."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(strict=True, spec_only=False, send=False): options of the b2b-events "
        "plugin. strict=False keeps captured messages that break the spec in .violations "
        "instead of failing the test (the builders still raise InvalidEventError at the "
        "call site); spec_only=True also counts track events outside the ten B2B SaaS "
        "events as violations; send=True lets clients this test does not route into "
        "b2b_events_capture send for real (integration tests against the local collector).",
    )
    _guard(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put back whatever override was there before the run."""
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        override_transport(guard.previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Hold what the test's clients send (set-up, call and teardown), or let it send.

    Events go to the test's ``b2b_events_capture`` while it is active; the
    rest are held and listed at the end of the run.
    """
    guard = _guard(item.config)
    # The closest marker that says: a module's send=True holds under a test's strict=False.
    sends = [m.kwargs["send"] for m in item.iter_markers(_MARKER) if "send" in m.kwargs]
    send = bool(sends) and sends[0] is True
    holder = Holder()
    outer = override_transport(None if send else holder)
    try:
        return (yield)
    finally:
        override_transport(outer)
        if holder.held:
            guard.held.append((item.nodeid, holder.held))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail the set-up of a test whose marker has unknown options or non-bool values."""
    if item.get_closest_marker(_MARKER) is not None:
        _options(item)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List the events held instead of sent, by test, with the client that sent each."""
    guard = config.stash.get(_GUARD, None)
    if guard is None:
        return
    held = list(guard.held)
    if guard.outside_tests.held:
        held.insert(0, ("outside any test (import, collection)", guard.outside_tests.held))
    if not held:
        return
    total = sum(len(events) for _, events in held)
    terminalreporter.section("b2b-events: held, not sent")
    for where, events in held:
        terminalreporter.line(f"{where}: {len(events)} event(s)")
        for event in events:
            terminalreporter.line(f"    {event}")
    terminalreporter.line(
        f"{total} event(s) held in memory; nothing left the process. Request the "
        "b2b_events_capture fixture to assert on them, or mark the test "
        f"@pytest.mark.{_MARKER}(send=True) to send for real."
    )


@pytest.fixture
def b2b_events_capture(
    request: pytest.FixtureRequest, b2b_events_plan: TrackingPlan | None
) -> Iterator[Capture]:
    """Capture every b2b-events message of the test in memory, and validate each one.

    While the test runs, ``b2b_events.init``/``b2b_events.track`` and every
    client that would send over HTTP, wherever and whenever it was created
    (an app module at import time, a fixture, the test), send into the capture,
    synchronously; nothing leaves the process. The previous default client is
    back afterwards. A message that breaks the spec fails the test, naming the
    event, where it was tracked, the client that sent it and each problem,
    unless the test is marked ``@pytest.mark.b2b_events(strict=False)``.

    The typed builders (``track.signed_up(...)``) check their arguments at the
    call site and raise ``InvalidEventError`` there, whatever the marker says:
    ``strict`` is about messages that reach the capture invalid (from clients
    with ``on_invalid="drop"``, from ``track.event(...)`` with ``spec_only``,
    or fed with ``record``).

    Example::

        def test_signup(b2b_events_capture):
            signup(user_id="u_1", account_id="acct_1")
            b2b_events_capture.assert_tracked("Signed Up", group_id="acct_1")
    """
    options = _options(request.node)
    cap = Capture(strict=options["strict"], spec_only=options["spec_only"], plan=b2b_events_plan)
    with routed(cap):
        request.node.stash[_CAPTURE] = cap
        yield cap
    report = cap._take_report() if cap.strict else None
    if report is not None:
        pytest.fail(report, pytrace=False)


def _options(node: pytest.Item) -> dict[str, bool]:
    marker = node.get_closest_marker(_MARKER)
    if marker is None:
        return dict(_OPTIONS)
    unknown = sorted(set(marker.kwargs) - set(_OPTIONS))
    if marker.args or unknown:
        given = [repr(arg) for arg in marker.args] + unknown
        pytest.fail(
            f"@pytest.mark.{_MARKER}: unknown option {', '.join(given)}; "
            f"it takes {', '.join(f'{name}=' for name in _OPTIONS)}",
            pytrace=False,
        )
    options = {**_OPTIONS, **marker.kwargs}
    wrong = [name for name, value in options.items() if not isinstance(value, bool)]
    if wrong:
        pytest.fail(
            f"@pytest.mark.{_MARKER}: {', '.join(wrong)} must be True or False", pytrace=False
        )
    return options


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Fail a test that passed if, in strict mode, it captured messages that break the spec.

    If the test failed anyway, the violations are added to its report instead.
    """
    try:
        result = yield
    except BaseException:
        cap = item.stash.get(_CAPTURE, None)
        report = cap._take_report() if cap is not None and cap.strict else None
        if report is not None:
            item.add_report_section("call", "b2b-events violations", report)
        raise
    cap = item.stash.get(_CAPTURE, None)
    report = cap._take_report() if cap is not None and cap.strict else None
    if report is not None:
        pytest.fail(report, pytrace=False)
    return result
