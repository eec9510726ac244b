"""analytics-python code, unchanged but for the import: ``b2b_events.analytics``.

Run: ``python examples/analytics_dropin.py``. It starts the local collector on
127.0.0.1 (any free port), points ``analytics.host`` at it, makes the calls an
analytics-python app makes, and prints what arrived. One of them, a spec event
without its account, is reported to ``on_error`` instead of being sent: the
drop-in validates the ten B2B SaaS events as the typed builders do, and never
raises at the call site.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from b2b_events import analytics  # was: import segment.analytics as analytics
from b2b_events.collector import running


def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
    print(f"on_error: {error} ({len(batch)} message)")


def main() -> list[str]:
    """Send analytics-python-style calls into a local collector; return what it stored."""
    with running() as collector:
        analytics.write_key = "YOUR_WRITE_KEY"
        analytics.host = collector.url
        analytics.on_error = on_error

        analytics.identify("019mr8mf4r", {"email": "john@example.com", "name": "John Smith"})
        analytics.group("019mr8mf4r", "acct_123", {"name": "Initech", "employees": 329})
        analytics.track(
            "019mr8mf4r",
            "Signed Up",
            {"type": "organic", "email": "john@example.com", "plan_price": Decimal("99.84")},
            context={"groupId": "acct_123"},
        )
        analytics.track("019mr8mf4r", "Signed In", {"username": "john"})  # no account: reported
        analytics.track("019mr8mf4r", "Report Exported", {"rows": 3, "day": date(2026, 11, 22)})
        analytics.page("019mr8mf4r", "Docs", "Python", {"url": "https://example.com/docs"})
        analytics.screen("019mr8mf4r", "Onboarding", "Welcome")
        analytics.alias("anon_42", "019mr8mf4r")
        analytics.shutdown()

        stored = [f"{m.event} ok={m.ok}" for m in collector.messages()]
    for line in stored:
        print(line)
    return stored


if __name__ == "__main__":
    main()
