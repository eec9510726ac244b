"""The three Segment calls b2b-events sends: track (any event), identify and group.

The ten B2B SaaS events in ``_b2b.py`` are ``track`` calls with a fixed ``event``
name, a required ``context.groupId`` and typed properties. ``Track`` here is any
other track event: envelope checks only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._common import Context, JsonValue, Message, NonBlank, Properties

__all__ = ["Group", "Identify", "Track", "TrackMessage"]


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
