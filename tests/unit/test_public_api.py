"""The public names: pinned, so that nothing leaks out or goes missing unnoticed."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import b2b_events
import b2b_events.analytics
import b2b_events.events
import b2b_events.integrations


def test_top_level_public_names_are_pinned() -> None:
    assert sorted(b2b_events.__all__) == [
        "AsyncClient",
        "AsyncHttpTransport",
        "AsyncTransport",
        "B2BEventsError",
        "Client",
        "ConfigurationError",
        "DROP_REASONS",
        "DeliveryStats",
        "DropReason",
        "Event",
        "EventLogTransport",
        "HttpTransport",
        "Identity",
        "InvalidEventError",
        "LogLine",
        "MessageTooLargeError",
        "Problem",
        "ReplayReport",
        "Response",
        "Scope",
        "Tracker",
        "TrackingPlan",
        "TrackingPlanError",
        "Transport",
        "__version__",
        "alias",
        "close",
        "current_identity",
        "default_client",
        "flush",
        "group",
        "identify",
        "init",
        "page",
        "read_event_log",
        "replay",
        "scope",
        "screen",
        "track",
        "validate",
    ]


def test_events_public_names_are_pinned() -> None:
    assert sorted(b2b_events.events.__all__) == [
        "AccountAddedUser",
        "AccountAddedUserProperties",
        "AccountCreated",
        "AccountCreatedProperties",
        "AccountDeleted",
        "AccountDeletedProperties",
        "AccountRemovedUser",
        "AccountRemovedUserProperties",
        "Alias",
        "AnyMessage",
        "B2BContext",
        "B2BEvent",
        "Context",
        "Date",
        "DateTime",
        "Event",
        "Group",
        "Identify",
        "InviteSent",
        "InviteSentProperties",
        "Library",
        "Message",
        "Page",
        "Properties",
        "SPEC_EVENTS",
        "Screen",
        "SignedIn",
        "SignedInProperties",
        "SignedOut",
        "SignedOutProperties",
        "SignedUp",
        "SignedUpProperties",
        "Track",
        "TrackMessage",
        "TrialEnded",
        "TrialEndedProperties",
        "TrialProperties",
        "TrialStarted",
        "TrialStartedProperties",
        "json_schema",
        "properties_schema",
        "tracking_plan",
        "validate",
    ]


def test_analytics_drop_in_public_names_are_pinned() -> None:
    assert sorted(b2b_events.analytics.__all__) == [
        "Client",
        "DeliveryError",
        "ErrorHook",
        "alias",
        "debug",
        "default_client",
        "flush",
        "group",
        "gzip",
        "host",
        "identify",
        "join",
        "max_queue_size",
        "max_retries",
        "on_error",
        "page",
        "screen",
        "send",
        "shutdown",
        "sync_mode",
        "timeout",
        "track",
        "upload_interval",
        "upload_size",
        "write_key",
    ]


def test_integrations_public_names_are_pinned() -> None:
    assert sorted(b2b_events.integrations.__all__) == [
        "ASGIMiddleware",
        "RequestInfo",
        "WSGIMiddleware",
        "request_context",
    ]


def test_integrations_import_no_web_framework() -> None:
    code = (
        "import sys, b2b_events.integrations; "
        "print(sorted({'fastapi', 'starlette', 'flask', 'werkzeug', 'django'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"


PUBLIC_MODULES = [
    "b2b_events",
    "b2b_events.analytics",
    "b2b_events.events",
    "b2b_events.integrations",
]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_are_listed_once(module_name: str) -> None:
    names = importlib.import_module(module_name).__all__

    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("module_name", "name"),
    [
        (module_name, name)
        for module_name in PUBLIC_MODULES
        for name in importlib.import_module(module_name).__all__
    ],
)
def test_every_public_name_is_importable(module_name: str, name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import {name}", namespace)

    assert namespace[name] is getattr(importlib.import_module(module_name), name)


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from b2b_events import *", namespace)

    assert sorted(set(namespace) - {"__builtins__"}) == sorted(b2b_events.__all__)


def test_version_is_a_dotted_string() -> None:
    parts = b2b_events.__version__.split(".")

    assert len(parts) >= 3
    assert all(part.isdigit() for part in parts[:3])


def test_events_validate_is_the_top_level_validate() -> None:
    assert b2b_events.events.validate is b2b_events.validate
