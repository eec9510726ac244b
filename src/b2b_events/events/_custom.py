"""Your own track events as typed models: ``class ReportExported(Event, name="Report Exported")``.

An ``Event`` subclass is the event's properties; building one checks them (an
``InvalidEventError``, as the ten spec events give). Each subclass has a
message class (a ``TrackMessage`` with its name and properties, and a required
``context.groupId`` when declared with ``group=True``), made on first use and
registered in ``VALIDATORS`` so that ``Tracker``, ``validate(plan=...)`` and the schema export
treat it as they treat the ten.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, cast

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
    model_validator,
)

from .._exceptions import InvalidEventError, Problem
from ._b2b import SPEC_EVENTS, B2BEvent, _is_date_only
from ._calls import TrackMessage
from ._common import Properties, TimestampRules, rule_error
from ._errors import depth_error, problems_from
from ._validate import VALIDATORS, depth_checked
from ._values import jsonify

if TYPE_CHECKING:
    from pydantic.config import JsonDict
    from typing_extensions import Self

__all__ = ["Date", "DateTime", "Event"]

_ACCOUNT_KEYS = ("groupId", "group_id")


def _date_only(value: Any) -> Any:
    # A date-time string or datetime is not a date: the schema's `format: date` refuses it.
    if not _is_date_only(value):
        raise rule_error("", "must be a date (2026-11-01)")
    return value


# RFC 3339's date-time, which JSON Schema's `format: date-time` checks: pydantic also
# reads forms it refuses (no seconds, "+0100", a space for the T).
_RFC3339 = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and _RFC3339.fullmatch(value) is None:
        raise rule_error("", "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z")
    return value


# Its own rule is a Python callback anyway: no core-only members (``CoreFirst``) first.
DateTime = Annotated[TimestampRules, Strict(False), BeforeValidator(_rfc3339)]
"""An aware date-time property: a ``datetime`` or an RFC 3339 string; ``format: date-time``."""

Date = Annotated[date, Strict(False), BeforeValidator(_date_only)]
"""A calendar date property: a ``date`` or a ``YYYY-MM-DD`` string; ``format: date``."""


def _account_not_allowed(schema: JsonDict, cls: type[Any]) -> None:
    if cls.event_group:  # as for the ten: the account goes in context.groupId
        schema["not"] = {"anyOf": [{"required": [key]} for key in _ACCOUNT_KEYS]}


_MESSAGES: dict[type[Event], type[TrackMessage]] = {}
"""Each event class -> its message class (``Event.message_class``)."""


class Event(Properties):
    """Base class of your own track events: subclass it with the event's name and properties.

    The class is the event's ``properties``; ``name`` is the event name on the
    wire; ``group=True`` makes the account (``context.groupId``, the
    ``group_id=`` argument) required, as for the ten B2B SaaS events (default
    ``False``). Properties are checked strictly, as JSON Schema reads them (an
    ``int`` property refuses ``"5"``; a ``float`` one takes a ``Decimal``, sent
    as a float, as custom properties are): use ``DateTime`` and ``Date`` from
    ``b2b_events.events`` for dates, which take ``datetime``/``date`` objects and
    ISO-8601 strings, and ``Literal`` for choices of strings (an ``Enum``, like a
    ``UUID``, would refuse the strings of a logged message). Custom properties
    next to the declared ones are allowed as JSON values; dates, ``Decimal``,
    ``UUID``, ``Enum`` and tuples among them are converted as
    ``track(..., properties=...)`` converts them.

    Example:
        >>> from typing import Literal
        >>> class ReportExported(Event, name="Report Exported", group=True):
        ...     report_id: str
        ...     format: Literal["csv", "pdf"]
        ...     rows: int | None = None
        >>> ReportExported(report_id="r_1", format="csv").event_name
        'Report Exported'

    Raises:
        InvalidEventError: On construction, naming the event and every problem
            (``properties.format: must be 'csv' or 'pdf'``).
        TypeError: At class definition, without a ``name`` or with a spec event's name.
    """

    model_config = ConfigDict(strict=True, json_schema_extra=_account_not_allowed)

    event_name: ClassVar[str]
    """The event name on the wire (``Report Exported``)."""
    event_group: ClassVar[bool] = False
    """Whether ``context.groupId`` is required."""

    def __init_subclass__(cls, *, name: str, group: bool = False, **kwargs: Any) -> None:
        """Take the event's ``name`` and ``group`` from the class statement."""
        super().__init_subclass__(**kwargs)
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"{cls.__name__}: name must be a non-blank event name")
        if name in SPEC_EVENTS:
            raise TypeError(f"{cls.__name__}: {name!r} is a B2B SaaS spec event, built in")
        cls.event_name = name
        cls.event_group = group

    @classmethod
    def message_class(cls) -> type[TrackMessage]:
        """The message class of this event: a track message with its name and properties.

        Made on first use (a plan, ``track``), once the model is complete: a
        forward reference in it is resolved by then.
        """
        message = _MESSAGES.get(cls)
        if message is None:
            if not cls.__pydantic_complete__:
                cls.model_rebuild()  # raises pydantic's error naming what is undefined
            message = _MESSAGES[cls] = cast(
                "type[TrackMessage]",
                create_model(
                    f"{cls.__name__}Message",
                    __base__=B2BEvent if cls.event_group else TrackMessage,
                    __module__=cls.__module__,
                    __doc__=cls.__doc__ or f"``{cls.event_name}``.",
                    event=(cast("Any", Literal)[cls.event_name], cls.event_name),
                    properties=(cls, Field(default_factory=dict, validate_default=True)),
                ),
            )
            VALIDATORS[message] = depth_checked(message.__pydantic_validator__.validate_python)
        return message

    def __init__(self, /, **data: Any) -> None:
        """Check the properties; see the class docstring."""
        too_deep = depth_error({"properties": data})  # MAX_DEPTH, counted as on the wire
        if too_deep is not None:
            raise InvalidEventError(self.event_name, problems_from(too_deep)) from None
        try:
            try:
                super().__init__(**data)
            except ValidationError:
                # Custom properties next to the declared ones take what ``track(...,
                # properties=)`` takes: dates, Decimal, UUID, Enum made JSON (``jsonify``).
                converted = _jsonify_extras(type(self), data)
                if converted is None:
                    raise
                super().__init__(**converted)
        except ValidationError as exc:
            problems = [
                Problem(f"properties.{p.path}" if p.path else "properties", p.reason)
                for p in problems_from(exc)
            ]
            raise InvalidEventError(self.event_name, problems) from None

    @model_validator(mode="after")
    def _account_not_in_properties(self) -> Self:
        extra = self.__pydantic_extra__
        if extra and self.event_group:
            for key in _ACCOUNT_KEYS:
                if key in extra:
                    raise rule_error(
                        key, "the account goes in context.groupId (group_id=), not in properties"
                    )
        return self


def _jsonify_extras(cls: type[Event], data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` with its undeclared properties made JSON; None if that changes nothing."""
    declared = {*cls.model_fields, *(f.alias for f in cls.model_fields.values() if f.alias)}
    converted = {k: v if k in declared else jsonify(v) for k, v in data.items()}
    changed = any(converted[k] is not v for k, v in data.items())
    return converted if changed else None
