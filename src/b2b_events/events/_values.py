"""Python values analytics-python accepts, turned into the JSON it would have sent.

analytics-python 2.x cleans every message before sending (``segment/analytics/utils.py``,
``clean``): ``Decimal`` becomes a float, tuples and sets become lists, an ``Enum``
its value, and ``datetime``/``date`` values are written with ``isoformat()``. The
builders do the same in custom properties, traits and context, so a call site
moved from analytics-python sends what it sent before. Two choices of ours:

- a ``UUID`` becomes its string; analytics-python 2.4 drops the key instead
  (with a warning), which nobody relies on;
- a naive ``datetime`` is written as analytics-python writes it, without an
  offset (``2026-11-22T10:00:00``): converting it would mean guessing its zone.
  Segment and most destinations read an offset-less time as UTC, so a naive
  *local* time is off by the server's UTC offset: pass aware datetimes.

Anything else that is not JSON is left for validation to refuse, with a hint
(``model_dump()``, ``dataclasses.asdict()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

__all__ = ["CONVERTED_FIELDS", "jsonify", "jsonify_message"]

CONVERTED_FIELDS = ("properties", "traits", "context")
"""The parts of a message whose values are converted (never ids nor timestamps)."""

_JSON_SCALARS = (str, bool, int, float, type(None))


_MAX_DEPTH = 200  # as validation's: deeper (or cyclic) values are left for it to report


def jsonify(value: Any) -> Any:
    """``value`` with dates, ``Decimal``, ``UUID``, ``Enum``, tuples and sets made JSON.

    Values of other types are returned as they are, for validation to report.
    """
    return _convert(value, 0)[0]


def _convert(value: Any, depth: int) -> tuple[Any, bool]:
    """(the converted value, whether anything in it changed)."""
    if isinstance(value, _JSON_SCALARS):
        if isinstance(value, Enum):  # a str or int enum
            return value.value, True
        return value, False
    if depth > _MAX_DEPTH:
        return value, False
    if isinstance(value, Mapping):
        items = [(key, *_convert(item, depth + 1)) for key, item in value.items()]
        changed = type(value) is not dict or any(item[2] for item in items)
        return ({key: item for key, item, _ in items} if changed else value), changed
    if isinstance(value, (list, tuple, set, frozenset)):
        converted = [_convert(item, depth + 1) for item in value]
        changed = type(value) is not list or any(item[1] for item in converted)
        return ([item for item, _ in converted] if changed else value), changed
    if isinstance(value, (datetime, date)):
        return value.isoformat(), True
    if isinstance(value, Decimal):
        return float(value), True
    if isinstance(value, UUID):
        return str(value), True
    if isinstance(value, Enum):
        return _convert(value.value, depth + 1)[0], True
    return value, False


def jsonify_message(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """A copy of ``data`` with its properties, traits and context made JSON; None if unchanged."""
    converted = dict(data)
    changed = False
    for key in CONVERTED_FIELDS:
        value = data.get(key)
        if isinstance(value, Mapping):
            converted[key], changed_here = _convert(value, 0)
            changed = changed or changed_here
    return converted if changed else None
