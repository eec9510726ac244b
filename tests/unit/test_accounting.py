"""``Accounting``: drop counting, the ``on_drop`` hook, the rate-limited warning, snapshots."""

from __future__ import annotations

import dataclasses
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from b2b_events import DROP_REASONS, DeliveryStats, DropReason
from b2b_events._delivery import accounting as _accounting
from b2b_events._delivery.accounting import Accounting

LOGGER = "b2b_events.delivery"

Drops = list[tuple[DropReason, list[dict[str, Any]]]]


def wire(*ids: str) -> list[bytes]:
    return [json.dumps({"type": "track", "event": "E", "messageId": i}).encode() for i in ids]


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace the module's clock (only ``_accounting``'s, not the global ``time``)."""
    fake = Clock()
    monkeypatch.setattr(_accounting, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING
    ]


def test_drop_counts_by_reason() -> None:
    accounting = Accounting()

    accounting.drop("queue_full", wire("a", "b"))
    accounting.drop("queue_full", wire("c"))
    accounting.drop("rejected", wire("d"))

    dropped = accounting.snapshot(pending=0).dropped
    assert dropped["queue_full"] == 3
    assert dropped["rejected"] == 1
    assert all(dropped[r] == 0 for r in DROP_REASONS if r not in ("queue_full", "rejected"))


def test_dropping_nothing_counts_nothing_and_calls_no_hook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drops: Drops = []
    accounting = Accounting(lambda reason, messages: drops.append((reason, messages)))

    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        accounting.drop("timeout", [])

    assert accounting.snapshot(pending=0).dropped_total == 0
    assert drops == []
    assert caplog.records == []


def test_on_drop_gets_the_reason_and_decoded_wire_dicts() -> None:
    drops: Drops = []
    accounting = Accounting(lambda reason, messages: drops.append((reason, messages)))

    accounting.drop("retries_exhausted", wire("m1", "m2"), "HTTP 503")

    assert drops == [
        (
            "retries_exhausted",
            [
                {"type": "track", "event": "E", "messageId": "m1"},
                {"type": "track", "event": "E", "messageId": "m2"},
            ],
        )
    ]


def test_on_drop_is_called_on_every_drop_even_when_the_warning_is_held_back(
    clock: Clock,
) -> None:
    drops: Drops = []
    accounting = Accounting(lambda reason, messages: drops.append((reason, messages)))

    accounting.drop("closed", wire("a"))
    accounting.drop("closed", wire("b"))

    assert [m[0]["messageId"] for _, m in drops] == ["a", "b"]


def test_a_raising_on_drop_is_logged_and_not_propagated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def hook(reason: DropReason, messages: list[dict[str, Any]]) -> None:
        raise RuntimeError("hook exploded")

    accounting = Accounting(hook)

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        accounting.drop("oversize", wire("a"))

    assert accounting.snapshot(pending=0).dropped["oversize"] == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "on_drop" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], RuntimeError)


def test_the_first_drop_warns_with_reason_detail_and_total(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    accounting = Accounting()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.drop("rejected", wire("a", "b"), "HTTP 422: bad")

    (message,) = warnings_in(caplog)
    assert "dropped 2 event(s)" in message
    assert "rejected" in message
    assert "HTTP 422: bad" in message
    assert "2 dropped for this reason so far" in message


def test_warnings_are_rate_limited_per_reason(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    accounting = Accounting()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.drop("queue_full", wire("a"))
        clock.now += 1.0
        accounting.drop("queue_full", wire("b"))

    assert len(warnings_in(caplog)) == 1


def test_another_reason_warns_on_its_own(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    accounting = Accounting()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.drop("queue_full", wire("a"))
        accounting.drop("closed", wire("b"))

    messages = warnings_in(caplog)
    assert len(messages) == 2
    assert "queue_full" in messages[0]
    assert "closed" in messages[1]


def test_after_the_interval_the_next_warning_includes_the_held_back_drops(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    accounting = Accounting()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.drop("queue_full", wire("a"))
        clock.now += 1.0
        accounting.drop("queue_full", wire("b", "c"))
        clock.now += 11.0
        accounting.drop("queue_full", wire("d"))

    first, second = warnings_in(caplog)
    assert "dropped 1 event(s)" in first
    # The 2 held back plus the 1 that triggered this warning.
    assert "dropped 3 event(s)" in second
    assert "4 dropped for this reason so far" in second


def test_log_unlogged_reports_the_held_back_counts_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    accounting = Accounting()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.drop("timeout", wire("a"))
        accounting.drop("timeout", wire("b", "c"))
        accounting.drop("closed", wire("d"))
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.log_unlogged()
        accounting.log_unlogged()

    (message,) = warnings_in(caplog)
    assert "dropped 2 more event(s)" in message
    assert "timeout" in message


def test_log_unlogged_says_nothing_when_nothing_was_held_back(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    accounting = Accounting()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.drop("closed", wire("a"))
        accounting.log_unlogged()

    assert len(warnings_in(caplog)) == 1


def test_snapshot_is_a_frozen_delivery_stats_with_every_reason() -> None:
    accounting = Accounting()
    accounting.tracked = 10
    accounting.add_delivered(4)
    accounting.add_delivered(2)
    accounting.add_retry()
    accounting.drop("invalid", wire("a"))
    accounting.drop("oversize", wire("b", "c"))

    stats = accounting.snapshot(pending=1)

    assert isinstance(stats, DeliveryStats)
    assert set(stats.dropped) == set(DROP_REASONS)
    assert stats.tracked == 10
    assert stats.delivered == 6
    assert stats.batches == 2
    assert stats.retries == 1
    assert stats.pending == 1
    assert stats.dropped_total == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.delivered = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        stats.dropped["invalid"] = 0  # type: ignore[index]


def test_a_snapshot_does_not_change_with_later_drops() -> None:
    accounting = Accounting()
    before = accounting.snapshot(pending=0)

    accounting.drop("closed", wire("a"))

    assert before.dropped["closed"] == 0
    assert before.dropped_total == 0
    assert accounting.snapshot(pending=0).dropped["closed"] == 1


def test_reset_zeroes_every_counter(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    accounting = Accounting()
    accounting.tracked = 5
    accounting.add_delivered(3)
    accounting.add_retry()
    accounting.drop("queue_full", wire("a"))
    accounting.drop("queue_full", wire("b"))  # held back by the rate limit

    accounting.reset()

    stats = accounting.snapshot(pending=0)
    assert stats == DeliveryStats(
        tracked=0,
        delivered=0,
        dropped=dict.fromkeys(DROP_REASONS, 0),
        pending=0,
        batches=0,
        retries=0,
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        accounting.log_unlogged()  # nothing held back any more
        accounting.drop("queue_full", wire("c"))  # warns at once again
    (message,) = warnings_in(caplog)
    assert "1 dropped for this reason so far" in message


def test_the_repr_is_readable_and_shows_only_the_reasons_that_dropped() -> None:
    accounting = Accounting()
    accounting.tracked = 3
    accounting.drop("rejected", wire("a", "b"), "HTTP 401: no such key")

    shown = repr(accounting.snapshot(pending=1))

    assert "mappingproxy" not in shown
    assert shown == (
        "DeliveryStats(tracked=3, delivered=0, dropped={'rejected': 2}, pending=1, "
        "batches=0, retries=0, last_drop='rejected: HTTP 401: no such key')"
    )


def test_refused_events_count_as_tracked_and_dropped() -> None:
    accounting = Accounting()
    accounting.tracked = 2  # accepted by an engine
    accounting.refuse("invalid", wire("a"), "Signed In: context.groupId: required")

    stats = accounting.snapshot(pending=2)

    assert stats.tracked == 3
    assert stats.dropped_total == 1
    assert stats.last_drop == "invalid: Signed In: context.groupId: required"
