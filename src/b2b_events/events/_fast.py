"""Fast validators: each message model's own core schema without its Python callbacks.

pydantic calls back into Python for every validator written in Python: the
timestamp checks, the trial-date wrapper and the model rules ("userId or
anonymousId", "the account is not a property"). On an archived line these calls
cost about a quarter of the validation, on every message a builder, the
collector, ``validate`` or ``replay`` handles.

A fast validator is derived from the model's schema, so the models stay the one
source of truth:

- the schema of ``Timestamp`` or ``TrialDate``, where it appears exactly as
  declared, is swapped for a core-only subset with the same results (``_FIELDS``);
- an after model validator that takes only the model (a rule) is taken out of
  the schema and called on the validated message, innermost first as pydantic does.

Anything the fast path refuses, or that fails in it, goes to the model's own
validator, which decides: results and error messages are the model's. Any other
callback (a field validator, a ``strict`` timestamp, a rule below a list or an
optional field), or model config that could change the subsets, stops the
import with a ``TypeError``, so a validator added later is never skipped by
accident.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic_core import SchemaValidator, core_schema

from ._b2b import FAST_TRIAL_DATE, TrialDate
from ._common import FAST_TIMESTAMP, Message, Timestamp

__all__ = ["fast_path", "fast_validator"]

M = TypeVar("M", bound=Message)

_FUNCTIONS = ("function-after", "function-before", "function-wrap", "function-plain")
_NOT_VALIDATION = ("metadata", "ref", "serialization")
_CONFIG = {"title", "extra_fields_behavior", "allow_inf_nan"}
"""Model config that leaves the subsets in ``_FIELDS`` as they are."""


def _shape(node: Any) -> Any:
    """``node`` without what does not change validation (refs, metadata, serializers)."""
    if isinstance(node, list):
        return [_shape(item) for item in node]
    if isinstance(node, dict):
        return {key: _shape(value) for key, value in node.items() if key not in _NOT_VALIDATION}
    return node


_FIELDS: list[tuple[Any, core_schema.CoreSchema]] = [
    (_shape(TypeAdapter(Timestamp).core_schema), FAST_TIMESTAMP),
    (_shape(TypeAdapter(TrialDate).core_schema), FAST_TRIAL_DATE),
]
"""An annotated type's schema, exactly (``strict`` or another constraint: not it) -> its subset."""

Rule = tuple[Callable[[Any], Any] | None, Callable[[Any], Any]]
"""A model rule taken out: (how to reach the model from the message, the rule)."""


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", function))  # pydantic's own: partials


def _swap(node: dict[str, Any]) -> core_schema.CoreSchema | None:
    shape = _shape(node)
    for known, fast in _FIELDS:
        if shape == known:
            return fast
    return None


def _model_rule(node: dict[str, Any]) -> bool:
    """Whether ``node`` is an after model validator that takes only the model (a rule)."""
    inner = node["schema"]
    while inner["type"] == "function-after":  # rules stack on the model they check
        inner = inner["schema"]
    if inner["type"] != "model" or node["function"]["type"] != "no-info":
        return False
    function = node["function"]["function"]
    return any(
        decorator.func is function and decorator.info.mode == "after"
        for decorator in inner["cls"].__pydantic_decorators__.model_validators.values()
    )


def _derive(node: Any, path: tuple[str, ...] | None, rules: list[Rule]) -> Any:
    """A copy of ``node`` without callbacks; ``path`` is where the node's value sits.

    ``path`` is the attribute path from the message (``("properties",)``), or
    None below anything but model fields and defaults made by a factory (lists,
    unions, optional values, ...), where a model rule could not be called on
    the result.
    """
    if isinstance(node, list):
        return [_derive(item, None, rules) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in _FUNCTIONS:
        return _derive_function(node, path, rules)
    unknown = sorted(node.get("config", {}).keys() - _CONFIG)  # models, typed dicts
    if unknown:  # e.g. strict, or str_strip_whitespace: they would change _FIELDS' subsets
        raise TypeError(f"no fast form for {_name(node.get('cls'))} with config {unknown}")
    passes = kind in ("definitions", "model", "model-field") or (
        kind == "default" and "default" not in node  # a factory's value: a model, not None
    )
    copy: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("metadata", "serialization", "cls", "config"):
            copy[key] = value  # not schemas: left as they are
        elif kind == "model-fields" and key == "fields" and path is not None:
            copy[key] = {name: _derive(sub, (*path, name), rules) for name, sub in value.items()}
        elif key == "schema" and passes:
            copy[key] = _derive(value, path, rules)  # the same value, one level down
        else:
            copy[key] = _derive(value, None, rules)
    return copy


def _derive_function(node: dict[str, Any], path: tuple[str, ...] | None, rules: list[Rule]) -> Any:
    """A callback's node: its core-only subset, or its model with the rule taken out."""
    function = node["function"]["function"]
    fast = _swap(node)
    if fast is not None:
        derived = dict(fast)
    elif node["type"] == "function-after" and path is not None and _model_rule(node):
        derived = _derive(node["schema"], path, rules)
        rules.append((attrgetter(".".join(path)) if path else None, function))
    else:
        raise TypeError(f"no fast form for the validator {_name(function)}")
    if "ref" in node:
        derived["ref"] = node["ref"]
    return derived


def fast_path(cls: type[M]) -> tuple[Callable[[Any], M], list[Rule]]:
    """``cls``'s schema without callbacks, and the model rules to call on what it returns."""
    rules: list[Rule] = []
    fast = SchemaValidator(_derive(cls.__pydantic_core_schema__, (), rules)).validate_python
    return fast, rules  # innermost first, as pydantic calls them


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
                model = message if reach is None else reach(message)
                if rule(model) is not model:  # a rule that replaces the model: its call
                    return full(data)
        except Exception:  # ValidationError, a rule's error, anything: the model decides
            return full(data)  # and says why
        return message

    return validate
