"""``b2b-events demo``: a local collector, a real client, a B2B lifecycle, a summary.

Everything runs on 127.0.0.1: the collector starts on a free port, a ``Client``
sends an account's first weeks through the real delivery engine (HTTP, gzip,
batching), a mistake is refused where it is made, another service (plain HTTP,
no b2b-events) sends an event without its account, and the table shows what the
collector received and validated.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections import Counter
from datetime import date, timedelta
from typing import TextIO

from ._client import Client
from ._exceptions import InvalidEventError
from .collector import Collector, StoredMessage, format_line

__all__ = ["run_demo"]

ACCOUNT = "acct_initech"
OTHER_SERVICE = "another service (plain HTTP, not b2b-events)"
MISTAKE = 'client.track.invite_sent(user_id="u_peter", group_id="", invitee_email="bob")'


def send_lifecycle(client: Client) -> None:
    """Track an account's first weeks through ``client``."""
    track, owner = client.track, "u_peter"
    start = date(2026, 11, 1)
    end = start + timedelta(days=14)
    track.account_created(user_id=owner, group_id=ACCOUNT, account_name="Initech")
    track.signed_up(
        user_id=owner,
        group_id=ACCOUNT,
        type="organic",
        first_name="Peter",
        last_name="Gibbons",
        email="pgibbons@initech.com",
        title="Software Engineer",
    )
    client.identify(user_id=owner, traits={"email": "pgibbons@initech.com", "name": "Peter"})
    client.group(user_id=owner, group_id=ACCOUNT, traits={"name": "Initech", "plan": "trial"})
    track.trial_started(
        user_id=owner,
        group_id=ACCOUNT,
        trial_start_date=start,
        trial_end_date=end,
        trial_plan_name="Business",
    )
    team = [
        ("u_michael", "mbolton@initech.com", "Michael"),
        ("u_samir", "samir@initech.com", "Samir"),
    ]
    for user, email, name in team:
        track.invite_sent(
            user_id=owner,
            group_id=ACCOUNT,
            invitee_email=email,
            invitee_first_name=name,
            invitee_role="member",
        )
        track.signed_up(user_id=user, group_id=ACCOUNT, type="invited", email=email)
        track.account_added_user(user_id=user, group_id=ACCOUNT, role="member")
        track.signed_in(user_id=user, group_id=ACCOUNT, username=email)
        track.signed_out(user_id=user, group_id=ACCOUNT, username=email)
    track.account_removed_user(user_id="u_samir", group_id=ACCOUNT)
    track.trial_ended(
        user_id=owner,
        group_id=ACCOUNT,
        trial_start_date=start,
        trial_end_date=end,
        trial_plan_name="Business",
    )


def show_a_mistake(client: Client, out: TextIO) -> None:
    """Make the mistake ``MISTAKE`` spells, and print the error it gets at the call site."""
    try:
        client.track.invite_sent(user_id="u_peter", group_id="", invitee_email="bob")
    except InvalidEventError as error:
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        print("\nA mistake is refused where it is made; nothing is sent:", file=out)
        print(f"  >>> {MISTAKE}\n  {kind}: {error}\n", file=out)


def send_from_another_service(url: str) -> None:
    """POST a batch the way a careless service might: no account on the event."""
    body = {
        "batch": [
            {"type": "track", "event": "Invite Sent", "userId": "u_peter",
             "properties": {"invitee_email": "bob@initech.com"}},
        ]
    }  # fmt: skip
    request = urllib.request.Request(
        url + "/v1/batch",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def summary(messages: list[StoredMessage]) -> str:
    """A table: each event (or call), how many arrived, how many were valid."""
    seen: Counter[str] = Counter()
    valid: Counter[str] = Counter()
    for stored in messages:
        seen[stored.event] += 1
        valid[stored.event] += stored.ok
    width = max(len(name) for name in seen)
    lines = [f"{'event':<{width}}  received  valid  invalid", "-" * (width + 27)]
    for name, count in seen.items():
        lines.append(f"{name:<{width}}  {count:>8}  {valid[name]:>5}  {count - valid[name]:>7}")
    total, ok = len(messages), sum(valid.values())
    lines.append("-" * (width + 27))
    lines.append(f"{'total':<{width}}  {total:>8}  {ok:>5}  {total - ok:>7}")
    return "\n".join(lines)


def run_demo(out: TextIO | None = None, *, live: bool = True) -> int:
    """Run the demo; return 0 when everything the client sent arrived valid."""
    out = out or sys.stdout
    with Collector(live=live, out=out) as collector:
        print(f"collector listening on {collector.url}  (POST /v1/batch)", file=out)
        print(f"web view: {collector.view_url}  (while the demo runs)\n", file=out)
        with Client(write_key="demo-key", endpoint=collector.url, flush_interval=0.1) as client:
            send_lifecycle(client)
            delivered = client.flush(timeout=10)
            show_a_mistake(client, out)
            stats = client.stats
        print(f"{OTHER_SERVICE} posts an Invite Sent without its account:", file=out)
        send_from_another_service(collector.url)
        messages = collector.messages()
    print(f"\n{summary(messages)}\n", file=out)
    print(
        f"client: {stats.tracked} tracked, {stats.delivered} delivered in {stats.batches} "
        f"request(s), {stats.dropped_total} dropped",
        file=out,
    )
    invalid = [m for m in messages if not m.ok]
    for stored in invalid:
        print(f"collector flagged, from {OTHER_SERVICE}:\n  {format_line(stored)}", file=out)
    sent = stats.tracked
    ours_ok = delivered and stats.delivered == sent and len(messages) == sent + 1
    return 0 if ours_ok and len(invalid) == 1 else 1
