"""A one-shot script: send trial events for a list of accounts, then report.

Run: ``B2B_EVENTS_WRITE_KEY=... python examples/backfill_script.py``. The ``with``
block flushes and closes the client, so every event is delivered or accounted
for before the script exits; the exit status says which.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from b2b_events import Client

TRIALS = [
    ("acct_initech", "u_peter", date(2026, 10, 1), "Business"),
    ("acct_chotchkies", "u_joanna", date(2026, 10, 3), "Starter"),
    ("acct_penetrode", "u_samir", date(2026, 10, 7), "Business"),
]


def main() -> int:
    with Client(max_retry_time=30) as client:  # write key and endpoint from the environment
        for account, owner, start, plan in TRIALS:
            end = start + timedelta(days=14)
            for builder in (client.track.trial_started, client.track.trial_ended):
                builder(
                    user_id=owner,
                    group_id=account,
                    trial_start_date=start,
                    trial_end_date=end,
                    trial_plan_name=plan,
                )
        delivered = client.flush(timeout=30)
    stats = client.stats
    print(f"tracked {stats.tracked}, delivered {stats.delivered}, dropped {stats.dropped_total}")
    return 0 if delivered and stats.dropped_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
