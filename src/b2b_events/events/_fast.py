"""Fast validators: each message model's own core schema without its Python callbacks.

pydantic calls back into Python for every validator written in Python: the
timestamp checks, the trial-date wrapper and the model rules ("userId or
anonymousId", "the account is not a property"). Each call costs about 0.3 us,
about a third of validating a typical message, on every message a builder, the
collector, ``validate`` or ``replay`` handles.

A fast validator is derived from the model's schema, so the models stay the one
source of truth:

- a field callback is swapped for a core-only schema that accepts a subset of
  what it accepts, with the same result (``_FIELDS``);
- a model rule is taken out of the schema and called on the validated message.

Anything the fast validator refuses goes to the model's own validator, which
decides: results and error messages are the model's, the fast path only says
yes sooner. A callback this module does not know stops the import, so a new
validator cannot slip past it.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

from pydantic_core import SchemaValidator, core_schema

from ._b2b import FAST_TRIAL_DATE, _one_error_for_trial_date
from ._common import FAST_TIMESTAMP, Message, _in_utc_range

__all__ = ["fast_path", "fast_validator"]

M = TypeVar("M", bound=Message)

_FIELDS: dict[Callable[..., Any], core_schema.CoreSchema] = {
    _in_utc_range: FAST_TIMESTAMP,  # the outer callback of Timestamp
    _one_error_for_trial_date: FAST_TRIAL_DATE,  # the outer callback of TrialDate
}
"""The outermost callback of an annotated type -> its core-only subset."""

_FUNCTIONS = ("function-after", "function-before", "function-wrap", "function-plain")

Rule = tuple[Callable[[Any], Any] | None, Callable[[Any], Any]]
"""A model rule taken out: (how to reach the model from the message, the rule)."""


def _is_model(node: dict[str, Any]) -> bool:
    while node["type"] == "function-after":  # rules stack on the model they check
        node = node["schema"]
    return bool(node["type"] == "model")


def _derive(node: Any, path: tuple[str, ...] | None, rules: list[Rule]) -> Any:
    """A copy of ``node`` without callbacks; ``path`` is where the node's value sits.

    ``path`` is the attribute path from the message (``("properties",)``), or
    None below anything but model fields and defaults (lists, unions, ...),
    where a model rule could not be called on the result.
    """
    if isinstance(node, list):
        return [_derive(item, None, rules) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in _FUNCTIONS:
        function = node["function"]["function"]
        if function in _FIELDS:
            derived = dict(_FIELDS[function])
        elif kind == "function-after" and path is not None and _is_model(node["schema"]):
            rules.append((attrgetter(".".join(path)) if path else None, function))
            derived = _derive(node["schema"], path, rules)
        else:
            raise TypeError(f"no fast form for the validator {function.__qualname__}")
        if "ref" in node:
            derived["ref"] = node["ref"]
        return derived
    copy: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("metadata", "serialization", "cls", "config"):
            copy[key] = value  # not schemas: left as they are
        elif kind == "model-fields" and key == "fields" and path is not None:
            copy[key] = {name: _derive(sub, (*path, name), rules) for name, sub in value.items()}
        elif key == "schema" and kind in ("definitions", "model", "model-field", "default"):
            copy[key] = _derive(value, path, rules)  # the same value, one level down
        else:
            copy[key] = _derive(value, None, rules)
    return copy


def fast_path(cls: type[M]) -> tuple[Callable[[Any], M], list[Rule]]:
    """``cls``'s schema without callbacks, and the model rules to call on what it returns."""
    rules: list[Rule] = []
    fast = SchemaValidator(_derive(cls.__pydantic_core_schema__, (), rules)).validate_python
    return fast, rules


def fast_validator(cls: type[M]) -> Callable[[Any], M]:
    """Return ``cls``'s validation as one call: the fast path, else the model's own.

    The returned function takes a wire dict (or a builder's data) and returns
    the message or raises the model's ``ValidationError``, as
    ``cls.__pydantic_validator__.validate_python`` does.
    """
    fast, rules = fast_path(cls)
    full: Callable[[Any], M] = cls.__pydantic_validator__.validate_python

    def validate(data: Any) -> M:
        try:
            message: M = fast(data)
            for reach, rule in rules:
                rule(message if reach is None else reach(message))
        except ValueError:  # ValidationError, or a rule's PydanticCustomError
            return full(data)  # decides, and says why
        return message

    return validate
