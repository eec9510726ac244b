"""``b2b_events.analytics`` against the real analytics-python 2.4, over real loopback HTTP.

The same calls go to segment-analytics-python (its output captured by a loopback
``/v1/batch`` server) and to the drop-in (into the local collector); the messages
are compared field by field. analytics-python's own README examples run with
only the import changed.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from importlib import metadata
from typing import Any
from uuid import UUID

import pytest
import segment.analytics as segment_analytics
from batch_server import BatchServer

import b2b_events.analytics as dropin
from b2b_events import InvalidEventError
from b2b_events.collector import Collector, running

CET = timezone(timedelta(hours=1))
COMPARED = (
    "type",
    "event",
    "userId",
    "anonymousId",
    "previousId",
    "name",
    "category",
    "properties",
    "traits",
    "context",
    "integrations",
)

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def calls() -> list[Call]:
    """analytics-python-style calls: every type, positional and keyword, the values it accepts."""
    aware = datetime(2026, 11, 22, 10, 0, 0, 123000, tzinfo=CET)
    return [
        ("identify", ("019mr8mf4r", {"email": "john@example.com", "friends": 30}), {}),
        (
            "track",
            ("u_1", "Signed Up", {"plan": "Enterprise", "email": "p@initech.com"}),
            {"context": {"groupId": "acct_1", "ip": "10.0.0.1"}},
        ),
        (
            "track",
            ("u_1", "Report Exported"),
            {
                "properties": {
                    "rows": 3,
                    "price": Decimal("99.84"),
                    "day": date(2026, 11, 22),
                    "at": aware,
                    "naive": datetime(2026, 11, 22, 10, 0),
                    "tags": ("a", "b"),
                },
                "timestamp": aware,
                "integrations": {"All": False, "Mixpanel": True},
            },
        ),
        (
            "track",
            (None, "Trial Started"),
            {
                "anonymous_id": "anon_1",
                "properties": {
                    "trial_start_date": "2026-11-01",
                    "trial_end_date": "2026-11-30",
                    "trial_plan_name": "Pro",
                },
                "context": {"groupId": "acct_1"},
                "timestamp": datetime(2026, 11, 1, 9, 30),  # naive, long ago: taken as UTC
            },
        ),
        ("page", ("u_1", "Docs", "Python", {"url": "https://segment.com"}), {}),
        ("screen", ("u_1",), {"name": "Home", "properties": {"seen": date(2026, 1, 2)}}),
        ("group", ("019mr8mf4r", "8e9df332ac", {"name": "Initech", "employees": 329}), {}),
        ("alias", ("previous_id", "user_id"), {}),
        ("identify", (42,), {"traits": {"plan": "pro"}, "context": {"locale": "en-US"}}),
        (  # a naive "now": local time, in both
            "track",
            ("u_1", "Signed In"),
            {"context": {"groupId": "acct_1"}, "timestamp": datetime.now()},
        ),
    ]


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running() as server:
        yield server


@pytest.fixture
def fresh_modules() -> Iterator[None]:
    """Both modules with their default settings and no default client, before and after."""
    names = ("write_key", "host", "on_error", "sync_mode", "gzip", "upload_interval")
    modules: tuple[Any, ...] = (segment_analytics, dropin)
    saved = [{name: getattr(m, name, None) for name in names} for m in modules]
    for module in modules:
        module.default_client = None
    yield
    for module, settings in zip(modules, saved, strict=True):
        if module.default_client is not None:
            module.default_client.shutdown()
        module.default_client = None
        for name, value in settings.items():
            setattr(module, name, value)


def run(module: Any, host: str, sequence: list[Call]) -> None:
    module.write_key = "test-key"
    module.host = host
    for index, (method, args, kwargs) in enumerate(sequence):
        getattr(module, method)(*args, message_id=f"m-{index}", **kwargs)
    module.flush()
    module.shutdown()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    """The compared fields; null and absent are the same message to Segment."""
    view = {key: message.get(key) for key in COMPARED if message.get(key) is not None}
    view["context"] = {k: v for k, v in (view.get("context") or {}).items() if k != "library"}
    return view


@pytest.mark.usefixtures("fresh_modules")
def test_the_drop_in_sends_what_analytics_python_sends_field_by_field(
    server: BatchServer, collector: Collector
) -> None:
    sequence = calls()

    run(segment_analytics, server.url, sequence)
    run(dropin, collector.url, sequence)

    theirs = {m["messageId"]: m for m in server.accepted()}
    ours = {s.message["messageId"]: s for s in collector.messages()}
    assert sorted(theirs) == sorted(ours) == sorted(f"m-{i}" for i in range(len(sequence)))
    assert [s.violations for s in ours.values() if not s.ok] == []
    timed = {f"m-{i}" for i, (_, _, kwargs) in enumerate(sequence) if "timestamp" in kwargs}
    for message_id, their in theirs.items():
        our = ours[message_id].message
        assert comparable(our) == comparable(their), message_id
        if message_id in timed:  # the others are "now" when each library was called
            assert instant(our["timestamp"]) == instant(their["timestamp"]), message_id
        assert our["context"]["library"]["name"] == "b2b-events"


@pytest.mark.usefixtures("fresh_modules")
def test_values_are_written_as_analytics_python_writes_them(
    server: BatchServer, collector: Collector
) -> None:
    run(segment_analytics, server.url, calls()[2:3])
    run(dropin, collector.url, calls()[2:3])

    (their,) = server.accepted()
    (our,) = [s.message for s in collector.messages()]
    assert (
        our["properties"]
        == their["properties"]
        == {
            "rows": 3,
            "price": 99.84,
            "day": "2026-11-22",
            "at": "2026-11-22T10:00:00.123000+01:00",
            "naive": "2026-11-22T10:00:00",
            "tags": ["a", "b"],
        }
    )
    assert our["timestamp"] == "2026-11-22T09:00:00.123Z"
    assert their["timestamp"] == "2026-11-22T10:00:00.123+01:00"


@pytest.mark.usefixtures("fresh_modules")
def test_a_uuid_is_sent_as_its_string_where_analytics_python_drops_the_key(
    server: BatchServer, collector: Collector
) -> None:
    uid = UUID("3f0c5b0e-8c1d-4a6e-9f3b-2d7c5e1a9b40")
    sequence: list[Call] = [("track", ("u_1", "Report Exported", {"id": uid, "n": 1}), {})]

    run(segment_analytics, server.url, sequence)
    run(dropin, collector.url, sequence)

    assert server.accepted()[0]["properties"] == {"n": 1}
    assert collector.messages()[0].message["properties"] == {"id": str(uid), "n": 1}


@pytest.mark.usefixtures("fresh_modules")
def test_a_spec_event_without_its_account_is_reported_not_sent_and_not_raised(
    collector: Collector,
) -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    dropin.on_error = lambda error, batch: errors.append((error, batch))
    dropin.host = collector.url
    dropin.write_key = "test-key"

    accepted, message = dropin.track("f4ca124298", "Signed Up", {"plan": "Enterprise"})
    dropin.track("f4ca124298", "Plan Chosen", {"plan": "Enterprise"})
    dropin.flush()

    assert accepted is False
    assert message["event"] == "Signed Up"
    assert [s.event for s in collector.messages()] == ["Plan Chosen"]
    ((error, batch),) = errors
    assert isinstance(error, InvalidEventError)
    assert str(error) == "Signed Up: context.groupId: required"
    assert batch == [message]
    assert dropin.default_client is not None
    engine = dropin.default_client.engine
    assert engine is not None
    assert engine.stats.dropped["invalid"] == 1


def readme_examples() -> list[str]:
    """The Python code blocks of analytics-python's own README, as installed."""
    readme = metadata.metadata("segment-analytics-python").get_payload()  # type: ignore[attr-defined]
    blocks = [
        textwrap.dedent(block)
        for block in re.findall(r"```python\n(.*?)```", str(readme), flags=re.DOTALL)
    ]
    assert blocks, "analytics-python's README has no Python examples any more"
    # The README shows a call before the set-up it says comes first ("set your
    # write_key before making any analytics calls"): set-up first, then the calls.
    return sorted(blocks, key=lambda block: "write_key" not in block)


def run_readme(module_name: str, host: str, on_error: Callable[..., object] | None) -> list[str]:
    """Run each README example with the import changed; return how each one ended."""
    module: Any = segment_analytics if module_name == "segment.analytics" else dropin
    module.host = host  # the README sends to api.segment.io: the only setting made before
    module.on_error = on_error
    outcomes = []
    # One program, as the README reads. Its ``{ price: 99.84 }`` is JavaScript's
    # object syntax: in Python it needs a name ``price``, bound to the key meant.
    namespace: dict[str, Any] = {"price": "price"}
    for block in readme_examples():
        code = block.replace(
            "import segment.analytics as analytics", f"import {module_name} as analytics"
        )
        try:
            exec(code, namespace)
        except Exception as exc:
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append("ok")
    module.flush()
    return outcomes


@pytest.mark.usefixtures("fresh_modules")
def test_analytics_python_readme_examples_run_unchanged_against_the_drop_in(
    server: BatchServer, collector: Collector
) -> None:
    errors: list[Exception] = []

    theirs = run_readme("segment.analytics", server.url, None)
    ours = run_readme("b2b_events.analytics", collector.url, lambda e, batch: errors.append(e))

    assert "import segment.analytics as analytics" in "".join(readme_examples())
    # analytics-python raises on the README's track line (its event is not a
    # string); the drop-in never raises: the message is reported instead.
    assert theirs == ["ok", "AssertionError"]
    assert ours == ["ok", "ok"]
    assert [str(e) for e in errors] == ["track: event: must be a string"]
    assert server.accepted() == []
    assert collector.messages() == []


@pytest.mark.usefixtures("fresh_modules")
def test_sync_mode_with_gzip_delivers_within_the_call(collector: Collector) -> None:
    dropin.write_key = "test-key"
    dropin.host = collector.url
    dropin.sync_mode = True
    dropin.gzip = True

    dropin.track("u_1", "Signed In", {"username": "peter"}, {"groupId": "acct_1"})

    (stored,) = collector.messages()  # no flush: sent in the call
    assert stored.ok
    assert stored.message["properties"] == {"username": "peter"}


def test_a_call_the_full_queue_refuses_returns_false_as_analytics_python(
    collector: Collector,
) -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    client = dropin.Client(
        "test-key",
        host=collector.url,
        max_queue_size=1,
        upload_interval=3600,  # the first event waits in the queue: the second finds it full
        on_error=lambda error, batch: errors.append((error, batch)),
    )
    try:
        first = client.track("u_1", "Report Exported", message_id="m-1")
        second = client.track("u_1", "Report Exported", message_id="m-2")
        client.flush()
    finally:
        client.shutdown()

    assert (first[0], second[0]) == (True, False)  # analytics-python: `except queue.Full`
    assert second[1]["messageId"] == "m-2"
    [(error, batch)] = errors
    assert (type(error), getattr(error, "reason", None)) == (dropin.DeliveryError, "queue_full")
    assert [m["messageId"] for m in batch] == ["m-2"]
    assert [stored.message["messageId"] for stored in collector.messages()] == ["m-1"]
