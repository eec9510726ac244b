"""A tiny sign-up service that tracks through the default client; ``test_app.py`` tests it.

In production, call ``b2b_events.init(...)`` once at start-up (or set
``$B2B_EVENTS_WRITE_KEY``); under the ``b2b_events_capture`` fixture every call
below is captured in memory and validated instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import b2b_events


@dataclass
class User:
    """A user of one account."""

    id: str
    account_id: str
    email: str


def create_account(*, account_id: str, name: str, owner_id: str, owner_email: str) -> User:
    """Create an account and its owner: Account Created, then the owner's Signed Up."""
    # ... insert the account in your database here ...
    b2b_events.track.account_created(user_id=owner_id, group_id=account_id, account_name=name)
    return sign_up(user_id=owner_id, account_id=account_id, email=owner_email)


def sign_up(*, user_id: str, account_id: str, email: str, invited: bool = False) -> User:
    """Create a user in an account: Signed Up, and an identify call with their email."""
    # ... insert the user in your database here ...
    b2b_events.track.signed_up(
        user_id=user_id,
        group_id=account_id,
        email=email,
        type="invited" if invited else "organic",
    )
    b2b_events.identify(user_id=user_id, traits={"email": email})
    return User(user_id, account_id, email)


def invite(inviter: User, email: str) -> None:
    """Invite someone to the inviter's account: Invite Sent."""
    b2b_events.track.invite_sent(
        user_id=inviter.id, group_id=inviter.account_id, invitee_email=email
    )
