"""The B2B SaaS spec as typed messages: models, ``validate()`` and JSON Schema.

Most code builds messages with [`b2b_events.Tracker`][b2b_events.Tracker] (or ``client.track``);
this package is for reading them: ``validate()`` a wire dict from a log, a test
or another service, and export the rules as JSON Schema or a tracking plan.
"""

from __future__ import annotations

from .._public import publish as _publish
from ._b2b import (
    SPEC_EVENTS,
    AccountAddedUser,
    AccountAddedUserProperties,
    AccountCreated,
    AccountCreatedProperties,
    AccountDeleted,
    AccountDeletedProperties,
    AccountRemovedUser,
    AccountRemovedUserProperties,
    B2BEvent,
    InviteSent,
    InviteSentProperties,
    SignedIn,
    SignedInProperties,
    SignedOut,
    SignedOutProperties,
    SignedUp,
    SignedUpProperties,
    TrialEnded,
    TrialEndedProperties,
    TrialProperties,
    TrialStarted,
    TrialStartedProperties,
)
from ._calls import Alias, Group, Identify, Page, Screen, Track, TrackMessage
from ._common import B2BContext, Context, Library, Message, Properties
from ._custom import Date, DateTime, Event
from ._schema import json_schema, properties_schema, tracking_plan
from ._validate import AnyMessage, validate

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
    "Alias",
    "AnyMessage",
    "B2BContext",
    "B2BEvent",
    "Context",
    "Date",
    "DateTime",
    "Event",
    "Group",
    "Identify",
    "InviteSent",
    "InviteSentProperties",
    "Library",
    "Message",
    "Page",
    "Properties",
    "Screen",
    "SignedIn",
    "SignedInProperties",
    "SignedOut",
    "SignedOutProperties",
    "SignedUp",
    "SignedUpProperties",
    "Track",
    "TrackMessage",
    "TrialEnded",
    "TrialEndedProperties",
    "TrialProperties",
    "TrialStarted",
    "TrialStartedProperties",
    "json_schema",
    "properties_schema",
    "tracking_plan",
    "validate",
]

_publish(globals())
