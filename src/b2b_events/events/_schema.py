"""JSON Schema (draft-07) for every spec event, and the ten together as a tracking plan.

Generated from the same pydantic models that validate, so the schema and the
code cannot drift. What the models' own JSON Schema leaves out is added here:
fields that have a default in Python but not on the wire are required (see
``required_on_wire``), and the whole-message schema says "userId or
anonymousId" with an ``anyOf`` of non-null strings. One rule stays beyond
these schemas and is checked by ``validate()`` only: ``trial_end_date`` not
before ``trial_start_date``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .._exceptions import InvalidEventError, Problem
from ._b2b import SPEC_EVENTS, B2BEvent
from ._calls import CALLS, TrackMessage
from ._common import Message

__all__ = [
    "DRAFT_07",
    "draft07",
    "json_schema",
    "plain_text",
    "properties_schema",
    "required_on_wire",
    "title",
    "tracking_plan",
]

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


def draft07(model: type[BaseModel]) -> dict[str, Any]:
    """Pydantic writes 2020-12 (``$defs``); Segment Protocols reads draft-07 (``definitions``).

    Titles of properties are made from their names (``userId`` is ``User ID``,
    not pydantic's ``Userid``) and descriptions are plain text (no reST).
    """
    schema = model.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    _tidy(schema)
    return {"$schema": DRAFT_07, **schema}


_ROLE = re.compile(r":[a-z]+(?::[a-z]+)*:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_INTERPRETED = re.compile(r"`([^`]+)`_{0,2}")


def plain_text(text: str) -> str:
    """``text`` without reST markup (roles, literals), whitespace folded to single spaces."""
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    return " ".join(text.split())


_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def title(name: str) -> str:
    """A property name as a title: ``userId`` and ``user_id`` are both ``User ID``."""
    words = _WORD.findall(name) or [name]
    return " ".join("ID" if word.lower() == "id" else word[:1].upper() + word[1:] for word in words)


def _tidy(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _tidy(item)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("description"), str):
        node["description"] = plain_text(node["description"])
    props = node.get("properties")
    if node.get("type") == "object" and isinstance(props, dict):
        for name, sub in props.items():
            if isinstance(sub, dict) and "title" in sub:
                sub["title"] = title(name)
    for key, value in node.items():
        if key in ("properties", "definitions") and isinstance(value, dict):
            for sub in value.values():
                _tidy(sub)
        elif key not in ("enum", "const", "default", "examples", "required"):
            _tidy(value)


_TAGS = ("type", "event")
_IDENTITY = ("userId", "anonymousId")


def required_on_wire(cls: type[Message]) -> list[str]:
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
    return draft07(cls.model_fields["properties"].annotation)  # type: ignore[arg-type]


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
    schema = draft07(cls)
    given = schema.get("required", [])
    schema["required"] = given + [name for name in required_on_wire(cls) if name not in given]
    # validate() reads a null id as absent: only a string satisfies the rule.
    schema["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "string"}}} for name in _IDENTITY
    ]
    return schema


def tracking_plan(name: str = "B2B SaaS") -> dict[str, Any]:
    """Return the ten spec events as a tracking plan in the legacy Config API's shape.

    The same as ``TrackingPlan.b2b_saas().to_segment(legacy=True)`` with this
    display name; ``TrackingPlan`` also writes the Public API's shape.

    Args:
        name: The plan's display name.
    """
    from .._plan import TrackingPlan  # noqa: PLC0415 - the plan is built on these schemas

    return TrackingPlan.b2b_saas(name=name).to_segment(legacy=True)
