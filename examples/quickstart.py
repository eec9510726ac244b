"""Quickstart: typed events, their wire JSON, and the error a mistake gets.

Run it with ``python examples/quickstart.py``. Nothing is sent: a ``Tracker`` with
a list as its sink collects the validated messages. ``make demo`` goes further:
a local collector and a real client sending a whole B2B lifecycle.
"""

from __future__ import annotations

import json
from datetime import date

import b2b_events
from b2b_events import InvalidEventError, Tracker
from b2b_events.events import Message


def main() -> None:
    sent: list[Message] = []
    track = Tracker(sink=sent.append)

    track.account_created(user_id="u_peter", group_id="acct_initech", account_name="Initech")
    track.signed_up(
        user_id="u_peter",
        group_id="acct_initech",
        type="organic",
        email="pgibbons@initech.com",
        properties={"referrer": "newsletter"},  # custom properties sit next to the spec's
    )
    track.trial_started(
        user_id="u_peter",
        group_id="acct_initech",
        trial_start_date=date(2026, 11, 1),
        trial_end_date=date(2026, 11, 15),
        trial_plan_name="Business",
    )

    for message in sent:
        wire = message.to_wire()
        assert b2b_events.validate(wire) == message  # what goes out reads back the same
        print(json.dumps(wire, sort_keys=True))

    # Mistakes are caught where they are made, with every problem listed.
    try:
        track.invite_sent(user_id="u_peter", group_id="", invitee_email="not-an-email")
    except InvalidEventError as error:
        print(f"\nrejected as expected -> {error}")
    print(f"\n{len(sent)} messages built and validated; the invalid one never reached the sink.")


if __name__ == "__main__":
    main()
