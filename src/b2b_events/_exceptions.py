"""Every error b2b-events raises, under one base class.

The tree is shallow on purpose::

    B2BEventsError
     ├── InvalidEventError (also a ValueError)    input that breaks the spec
     │    └── MessageTooLargeError                 over Segment's 32 KB per message
     ├── ConfigurationError (also a ValueError)   a client option that cannot work
     └── TrackingPlanError (also a ValueError)    a tracking plan that cannot be read

Only synchronous calls raise (building an event, ``validate``, constructing a
client, the CLI). The background delivery path never raises into your code: it
logs, counts and calls your ``on_drop`` hook instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "B2BEventsError",
    "ConfigurationError",
    "InvalidEventError",
    "MessageTooLargeError",
    "Problem",
    "TrackingPlanError",
]


class B2BEventsError(Exception):
    """Base class of every exception raised by b2b-events."""


@dataclass(frozen=True)
class Problem:
    """One reason a message is invalid.

    Attributes:
        path: Where, in wire terms: ``context.groupId``, ``properties.email``.
        reason: What is wrong, in words: ``required``, ``must be a string``.
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class InvalidEventError(B2BEventsError, ValueError):
    """A message breaks the B2B SaaS spec or the Segment envelope rules.

    The message names the event and lists every problem as ``path: reason``::

        Signed Up: context.groupId: required; properties.email: must be an email address

    Attributes:
        event: The event name (``Signed Up``), or the message type
            (``identify``) for non-track messages, or ``message`` when unknown.
        problems: Every problem found, in a stable order.
    """

    def __init__(self, event: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.event = event
        self.problems = tuple(problems)
        super().__init__(f"{event}: " + "; ".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[InvalidEventError], tuple[str, tuple[Problem, ...]]]:
        return (type(self), (self.event, self.problems))


class MessageTooLargeError(InvalidEventError):
    """A single message is larger than Segment accepts (32 KB serialized)."""

    def __init__(self, event: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            event, [Problem("", f"message is {size:,} bytes serialized, over the {limit:,} limit")]
        )

    def __reduce__(self) -> tuple[type[InvalidEventError], tuple[str, int, int]]:  # type: ignore[override]
        return (type(self), (self.event, self.size, self.limit))


class ConfigurationError(B2BEventsError, ValueError):
    """A client option is missing or cannot work (no write key, bad endpoint, ...)."""


class TrackingPlanError(B2BEventsError, ValueError):
    """A tracking plan cannot be read or built.

    A malformed Segment document, a missing optional dependency (``jsonschema``),
    two different events of the same name, or a ``--plan`` that names nothing.
    """
