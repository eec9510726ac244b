"""Tests of ``app.py`` with the ``b2b_events_capture`` fixture from b2b-events' pytest plugin.

Run them with ``python -m pytest examples/testing``. Nothing is sent anywhere: the
fixture captures every message in memory and fails a test on any invalid one.
"""

from __future__ import annotations

import pytest
from app import create_account, invite, sign_up

from b2b_events import InvalidEventError
from b2b_events.testing import Capture


def test_sign_up_tracks_the_account(b2b_events_capture: Capture) -> None:
    sign_up(user_id="u_1", account_id="acct_1", email="a@b.co")

    b2b_events_capture.assert_tracked(
        "Signed Up", user_id="u_1", group_id="acct_1", properties={"email": "a@b.co"}
    )
    b2b_events_capture.assert_tracked("identify", user_id="u_1", traits={"email": "a@b.co"})
    assert len(b2b_events_capture.events("Invite Sent")) == 0


def test_a_new_account_comes_before_its_owner_signs_up(b2b_events_capture: Capture) -> None:
    create_account(account_id="acct_1", name="Initech", owner_id="u_1", owner_email="a@b.co")

    b2b_events_capture.assert_tracked_once(
        "Account Created", properties={"account_name": "Initech"}
    )
    b2b_events_capture.assert_order("Account Created", "Signed Up", group_id="acct_1")


def test_invite_tracks_only_the_invite(b2b_events_capture: Capture) -> None:
    owner = sign_up(user_id="u_1", account_id="acct_1", email="a@b.co")
    b2b_events_capture.clear()  # forget the set-up's events

    invite(owner, "b@b.co")

    b2b_events_capture.assert_tracked_once(
        "Invite Sent", user_id="u_1", properties={"invitee_email": "b@b.co"}
    )
    b2b_events_capture.assert_not_tracked("Signed Up")


def test_a_bad_email_is_refused_where_it_is_tracked(b2b_events_capture: Capture) -> None:
    with pytest.raises(InvalidEventError, match=r"properties\.email: must be an email address"):
        sign_up(user_id="u_1", account_id="acct_1", email="not an email")

    b2b_events_capture.assert_not_tracked()
