"""Matching captured wire dicts, and the failure text: closest message, as a diff.

Pure functions over messages as they are on the wire (camelCase dicts), shared by
``Capture``'s helpers. A ``Query`` is what a helper was asked for; when nothing
matches, the captured message that came closest is shown next to what it would
have had to be, as a unified diff of pretty JSON.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..events._common import MESSAGE_TYPES, iso_timestamp

__all__ = ["Query", "compact", "group_of", "jsonable", "listing", "name_of", "summary"]

_NAMED_TYPES = ("page", "screen")  # types whose ``name`` field a query's name can be
_SHOWN = 20  # messages named in a summary before "and N more"
_COMPACT_LIMIT = 500  # characters of one message shown on one line


def jsonable(value: Any) -> Any:
    """Return ``value`` as it would be on the wire: dates as ISO-8601, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return iso_timestamp(value) if value.utcoffset() is not None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def name_of(message: Mapping[str, Any]) -> str | None:
    """The event name of a track message, else its type (``identify``, ``page``, ...)."""
    kind = message.get("type")
    if kind == "track":
        event = message.get("event")
        return event if isinstance(event, str) else None
    return kind if isinstance(kind, str) else None


def group_of(message: Mapping[str, Any]) -> Any:
    """The account of a message: ``groupId`` of a group call, else ``context.groupId``."""
    if message.get("type") == "group":
        return message.get("groupId")
    context = message.get("context")
    return context.get("groupId") if isinstance(context, Mapping) else None


def _contains(expected: Any, actual: Any) -> bool:
    """Subset match: every key of an expected dict is in ``actual`` and matches, recursively.

    Anything else (a list, a scalar) must be equal as JSON (``_json_equal``).
    """
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _contains(value, actual[key]) for key, value in expected.items()
        )
    return _json_equal(expected, actual)


def _json_equal(expected: Any, actual: Any) -> bool:
    """``expected == actual``, except that a bool never equals a number, at any depth.

    ``True == 1`` and ``[True] == [1]`` in Python; in JSON ``true`` is not ``1``.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, Mapping):
        return (
            isinstance(actual, Mapping)
            and expected.keys() == actual.keys()
            and all(_json_equal(value, actual[key]) for key, value in expected.items())
        )
    if isinstance(expected, list):  # ``jsonable`` made the query's tuples lists
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_json_equal(a, b) for a, b in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def _matched_leaves(expected: Any, actual: Any) -> int:
    """How many leaves of ``expected`` ``actual`` matches: the closeness score of a subset."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return 0
        return sum(
            _matched_leaves(value, actual[key]) for key, value in expected.items() if key in actual
        )
    return 1 if _contains(expected, actual) else 0


def _merge(into: dict[str, Any], expected: Mapping[str, Any]) -> None:
    """Overlay ``expected`` onto ``into``, recursing into dicts: what a match would look like."""
    for key, value in expected.items():
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value)
        else:
            into[key] = copy.deepcopy(value)


def compact(message: Mapping[str, Any]) -> str:
    """One message on one line (cut at 500 characters)."""
    text = json.dumps(message, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= _COMPACT_LIMIT else text[: _COMPACT_LIMIT - 3] + "..."


def _pretty(message: Mapping[str, Any]) -> list[str]:
    return json.dumps(message, indent=2, sort_keys=True, default=str).splitlines()


def summary(messages: Sequence[Mapping[str, Any]]) -> str:
    """``Captured 3 messages: Account Created, Signed Up, identify.`` (or ``Nothing ...``)."""
    if not messages:
        return "Nothing was captured."
    names = [str(name_of(message)) for message in messages]
    shown = ", ".join(names[:_SHOWN])
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    plural = "" if len(names) == 1 else "s"
    return f"Captured {len(names)} message{plural}: {shown}{more}."


def listing(messages: Sequence[Mapping[str, Any]]) -> str:
    """The messages, one compact line each, indented."""
    return "\n".join(f"  {compact(message)}" for message in messages)


@dataclass
class Query:
    """What a helper looks for; ``None`` means any value.

    ``properties``, ``context`` and ``traits`` match as subsets (recursively for
    nested objects); they are normalized to wire values first, so a ``date`` in
    a query matches its ISO-8601 string in a message.
    """

    name: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    properties: Mapping[str, Any] | None = None
    context: Mapping[str, Any] | None = None
    traits: Mapping[str, Any] | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        for field in ("properties", "context", "traits"):
            value = getattr(self, field)
            if value is not None:
                setattr(self, field, jsonable(value))

    def _ids(self) -> list[tuple[str | None, str]]:
        """(wanted value, where to find it) for the scalar criteria."""
        return [
            (self.name, "name"),
            (self.user_id, "userId"),
            (self.anonymous_id, "anonymousId"),
            (self.group_id, "groupId"),
            (self.type, "type"),
        ]

    def _names_a_view(self) -> bool:
        """Whether ``name`` is the ``name`` field of a page or screen (``type`` says so)."""
        return self.type in _NAMED_TYPES

    def _actual(self, message: Mapping[str, Any], label: str) -> Any:
        if label == "name":
            return message.get("name") if self._names_a_view() else name_of(message)
        if label == "groupId":
            return group_of(message)
        return message.get(label)

    def _subsets(self) -> list[tuple[Mapping[str, Any], str]]:
        given = [
            (self.properties, "properties"),
            (self.context, "context"),
            (self.traits, "traits"),
        ]
        return [(expected, key) for expected, key in given if expected is not None]

    def matches(self, message: Mapping[str, Any]) -> bool:
        """True if ``message`` meets every criterion."""
        for wanted, label in self._ids():
            if wanted is not None and self._actual(message, label) != wanted:
                return False
        return all(_contains(expected, message.get(key)) for expected, key in self._subsets())

    def score(self, message: Mapping[str, Any]) -> int:
        """Closeness of a non-matching message: the event name weighs most, then each leaf."""
        points = 0
        for wanted, label in self._ids():
            if wanted is not None and self._actual(message, label) == wanted:
                points += 1000 if label == "name" else 1
        for expected, key in self._subsets():
            points += _matched_leaves(expected, message.get(key))
        return points

    def closest(self, messages: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The message that meets the most criteria (the first one on a tie)."""
        best: Mapping[str, Any] | None = None
        best_score = -1
        for message in messages:
            points = self.score(message)
            if points > best_score:
                best, best_score = message, points
        return best

    def expected_view(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """``message`` changed just enough to match: the right-hand side of the diff."""
        view: dict[str, Any] = copy.deepcopy(dict(message))
        if self.type is not None:
            view["type"] = self.type
        if self.name is not None and self._actual(view, "name") != self.name:
            if self._names_a_view():
                view["name"] = self.name
            elif self.name in MESSAGE_TYPES:
                view["type"] = self.name
            else:
                view["type"], view["event"] = "track", self.name
        if self.user_id is not None:
            view["userId"] = self.user_id
        if self.anonymous_id is not None:
            view["anonymousId"] = self.anonymous_id
        if self.group_id is not None:
            if view.get("type") == "group":
                view["groupId"] = self.group_id
            else:
                _merge(view, {"context": {"groupId": self.group_id}})
        for expected, key in self._subsets():
            if not isinstance(view.get(key), dict):
                view[key] = {}
            _merge(view[key], expected)
        return view

    def diff(self, message: Mapping[str, Any]) -> str:
        """A unified diff, whole message in view: ``-`` as captured, ``+`` as expected."""
        before = _pretty(message)
        after = _pretty(self.expected_view(message))
        lines = difflib.unified_diff(before, after, lineterm="", n=max(len(before), len(after)))
        body = [line for line in lines if not line.startswith(("---", "+++", "@@"))]
        return "\n".join(f"  {line}" for line in body)

    def describe(self) -> str:
        """``Signed Up with user_id='u_1', properties including {'email': 'a@b.co'}``."""
        parts = [
            f"{label}={value!r}"
            for label, value in (
                ("user_id", self.user_id),
                ("anonymous_id", self.anonymous_id),
                ("group_id", self.group_id),
                ("type", self.type),
            )
            if value is not None
        ]
        parts += [f"{key} including {dict(expected)!r}" for expected, key in self._subsets()]
        subject = repr(self.name) if self.name is not None else "a message"
        return subject + (" with " + ", ".join(parts) if parts else "")
