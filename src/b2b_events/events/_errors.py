"""Turn pydantic's validation errors into ``InvalidEventError``: ``path: reason`` in wire terms."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from .._delivery.wire import MAX_DEPTH
from .._exceptions import InvalidEventError, Problem
from ._common import AS_DECLARED, BLANK_PATTERN, CORE_ONLY, EMAIL_PATTERN, MESSAGE_TYPES

__all__ = [
    "depth_error",
    "invalid_event_error",
    "message_name",
    "problems_from",
    "shallow_text",
]

_ISO_DATETIME = "must be an ISO-8601 date-time such as 2026-11-22T10:00:00.000Z"
_NAIVE = (
    "naive datetime (no timezone): Segment would read it as UTC whatever your server's zone; "
    "pass an aware datetime, e.g. datetime.now(timezone.utc)"
)
_REASONS = {
    "missing": "required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "timezone_aware": _NAIVE,
    "datetime_type": _ISO_DATETIME,
    "datetime_parsing": _ISO_DATETIME,
    "datetime_from_date_parsing": _ISO_DATETIME,
    "datetime_object_invalid": _ISO_DATETIME,
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "frozen_instance": "messages are immutable",
    "finite_number": "must be a finite number (JSON has no NaN or Infinity)",
    "invalid_key": "keys must be strings",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
}
_JSON_TYPES = (str, bool, int, float, type(None))
_NOT_JSON = "must be a JSON value (str, int, float, bool, None, list or dict), not {}"
_PATTERNS = {EMAIL_PATTERN: "must be an email address", BLANK_PATTERN: "must not be blank"}


def _reason(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if kind == "b2b_rule":
        return str(ctx["reason"])
    if kind in _REASONS:
        return _REASONS[kind]
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(ctx.get("pattern", ""), err["msg"])
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    return str(err["msg"])


def _too_deep(container: Any, levels_left: int) -> list[Any] | None:
    """The keys below ``container`` to where objects and arrays nest past ``levels_left``.

    None when they do not: the common case, kept to one type check per value.
    """
    items = container.items() if type(container) is dict else enumerate(container)
    for key, item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if levels_left == 0:
                return [key]
            below = _too_deep(item, levels_left - 1)
            if below is not None:
                return [key, *below]
    return None


def shallow_text(text: bytes) -> bool:
    """Whether the message parsed from the JSON ``text`` surely nests within ``MAX_DEPTH``.

    Each level opens a bracket, so a text with no more ``{`` and ``[`` than
    levels allowed cannot nest deeper (brackets inside strings only make the
    bound safer). Two C-level counts, where walking the parsed message is a
    Python call per object; a reader with the text skips the walk (#18).
    """
    return text.count(b"{") + text.count(b"[") <= MAX_DEPTH


def depth_error(payload: Any) -> ValidationError | None:
    """The error of a message nested past ``MAX_DEPTH``, at the path where it does (or None).

    One limit for every reader of a message: the builders, ``validate()`` and so the
    collector, whose JSON parser could not read much deeper. A value that contains
    itself is said to be cyclic.
    """
    keys = _too_deep(payload, MAX_DEPTH - 1) if type(payload) is dict else None
    if keys is None:
        return None
    reason = f"nested too deeply (over {MAX_DEPTH} levels)"
    node, seen = payload, {id(payload)}
    for index, key in enumerate(keys):
        node = node[key]
        if id(node) in seen:
            keys, reason = keys[: index + 1], "a cyclic reference (it contains itself)"
            break
        seen.add(id(node))
    detail: InitErrorDetails = {
        "type": PydanticCustomError("b2b_rule", "{reason}", {"field": "", "reason": reason}),
        "loc": tuple(str(key) for key in keys),
        "input": payload,
    }
    return ValidationError.from_exception_data("message", [detail])


def _json_problem(
    value: Any, path: list[str], ancestors: frozenset[int] = frozenset()
) -> tuple[list[str], str] | None:
    """Where inside ``value`` it stops being JSON, and why (None: it is JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, _REASONS["finite_number"]
    if isinstance(value, _JSON_TYPES):
        return None
    if not isinstance(value, (list, dict)):
        return path, _NOT_JSON.format(type(value).__name__) + _hint(value)
    if id(value) in ancestors:
        return path, "a cyclic reference (it contains itself)"
    if len(ancestors) >= MAX_DEPTH:
        return path, f"nested too deeply (over {MAX_DEPTH} levels)"
    inside = ancestors | {id(value)}
    items = enumerate(value) if isinstance(value, list) else value.items()
    for key, item in items:
        if isinstance(value, dict) and not isinstance(key, str):  # list keys: enumerate's ints
            return [*path, str(key)], "keys must be strings"
        found = _json_problem(item, [*path, str(key)], inside)
        if found:
            return found
    return None


def _hint(value: Any) -> str:
    """How to make ``value`` JSON, for the types people pass most."""
    if callable(getattr(value, "model_dump", None)):
        return "; pass value.model_dump(mode='json') for a pydantic model"
    if dataclasses.is_dataclass(value):
        return "; pass dataclasses.asdict(value) for a dataclass"
    return ""


def problems_from(exc: ValidationError) -> list[Problem]:
    """List the problems of a pydantic error as ``path: reason``."""
    problems: list[Problem] = []
    seen: set[Problem] = set()
    for err in exc.errors(include_url=False):
        if CORE_ONLY in err["loc"]:  # a core-only member's refusal (CoreFirst): not the type's
            continue
        loc = [str(part) for part in err["loc"] if part != AS_DECLARED]
        inner = (err.get("ctx") or {}).get("error")
        if err["type"] == "value_error" and isinstance(inner, InvalidEventError):
            # An Event's own __init__ raised (pydantic builds models with an __init__
            # of their own through it): its paths start at "properties" already.
            base = loc[:-1] if loc[-1:] == ["properties"] else loc
            found = [Problem(".".join([*base, p.path]), p.reason) for p in inner.problems]
            problems += [p for p in found if p not in seen]
            seen.update(found)
            continue
        reason = None
        if err["type"] == "invalid-json-value":  # the union says "not JSON": say where, why
            loc, reason = _json_problem(err["input"], loc) or (loc, _NOT_JSON.format("this"))
        if err["type"] == "b2b_rule" and err.get("ctx", {}).get("field"):
            loc.append(err["ctx"]["field"])
        problem = Problem(".".join(loc), reason or _reason(err))
        if problem not in seen:
            seen.add(problem)
            problems.append(problem)
    return problems


def message_name(payload: Mapping[str, Any]) -> str:
    """Name a message for error text: the event for track, else the type, else ``message``."""
    event = payload.get("event")
    if payload.get("type") == "track" and isinstance(event, str) and event:
        return event
    kind = payload.get("type")
    return kind if kind in MESSAGE_TYPES else "message"


def invalid_event_error(
    name: str,
    exc: ValidationError,
    payload: Mapping[str, Any],
    *,
    before: Iterable[Problem] = (),
) -> InvalidEventError:
    """Build the error for ``payload``: ``before`` problems, pydantic's, then identity.

    The userId/anonymousId rule runs only once every field is valid, so when
    fields fail it is checked here on the raw payload, to list every problem at once.
    """
    problems = [*before, *problems_from(exc)]
    if payload.get("userId") is None and payload.get("anonymousId") is None:
        identity = Problem("userId", "required (or anonymousId)")
        if not any(problem.path == "userId" for problem in problems):  # alias: "required"
            problems.append(identity)
    return InvalidEventError(name, problems)
