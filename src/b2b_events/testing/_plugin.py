"""The pytest plugin, registered through the ``pytest11`` entry point.

It adds the ``b2b_events_capture`` fixture, the ``b2b_events`` marker, and the
plan the capture checks against: the ``b2b_events_plan`` ini option
(``module:attribute`` or a Segment ``plan.json``) or a ``b2b_events_plan`` fixture
of your own. This is the only module of the package that imports pytest.

Invalid messages fail the test in the call phase (a failure, not an error), from
a ``pytest_runtest_call`` wrapper; those sent during teardown fail the teardown.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from .._exceptions import TrackingPlanError
from .._plan import TrackingPlan
from ._capture import Capture, routed

__all__ = [
    "b2b_events_capture",
    "b2b_events_plan",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
]

_MARKER = "b2b_events"
_OPTIONS = {"strict": True, "spec_only": False}
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


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``b2b_events`` marker (``--strict-markers`` friendly)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(strict=True, spec_only=False): options of the b2b_events_capture fixture. "
        "strict=False keeps messages that break the spec in .violations instead of failing "
        "the test; spec_only=True also counts track events outside the ten B2B SaaS events "
        "as violations.",
    )


@pytest.fixture
def b2b_events_capture(
    request: pytest.FixtureRequest, b2b_events_plan: TrackingPlan | None
) -> Iterator[Capture]:
    """Capture every b2b-events message of the test in memory, and validate each one.

    While the test runs, ``b2b_events.init``/``b2b_events.track`` and every
    ``Client`` the test creates (without its own ``transport=``) send into the
    capture, synchronously; nothing leaves the process. The previous default
    client is back afterwards. A message that breaks the spec fails the test,
    naming the event, where it was tracked and each problem, unless the test
    is marked ``@pytest.mark.b2b_events(strict=False)``.

    Example::

        def test_signup(b2b_events_capture):
            signup(user_id="u_1", account_id="acct_1")
            b2b_events_capture.assert_tracked("Signed Up", group_id="acct_1")
    """
    cap = Capture(**_options(request.node), plan=b2b_events_plan)
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
