"""``TrackingPlan``: the events a team tracks, checked by ``validate``, moved in and out of Segment.

A plan holds message models (the ten spec events, your ``Event`` subclasses)
and rules read from a Segment document (JSON Schemas). ``validate(payload,
plan=plan)`` checks a message against it; ``to_segment()`` and
``from_segment()`` write and read Segment's two tracking-plan shapes
(``events._segment``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._exceptions import InvalidEventError, Problem, TrackingPlanError
from .events import SPEC_EVENTS, Message, TrackMessage
from .events._custom import Event
from .events._errors import invalid_event_error
from .events._segment import NAMED_BY_KEY, SchemaRule, legacy_name, load_rules, track_rule
from .events._validate import VALIDATORS, validate

__all__ = ["TrackingPlan"]

_Entry = type[TrackMessage] | SchemaRule
_APPLIES = {"identify": "IDENTIFY", "group": "GROUP", "page": "PAGE", "screen": "SCREEN"}


def _message_class(event: type[Event] | type[TrackMessage]) -> type[TrackMessage]:
    if isinstance(event, type) and issubclass(event, Event):
        return event.message_class()
    if isinstance(event, type) and issubclass(event, TrackMessage) and event in VALIDATORS:
        return event
    raise TypeError(f"not an event class (a b2b_events.Event subclass): {event!r}")


class TrackingPlan:
    """A tracking plan: which track events exist and what their messages must look like.

    Build one from the ten spec events and yours, or read one from Segment::

        plan = TrackingPlan.b2b_saas().with_events(ReportExported, SeatLimitReached)
        plan = TrackingPlan.from_segment(json.load(open("plan.json")))

    then check messages with ``plan.validate(payload)`` (or
    ``b2b_events.validate(payload, plan=plan)``) and export it with
    ``plan.to_segment()``. Plans are immutable: ``with_events`` returns a new one.

    Attributes:
        name: The plan's display name.
    """

    __slots__ = ("_events", "_rules", "name")

    def __init__(
        self,
        *,
        name: str = "Tracking plan",
        events: Iterable[type[Event] | type[TrackMessage]] = (),
    ) -> None:
        """Create a plan named ``name`` holding ``events`` (``Event`` subclasses or spec events).

        Raises:
            TrackingPlanError: Two different events share a name.
        """
        self.name = name
        self._events: dict[str, _Entry] = {}
        # The other rules read from Segment, by kind and key (the page or screen name, or None).
        self._rules: dict[tuple[str, str | None], SchemaRule] = {}
        self._add(_message_class(event) for event in events)

    def _add(self, entries: Iterable[_Entry]) -> None:
        for entry in entries:
            name = str(
                entry.key if isinstance(entry, SchemaRule) else entry.model_fields["event"].default
            )
            held = self._events.get(name)
            if held is not None and held is not entry:
                raise TrackingPlanError(f"the plan {self.name!r} already has an event {name!r}")
            self._events[name] = entry

    def _copy(self) -> TrackingPlan:
        plan = TrackingPlan(name=self.name)
        plan._events = dict(self._events)
        plan._rules = dict(self._rules)
        return plan

    @classmethod
    def b2b_saas(cls, *, name: str = "B2B SaaS") -> TrackingPlan:
        """The ten events of Segment's B2B SaaS spec, with their rules."""
        return cls(name=name, events=SPEC_EVENTS.values())

    def with_events(self, *events: type[Event] | type[TrackMessage]) -> TrackingPlan:
        """A new plan with these events added, e.g. ``plan.with_events(ReportExported)``.

        Raises:
            TrackingPlanError: The plan already has a different event of the same name.
        """
        plan = self._copy()
        plan._add(_message_class(event) for event in events)
        return plan

    @property
    def events(self) -> tuple[str, ...]:
        """The names of the plan's track events, in the order they were added."""
        return tuple(self._events)

    def __contains__(self, event: object) -> bool:
        return event in self._events

    def __repr__(self) -> str:
        return f"TrackingPlan(name={self.name!r}, events={list(self._events)!r})"

    # -- checking -----------------------------------------------------------

    def validate(self, payload: Mapping[str, Any], *, strict: bool = False) -> Message:
        """Validate one wire-format message against the plan and return it typed.

        An event of the plan gets its rules: its model (``ReportExported``'s
        message), or the JSON Schema read from Segment, on top of the envelope
        checks. Other messages are checked as ``b2b_events.validate`` checks
        them; with ``strict``, a track event outside the plan is refused.

        Raises:
            InvalidEventError: Naming the event and listing every problem.
        """
        if not isinstance(payload, Mapping):
            return validate(payload)  # raises: not an object
        kind, event = payload.get("type"), payload.get("event")
        entry = self._events.get(event) if kind == "track" and isinstance(event, str) else None
        message: Message
        if isinstance(entry, type):
            try:
                message = VALIDATORS[entry](payload)
            except ValidationError as exc:
                raise invalid_event_error(str(event), exc, payload) from None
        else:
            before = []
            if strict and kind == "track" and entry is None:
                before.append(Problem("event", f"{event!r} is not in the plan {self.name!r}"))
            try:
                message = validate(payload)
            except InvalidEventError as exc:
                raise InvalidEventError(exc.event, [*before, *exc.problems]) from None
            if before:
                raise InvalidEventError(message.name, before)
            if entry is not None:
                entry.check(payload, message.name)
        for rule in self._applying(kind, payload.get("name")):
            rule.check(payload, message.name)
        return message

    def _applying(self, kind: Any, name: Any) -> Iterable[SchemaRule]:
        if not self._rules:
            return ()
        kinds = ("COMMON", _APPLIES.get(kind, ""))
        return [
            rule
            for (rule_kind, key), rule in self._rules.items()
            if rule_kind in kinds and (key is None or key == name)
        ]

    # -- Segment documents ----------------------------------------------------

    def json_schema(self, event: str) -> dict[str, Any]:
        """The draft-07 JSON Schema of ``event``'s TRACK rule (``properties``, ``context``).

        Raises:
            TrackingPlanError: ``event`` is not in the plan.
        """
        entry = self._events.get(event)
        if entry is None:
            raise TrackingPlanError(f"{event!r} is not in the plan {self.name!r}")
        return entry.schema if isinstance(entry, SchemaRule) else track_rule(entry)

    def to_segment(self, *, legacy: bool = False) -> dict[str, Any]:
        """The plan as a Segment tracking-plan document.

        Args:
            legacy: Write the legacy Config API's shape (``display_name`` and
                ``rules.events``, read by Typewriter 7) instead of the Public
                API's (``rules`` with ``type``/``key``/``version``/``jsonSchema``,
                read by Typewriter 9 and Protocols). The legacy shape has no
                PAGE or SCREEN rules: those read from Segment are left out.

        Example:
            >>> TrackingPlan.b2b_saas().to_segment()["rules"][0]["key"]
            'Account Created'
        """
        events = [
            (name, entry.version if isinstance(entry, SchemaRule) else 1, self.json_schema(name))
            for name, entry in self._events.items()
        ]
        if legacy:
            rules: dict[str, Any] = {
                part: self._rules[kind, None].schema
                for part, kind in (
                    ("global", "COMMON"),
                    ("identify", "IDENTIFY"),
                    ("group", "GROUP"),
                )
                if (kind, None) in self._rules
            }
            rules["events"] = [
                {
                    "name": name,
                    "description": schema.get("description", ""),
                    "version": version,
                    "rules": schema,
                }
                for name, version, schema in events
            ]
            return {"name": legacy_name(self.name), "display_name": self.name, "rules": rules}
        others = [
            {"type": kind, **({} if key is None else {"key": key})}
            | {"version": rule.version, "jsonSchema": rule.schema}
            for (kind, key), rule in self._rules.items()
        ]
        tracks = [
            {"type": "TRACK", "key": name, "version": version, "jsonSchema": schema}
            for name, version, schema in events
        ]
        return {"name": self.name, "rules": [*others, *tracks]}

    @classmethod
    def from_segment(cls, document: Mapping[str, Any]) -> TrackingPlan:
        """Read a Segment tracking plan, in the Public API's shape or the legacy Config API's.

        Its rules are checked with their JSON Schemas (draft-07), which needs
        the ``plans`` extra (``pip install 'b2b-events[plans]'``: jsonschema, and
        rfc3339-validator so that ``format: date-time`` is checked).

        Raises:
            TrackingPlanError: Not a tracking plan, a rule that is not a JSON
                Schema, or jsonschema is not installed.
        """
        name, rules = load_rules(document)
        plan = cls(name=name)
        plan._add(rule for rule in rules if rule.kind == "TRACK")
        plan._rules = {
            (rule.kind, rule.key if rule.kind in NAMED_BY_KEY else None): rule
            for rule in rules
            if rule.kind != "TRACK"
        }
        return plan

    @classmethod
    def load(cls, reference: str) -> TrackingPlan:
        """The plan ``reference`` names: ``module:attribute`` (a ``TrackingPlan``) or a JSON file.

        What ``--plan`` takes on the command line and the pytest plugin's
        ``b2b_events_plan`` ini option.

        Raises:
            TrackingPlanError: Nothing there, or not a plan.
        """
        if reference.endswith(".json") or Path(reference).is_file():
            try:
                document = json.loads(Path(reference).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise TrackingPlanError(f"cannot read the plan {reference}: {exc}") from None
            return cls.from_segment(document)
        module_name, _, attribute = reference.partition(":")
        if not module_name or not attribute:
            raise TrackingPlanError(
                f"--plan {reference}: expected module:attribute or a .json file"
            )
        try:
            found: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError) as exc:
            raise TrackingPlanError(f"cannot load the plan {reference}: {exc}") from None
        if not isinstance(found, TrackingPlan):
            raise TrackingPlanError(f"{reference} is a {type(found).__name__}, not a TrackingPlan")
        return found
