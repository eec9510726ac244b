"""Your own events as typed models, a tracking plan, and the plan in Segment's format.

Run: ``python examples/custom_events.py``. Nothing leaves the machine: the
events go to a local collector that checks them against the plan, and the plan
is written to ``plan.json`` in a temporary directory, in the shape Segment's
Public API and Typewriter 9 read, then read back.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Literal

import b2b_events
from b2b_events.collector import running
from b2b_events.events import DateTime


class ReportExported(b2b_events.Event, name="Report Exported", group=True):
    """A user exported a report of their account."""

    report_id: str
    format: Literal["csv", "pdf"]
    rows: int | None = None


class SeatLimitReached(b2b_events.Event, name="Seat Limit Reached", group=True):
    """The account used its last paid seat."""

    seats: int
    reached_at: DateTime


PLAN = b2b_events.TrackingPlan.b2b_saas(name="Initech").with_events(
    ReportExported, SeatLimitReached
)
"""The ten B2B SaaS events and ours: what tests, logs and the collector check against."""


def main() -> None:
    # Properties are checked where the event is built.
    try:
        ReportExported(report_id="r_1", format="xls")  # type: ignore[arg-type]
    except b2b_events.InvalidEventError as error:
        print(f"refused: {error}")

    with (
        running(plan=PLAN) as collector,
        b2b_events.Client(write_key="local", endpoint=collector.url) as client,
    ):
        client.track(
            ReportExported(report_id="r_1", format="csv"), user_id="u_1", group_id="acct_1"
        )
        client.track(
            SeatLimitReached(seats=10, reached_at="2026-11-22T10:00:00Z"),  # type: ignore[arg-type]
            user_id="u_1",
            group_id="acct_1",
        )
        # By name, the envelope is all the client checks; the plan-aware collector does more.
        client.track.event("Report Exported", user_id="u_1", group_id="acct_1")
        client.flush(timeout=10)
        for stored in collector.messages():
            verdict = "ok" if stored.ok else "INVALID " + "; ".join(stored.violations)
            print(f"collector: {stored.event}: {verdict}")

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "plan.json"
        path.write_text(json.dumps(PLAN.to_segment(), indent=2), encoding="utf-8")
        imported = b2b_events.TrackingPlan.load(str(path))
        print(f"plan.json: {len(imported.events)} events, read back as {imported.name!r}")
        message = {
            "type": "track",
            "event": "Seat Limit Reached",
            "userId": "u_1",
            "context": {"groupId": "acct_1"},
            "properties": {"seats": 10, "reached_at": "yesterday"},
        }
        try:
            imported.validate(message)
        except b2b_events.InvalidEventError as error:
            print(f"imported plan refused: {error}")


if __name__ == "__main__":
    main()
