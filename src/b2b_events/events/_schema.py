"""JSON Schema (draft-07) for every spec event, and the ten together as a tracking plan.

Generated from the same pydantic models that validate, so the schema and the
code cannot drift. What the models' own JSON Schema leaves out is added here:
fields that have a default in Python but not on the wire are required (see
``_required_on_wire``), and the whole-message schema says "userId or
anonymousId" with an ``anyOf`` of non-null strings. One rule stays beyond
these schemas and is checked by ``validate()`` only: ``trial_end_date`` not
before ``trial_start_date``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .._exceptions import InvalidEventError, Problem
from ._b2b import SPEC_EVENTS, B2BEvent
from ._calls import CALLS, TrackMessage
from ._common import Message

__all__ = ["json_schema", "properties_schema", "tracking_plan"]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def _event_class(event: str) -> type[B2BEvent]:
    try:
        return SPEC_EVENTS[event]
    except KeyError:
        known = ", ".join(SPEC_EVENTS)
        raise InvalidEventError(
            event, [Problem("event", f"not a B2B SaaS spec event; one of: {known}")]
        ) from None


def _message_class(name: str) -> type[Message]:
    if name in CALLS:
        return CALLS[name]
    try:
        return _event_class(name)
    except InvalidEventError:
        known = ", ".join([*SPEC_EVENTS, *CALLS])
        raise InvalidEventError(
            name,
            [Problem("event", f"not a B2B SaaS spec event nor a message type; one of: {known}")],
        ) from None


def _draft07(model: type[BaseModel]) -> dict[str, Any]:
    """Pydantic writes 2020-12 (``$defs``); Segment Protocols reads draft-07 (``definitions``)."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return {"$schema": DRAFT_07, **schema}


_TAGS = ("type", "event")
_IDENTITY = ("userId", "anonymousId")


def _required_on_wire(cls: type[Message]) -> list[str]:
    """The wire names of the fields a message of ``cls`` must have, default or not.

    A default never fills ``type`` or ``event``: ``validate()`` picks the model
    by them. A field whose default is validated and refused (``context``
    without ``groupId``; the ``properties`` of an event with required
    properties) is required too: pydantic lists neither, as both have defaults.
    """
    required = list(_TAGS if issubclass(cls, TrackMessage) else _TAGS[:1])
    for field in cls.model_fields.values():
        name, annotation = field.alias, field.annotation
        if name is None or annotation is None or not field.validate_default:
            continue
        try:
            TypeAdapter(annotation).validate_python(field.get_default(call_default_factory=True))
        except ValidationError:
            required.append(name)
    return required


def properties_schema(event: str) -> dict[str, Any]:
    """Return the draft-07 JSON Schema of one spec event's ``properties`` object.

    Args:
        event: A spec event name, e.g. ``"Signed Up"``.

    Raises:
        InvalidEventError: ``event`` is not one of the ten.
    """
    cls = _event_class(event)
    return _draft07(cls.model_fields["properties"].annotation)  # type: ignore[arg-type]


def json_schema(event: str) -> dict[str, Any]:
    """Return the draft-07 JSON Schema of a whole wire message for one spec event or type.

    Args:
        event: A spec event name, e.g. ``"Trial Started"``, or a message type:
            ``"page"``, ``"screen"``, ``"alias"``, ``"identify"``, ``"group"``,
            or ``"track"`` (any other track event: the envelope only).

    Raises:
        InvalidEventError: ``event`` is neither.
    """
    cls = _message_class(event)
    schema = _draft07(cls)
    given = schema.get("required", [])
    schema["required"] = given + [name for name in _required_on_wire(cls) if name not in given]
    # validate() reads a null id as absent: only a string satisfies the rule.
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}} for name in _IDENTITY
    ]
    return schema


def tracking_plan(name: str = "B2B SaaS") -> dict[str, Any]:
    """Return the ten spec events as a tracking plan, one JSON Schema rule per event.

    The shape follows Segment's Config API tracking plans (``rules.events[]`` with
    ``name``, ``description``, ``version`` and a draft-07 ``rules`` schema over
    ``properties`` and ``context``), so it can be loaded into Protocols or used
    by any JSON Schema validator, e.g. in a warehouse test.

    Args:
        name: The plan's display name.
    """
    events = []
    for event, cls in SPEC_EVENTS.items():
        wire_required = _required_on_wire(cls)
        parts = {
            "properties": properties_schema(event),
            "context": _draft07(cls.model_fields["context"].annotation),  # type: ignore[arg-type]
        }
        definitions: dict[str, Any] = {}
        for part in parts.values():  # refs point at the root: hoist the definitions there
            del part["$schema"]
            definitions.update(part.pop("definitions", {}))
        rules: dict[str, Any] = {
            "$schema": DRAFT_07,
            "type": "object",
            "properties": parts,
            "required": [name for name in parts if name in wire_required],
        }
        if definitions:
            rules["definitions"] = definitions
        events.append(
            {
                "name": event,
                "description": (cls.__doc__ or "").strip(),
                "version": 1,
                "rules": rules,
            }
        )
    return {"display_name": name, "rules": {"events": events}}
