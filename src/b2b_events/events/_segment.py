"""Segment tracking-plan rules: exported from the message models, read back as JSON Schemas.

Two document shapes (``shared/SPEC.md``, "Protocols / tracking plans"): the
Public API's ``{"name", "rules": [{"type", "key", "version", "jsonSchema"}]}``,
which Typewriter 9 reads (its ``plan.json``), and the legacy Config API's
``{"name", "display_name", "rules": {"global", "identify", "group", "events"}}``,
which Typewriter 7 reads (it splits ``name`` as
``workspaces/<slug>/tracking-plans/<id>``).

A TRACK rule's ``jsonSchema`` describes the message: ``properties.properties``
is the event's own property schema (what Typewriter turns into types), and
``properties.context`` the context. Typewriter 9 unwraps the property schema
and reads every key of it over the rule's own, so the property schema always
carries its ``required`` (empty or not: else the rule's ``required: ["context"]``
leaks into the properties), and every property an ``id``, which it rewrites.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._exceptions import InvalidEventError, Problem, TrackingPlanError
from ._calls import TrackMessage
from ._schema import DRAFT_07, draft07, plain_text, required_on_wire

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["NAMED_BY_KEY", "SchemaRule", "legacy_name", "load_rules", "track_rule"]

_PARTS = ("context", "properties")
KINDS = ("TRACK", "IDENTIFY", "GROUP", "PAGE", "SCREEN", "COMMON")
NAMED_BY_KEY = ("PAGE", "SCREEN")
"""Rule kinds whose ``key`` names the page or screen they check; without one, every one."""


def track_rule(cls: type[TrackMessage]) -> dict[str, Any]:
    """The ``jsonSchema`` of a TRACK rule for one message class (a spec event or yours)."""
    name = cls.model_fields["event"].default
    wire_required = required_on_wire(cls)
    parts = {part: draft07(cls.model_fields[part].annotation) for part in _PARTS}  # type: ignore[arg-type]
    definitions: dict[str, Any] = {}
    for part in parts.values():  # refs point at the root: hoist the definitions there
        del part["$schema"]
        definitions.update(part.pop("definitions", {}))
    props = parts["properties"]
    props["title"] = f"{name} Properties"
    props.setdefault("required", [])
    for key, schema in props.get("properties", {}).items():
        schema["id"] = f"/properties/properties/properties/{key}"  # Typewriter 9 rewrites it
    rule: dict[str, Any] = {
        "$schema": DRAFT_07,
        "type": "object",
        "description": plain_text(cls.__doc__ or ""),
        "properties": {**parts, "traits": {}},
        "required": [part for part in _PARTS if part in wire_required],
    }
    if definitions:
        rule["definitions"] = definitions
    return rule


def legacy_name(name: str) -> str:
    """A Config API plan name Typewriter 7 can split: ``workspaces/local/tracking-plans/<slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "plan"
    return f"workspaces/local/tracking-plans/{slug}"


# -- reading a plan -------------------------------------------------------------


@dataclass(frozen=True)
class SchemaRule:
    """One rule read from a document: its kind, key (the event name), version and schema."""

    kind: str
    key: str | None
    version: int
    schema: dict[str, Any]
    validator: Validator

    def check(self, payload: Mapping[str, Any], name: str) -> None:
        """Raise ``InvalidEventError`` naming every place ``payload`` breaks the rule."""
        problems = list(_problems(self.validator, payload))
        if problems:
            raise InvalidEventError(name, problems)


def _problems(validator: Validator, payload: Mapping[str, Any]) -> list[Problem]:
    found: set[Problem] = set()
    for error in validator.iter_errors(payload):
        path = [str(part) for part in error.absolute_path]
        required = error.validator_value if error.validator == "required" else None
        if isinstance(required, list) and isinstance(error.instance, Mapping):
            found.update(
                Problem(".".join([*path, key]), "required")
                for key in required
                if key not in error.instance
            )
        else:
            found.add(Problem(".".join(path), error.message))
    return sorted(found, key=lambda problem: (problem.path, problem.reason))


def _validator(schema: Any, where: str) -> Validator:
    try:
        from jsonschema import Draft7Validator  # noqa: PLC0415 - the optional `plans` extra
        from jsonschema.exceptions import SchemaError  # noqa: PLC0415
    except ImportError:  # pragma: no cover - the dev extra installs it
        raise TrackingPlanError(
            "reading a Segment tracking plan needs jsonschema: pip install 'b2b-events[plans]'"
        ) from None
    if not isinstance(schema, dict):
        raise TrackingPlanError(f"{where}: the JSON Schema must be an object")
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise TrackingPlanError(f"{where}: not a draft-07 JSON Schema: {exc.message}") from None
    # The format checker reads date-time with rfc3339-validator when it is installed
    # (the `plans` extra): without it `format: date-time` would accept any string.
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def _rule(kind: str, key: Any, version: Any, schema: Any) -> SchemaRule:
    where = f"{kind} rule {key!r}" if key else f"{kind} rule"
    if kind == "TRACK" and (not isinstance(key, str) or not key):
        raise TrackingPlanError(f"{where}: a TRACK rule needs its event name as key")
    if not isinstance(version, int) or isinstance(version, bool):
        version = 1
    return SchemaRule(kind, key, version, schema, _validator(schema, where))


def load_rules(document: Any) -> tuple[str, list[SchemaRule]]:
    """The plan's name and rules, from either document shape (newest version of each)."""
    if not isinstance(document, Mapping) or "rules" not in document:
        raise TrackingPlanError("not a Segment tracking plan: an object with 'rules' expected")
    rules = document["rules"]
    found: list[SchemaRule] = []
    if isinstance(rules, list):  # the Public API's shape
        name = document.get("name")
        for rule in rules:
            if not isinstance(rule, Mapping) or rule.get("type") not in KINDS:
                continue  # a rule type Segment may add later is not checked here
            found.append(
                _rule(rule["type"], rule.get("key"), rule.get("version"), rule.get("jsonSchema"))
            )
    elif isinstance(rules, Mapping):  # the legacy Config API's shape
        name = document.get("display_name") or document.get("name")
        for part, kind in (("global", "COMMON"), ("identify", "IDENTIFY"), ("group", "GROUP")):
            if rules.get(part):
                found.append(_rule(kind, None, 1, rules[part]))
        for event in rules.get("events") or []:
            if not isinstance(event, Mapping):
                raise TrackingPlanError("rules.events: each event must be an object")
            found.append(
                _rule("TRACK", event.get("name"), event.get("version"), event.get("rules"))
            )
    else:
        raise TrackingPlanError("rules: a list (Public API) or an object (Config API) expected")
    newest: dict[tuple[str, str | None], SchemaRule] = {}
    for rule in found:
        held = newest.get((rule.kind, rule.key))
        if held is None or rule.version >= held.version:
            newest[(rule.kind, rule.key)] = rule
    return (name if isinstance(name, str) and name else "Tracking plan"), list(newest.values())
