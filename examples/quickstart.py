"""Quickstart: build a B2B SaaS lifecycle with typed events and look at the wire JSON.

Run it with ``make demo`` (or ``python examples/quickstart.py``). Nothing is sent
anywhere: a ``Tracker`` with a list as its sink collects the validated messages.
To send them, use ``b2b_events.Client(write_key=...)`` and ``client.track`` instead.
"""

from __future__ import annotations

import json
from datetime import date

import b2b_events
from b2b_events import InvalidEventError, Tracker
from b2b_events.events import Message


def lifecycle(track: Tracker) -> None:
    """An account's first weeks, as the ten B2B SaaS events (plus identify and group)."""
    account, owner = "acct_initech", "u_peter"
    track.account_created(user_id=owner, group_id=account, account_name="Initech")
    track.signed_up(
        user_id=owner,
        group_id=account,
        type="organic",
        first_name="Peter",
        last_name="Gibbons",
        email="pgibbons@initech.com",
        title="Software Engineer",
    )
    track.identify(user_id=owner, traits={"email": "pgibbons@initech.com", "name": "Peter Gibbons"})
    track.group(user_id=owner, group_id=account, traits={"name": "Initech", "plan": "trial"})
    track.trial_started(
        user_id=owner,
        group_id=account,
        trial_start_date=date(2026, 11, 1),
        trial_end_date=date(2026, 11, 15),
        trial_plan_name="Business",
    )
    track.invite_sent(
        user_id=owner,
        group_id=account,
        invitee_email="mbolton@initech.com",
        invitee_first_name="Michael",
        invitee_role="member",
    )
    track.signed_up(
        user_id="u_michael", group_id=account, type="invited", email="mbolton@initech.com"
    )
    track.account_added_user(user_id="u_michael", group_id=account, role="member")
    track.signed_in(user_id="u_michael", group_id=account, username="mbolton")
    track.signed_out(user_id="u_michael", group_id=account, username="mbolton")
    track.account_removed_user(user_id="u_michael", group_id=account)
    track.trial_ended(
        user_id=owner,
        group_id=account,
        trial_start_date=date(2026, 11, 1),
        trial_end_date=date(2026, 11, 15),
        trial_plan_name="Business",
    )
    track.account_deleted(user_id=owner, group_id=account, account_name="Initech")


def main() -> None:
    sent: list[Message] = []
    lifecycle(Tracker(sink=sent.append))

    for message in sent:
        wire = message.to_wire()
        assert b2b_events.validate(wire) == message  # what goes out reads back the same
        print(json.dumps(wire, sort_keys=True))

    # Mistakes are caught where they are made, with every problem listed.
    try:
        Tracker().invite_sent(user_id="u_peter", group_id="", invitee_email="not-an-email")
    except InvalidEventError as error:
        print(f"\nrejected as expected -> {error}")

    print(f"\n{len(sent)} messages built and validated.")


if __name__ == "__main__":
    main()
