"""Segment's six calls: track (any event), identify, group, page, screen and alias.

The ten B2B SaaS events in ``_b2b.py`` are ``track`` calls with a fixed ``event``
name, a required ``context.groupId`` and typed properties. ``Track`` here is any
other track event: envelope checks only. Only those ten require ``context.groupId``.
Spec: https://segment.com/docs/connections/spec/page/ , ``.../screen/``, ``.../alias/``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._common import Context, JsonValue, Message, NonBlank, Properties

__all__ = ["CALLS", "Alias", "Group", "Identify", "Page", "Screen", "Track", "TrackMessage"]


class TrackMessage(Message):
    """Base of every ``track`` message: an ``event`` name and its ``properties``."""

    type: Literal["track"] = "track"
    event: NonBlank
    properties: Properties = Field(default_factory=Properties)

    @property
    def name(self) -> str:
        """The event name (``Signed Up``)."""
        return self.event


class Track(TrackMessage):
    """A track event outside the B2B SaaS spec (``Report Exported``): envelope checks only."""


class Identify(Message):
    """``identify``: who the user is (``traits`` such as ``email``, ``name``).

    ``context.groupId`` is optional here; pass it to tie the user to an account.
    """

    type: Literal["identify"] = "identify"
    traits: dict[str, JsonValue] = Field(default_factory=dict)


class Group(Message):
    """``group``: the account a user belongs to (``groupId``) and the account's ``traits``.

    Reserved traits include ``name``, ``plan``, ``industry``, ``employees``,
    ``website`` and ``createdAt``.
    """

    type: Literal["group"] = "group"
    group_id: NonBlank
    traits: dict[str, JsonValue] = Field(default_factory=dict)
    context: Context = Field(default_factory=Context)


class Page(Message):
    """``page``: a web page viewed; optional ``name`` and ``category``, and ``properties``.

    Page's reserved properties are ``url``, ``path``, ``referrer``, ``title`` and
    ``search``. In Python the page's name is ``page_name`` (``name`` is the
    message type here, as on every message); on the wire it is ``name``.
    """

    type: Literal["page"] = "page"
    page_name: str | None = Field(default=None, alias="name")
    category: str | None = None
    properties: dict[str, JsonValue] = Field(default_factory=dict)


class Screen(Message):
    """``screen``: a mobile app screen viewed; as on ``page``, ``name`` is ``screen_name`` here."""

    type: Literal["screen"] = "screen"
    screen_name: str | None = Field(default=None, alias="name")
    category: str | None = None
    properties: dict[str, JsonValue] = Field(default_factory=dict)


class Alias(Message):
    """``alias``: ``previousId`` (the old id, often an anonymous one) is now ``userId``."""

    type: Literal["alias"] = "alias"
    user_id: NonBlank
    previous_id: NonBlank


CALLS: dict[str, type[Message]] = {
    "track": Track,
    "identify": Identify,
    "group": Group,
    "page": Page,
    "screen": Screen,
    "alias": Alias,
}
"""The model of each message type (a track event outside the spec for ``track``)."""
