"""The ten events of Segment's B2B SaaS spec, with the properties and rules of SPEC.md.

https://segment.com/docs/connections/spec/b2b-saas/ . Every one is a ``track``
message whose account is ``context.groupId`` (never a property). "Required here"
in SPEC.md is this project's stricter choice on top of Segment's own list.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import core_schema

from ._calls import TrackMessage
from ._common import (
    TIMESTAMP_CORE,
    B2BContext,
    CoreFirst,
    Email,
    NonBlank,
    Properties,
    Timestamp,
    rule_error,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "SPEC_EVENTS",
    "AccountAddedUser",
    "AccountAddedUserProperties",
    "AccountCreated",
    "AccountCreatedProperties",
    "AccountDeleted",
    "AccountDeletedProperties",
    "AccountRemovedUser",
    "AccountRemovedUserProperties",
    "B2BEvent",
    "InviteSent",
    "InviteSentProperties",
    "SignedIn",
    "SignedInProperties",
    "SignedOut",
    "SignedOutProperties",
    "SignedUp",
    "SignedUpProperties",
    "TrialDate",
    "TrialEnded",
    "TrialEndedProperties",
    "TrialProperties",
    "TrialStarted",
    "TrialStartedProperties",
]


_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _is_date_only(value: Any) -> bool:
    """A ``date`` (not a datetime) or a ``YYYY-MM-DD`` string: the inputs that make a date."""
    if isinstance(value, str):
        return _DATE_ONLY.fullmatch(value) is not None
    return isinstance(value, date) and not isinstance(value, datetime)


def _one_error_for_trial_date(value: Any, handler: ValidatorFunctionWrapHandler) -> date:
    # The union would report one error per member; one plain sentence reads better.
    # Its lax `date` member would also read a number as a Unix time and a naive
    # date-time at midnight as that day: neither is a date or an aware date-time.
    try:
        result: date = handler(value)
    except ValidationError:
        pass
    else:
        if isinstance(result, datetime) or _is_date_only(value):
            return result
    raise rule_error("", "must be a date (2026-11-01) or an aware date-time (2026-11-01T10:00:00Z)")


TrialDate = Annotated[
    Timestamp | date,
    Field(union_mode="left_to_right"),
    WrapValidator(_one_error_for_trial_date),
    CoreFirst(
        core_schema.date_schema(strict=True),  # a date instance, not a datetime
        core_schema.chain_schema(  # a date-only string, as _is_date_only reads it
            [
                core_schema.str_schema(strict=True, pattern=f"^{_DATE_ONLY.pattern}$"),
                core_schema.date_schema(),
            ]
        ),
        *TIMESTAMP_CORE,
    ),
]
"""A trial date: a ``date`` (``2026-11-01``) or an aware ``datetime``; ISO-8601 on the wire.

A date-only string is read as a ``date``, anything with a time as a ``datetime``.
"""


class B2BEvent(TrackMessage):
    """Base of the ten spec events: the account in ``context.groupId`` is required."""

    context: B2BContext = Field(default_factory=dict, validate_default=True)

    @property
    def group_id(self) -> str:
        """The account this event belongs to (``context.groupId``)."""
        return self.context.group_id


# -- properties ---------------------------------------------------------------

_ACCOUNT_KEYS = ("groupId", "group_id")


class _B2BProperties(Properties):
    """Base of the ten events' properties: the account never goes in ``properties``."""

    model_config = ConfigDict(
        json_schema_extra={"not": {"anyOf": [{"required": [key]} for key in _ACCOUNT_KEYS]}}
    )

    @model_validator(mode="after")
    def _account_not_in_properties(self) -> Self:
        extra = self.__pydantic_extra__
        if extra:
            for key in _ACCOUNT_KEYS:
                if key in extra:
                    raise rule_error(
                        key, "the account goes in context.groupId (group_id=), not in properties"
                    )
        return self


class AccountCreatedProperties(_B2BProperties):
    """``Account Created``: ``account_name`` is required here."""

    account_name: NonBlank


class AccountDeletedProperties(_B2BProperties):
    """``Account Deleted``."""

    account_name: str | None = None


class SignedUpProperties(_B2BProperties):
    """``Signed Up``: ``type`` is how they came (``invited``, ``organic``)."""

    type: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: Email | None = None
    phone: str | None = None
    username: str | None = None
    title: str | None = None


class SignedInProperties(_B2BProperties):
    """``Signed In``."""

    username: str | None = None


class SignedOutProperties(_B2BProperties):
    """``Signed Out``."""

    username: str | None = None


class InviteSentProperties(_B2BProperties):
    """``Invite Sent``: ``invitee_email`` is required here."""

    invitee_email: Email
    invitee_first_name: str | None = None
    invitee_last_name: str | None = None
    invitee_role: str | None = None


class AccountAddedUserProperties(_B2BProperties):
    """``Account Added User``."""

    role: str | None = None


class AccountRemovedUserProperties(_B2BProperties):
    """``Account Removed User``: no semantic properties (``{}`` on the wire)."""


def _as_utc_date(value: date) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date()
    return value


class TrialProperties(_B2BProperties):
    """``Trial Started`` / ``Trial Ended``: all three required; the end is not before the start."""

    trial_start_date: TrialDate
    trial_end_date: TrialDate
    trial_plan_name: NonBlank

    @model_validator(mode="after")
    def _end_not_before_start(self) -> Self:
        start, end = self.trial_start_date, self.trial_end_date
        if isinstance(start, datetime) and isinstance(end, datetime):
            before = end < start
        else:  # a date on either side: compare calendar days (UTC)
            before = _as_utc_date(end) < _as_utc_date(start)
        if before:
            raise rule_error(
                "trial_end_date", f"must not be before trial_start_date ({start.isoformat()})"
            )
        return self


class TrialStartedProperties(TrialProperties):
    """``Trial Started``."""


class TrialEndedProperties(TrialProperties):
    """``Trial Ended``."""


# -- events -------------------------------------------------------------------
# `properties` defaults to {} and is validated, so a payload without it reports
# the missing required properties by name rather than "properties: required".


class AccountCreated(B2BEvent):
    """``Account Created``: a new account (workspace, organisation) was created."""

    event: Literal["Account Created"] = "Account Created"
    properties: AccountCreatedProperties = Field(default_factory=dict, validate_default=True)


class AccountDeleted(B2BEvent):
    """``Account Deleted``: an account was deleted."""

    event: Literal["Account Deleted"] = "Account Deleted"
    properties: AccountDeletedProperties = Field(default_factory=AccountDeletedProperties)


class SignedUp(B2BEvent):
    """``Signed Up``: a user signed up (organically or from an invite)."""

    event: Literal["Signed Up"] = "Signed Up"
    properties: SignedUpProperties = Field(default_factory=SignedUpProperties)


class SignedIn(B2BEvent):
    """``Signed In``: a user signed in."""

    event: Literal["Signed In"] = "Signed In"
    properties: SignedInProperties = Field(default_factory=SignedInProperties)


class SignedOut(B2BEvent):
    """``Signed Out``: a user signed out."""

    event: Literal["Signed Out"] = "Signed Out"
    properties: SignedOutProperties = Field(default_factory=SignedOutProperties)


class InviteSent(B2BEvent):
    """``Invite Sent``: a user invited someone to the account."""

    event: Literal["Invite Sent"] = "Invite Sent"
    properties: InviteSentProperties = Field(default_factory=dict, validate_default=True)


class AccountAddedUser(B2BEvent):
    """``Account Added User``: a user was added to the account."""

    event: Literal["Account Added User"] = "Account Added User"
    properties: AccountAddedUserProperties = Field(default_factory=AccountAddedUserProperties)


class AccountRemovedUser(B2BEvent):
    """``Account Removed User``: a user was removed from the account."""

    event: Literal["Account Removed User"] = "Account Removed User"
    properties: AccountRemovedUserProperties = Field(default_factory=AccountRemovedUserProperties)


class TrialStarted(B2BEvent):
    """``Trial Started``: the account started a trial."""

    event: Literal["Trial Started"] = "Trial Started"
    properties: TrialStartedProperties = Field(default_factory=dict, validate_default=True)


class TrialEnded(B2BEvent):
    """``Trial Ended``: the account's trial ended."""

    event: Literal["Trial Ended"] = "Trial Ended"
    properties: TrialEndedProperties = Field(default_factory=dict, validate_default=True)


SPEC_EVENTS: dict[str, type[B2BEvent]] = {
    cls.model_fields["event"].default: cls
    for cls in (
        AccountCreated,
        AccountDeleted,
        SignedUp,
        SignedIn,
        SignedOut,
        InviteSent,
        AccountAddedUser,
        AccountRemovedUser,
        TrialStarted,
        TrialEnded,
    )
}
"""The ten spec event names, in the spec's order, mapped to their message classes."""
