"""The envelope every Segment message shares: ids, timestamps, context, integrations.

Field names are snake_case in Python and camelCase on the wire (``user_id`` is
``userId``); ``to_wire()`` gives the wire form. Spec: ``shared/SPEC.md``, "Common
fields of every message", after https://segment.com/docs/connections/spec/common/.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from numbers import Number
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema
from typing_extensions import TypedDict

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AS_DECLARED",
    "BLANK_PATTERN",
    "CORE_ONLY",
    "EMAIL_PATTERN",
    "MAX_MESSAGE_ID_LENGTH",
    "MESSAGE_TYPES",
    "TIMESTAMP_CORE",
    "B2BContext",
    "Context",
    "CoreFirst",
    "Email",
    "JsonValue",
    "Library",
    "Message",
    "NonBlank",
    "Properties",
    "Timestamp",
    "TimestampRules",
    "iso_timestamp",
    "new_message_id",
    "now",
    "rule_error",
]

MAX_MESSAGE_ID_LENGTH = 100

MESSAGE_TYPES = ("track", "identify", "group", "page", "screen", "alias")
"""Segment's six message types (``type`` on the wire)."""

# Both patterns are searched, not anchored, by pydantic-core's regex engine.
BLANK_PATTERN = r"\S"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=BLANK_PATTERN)]
"""A string with at least one non-space character."""

Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)]
"""A string shaped like an email address (``name@host.tld``); deliverability is not checked."""


_last_iso: tuple[datetime | None, str] = (None, "")
"""The last datetime ``iso_timestamp`` formatted, and its text (see ``now``)."""


def iso_timestamp(value: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with a ``Z``: milliseconds, or microseconds if set.

    ``2026-11-22T10:00:00.000Z``. Sub-millisecond precision is kept rather than
    rounded away, so a message read back from the wire equals the one sent.
    """
    global _last_iso  # noqa: PLW0603 - one tuple, replaced whole: safe across threads
    last = _last_iso
    if last[0] is value:  # the datetime ``now`` handed to every message of this millisecond
        return last[1]
    text = _format_utc(value)
    _last_iso = (value, text)
    return text


def _format_utc(value: datetime) -> str:
    if value.tzinfo is not timezone.utc:
        offset = value.utcoffset()
        if offset is None:
            raise ValueError(f"a naive datetime has no UTC form: {value!r}")
        if offset:
            value = value.astimezone(timezone.utc)
    spec = "microseconds" if value.microsecond % 1000 else "milliseconds"
    return value.isoformat(timespec=spec)[:-6] + "Z"  # "+00:00" off: aware, offset zero


def _is_number(value: Any) -> bool:
    if isinstance(value, str) and ":" in value:
        return False  # an ISO-8601 date-time; float() never accepts ":" (and raising is slow)
    if isinstance(value, (str, bytes)):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return isinstance(value, Number)  # int, float, Decimal, ...


def _no_epoch_numbers(value: Any) -> Any:
    # pydantic reads numbers, and strings of digits, as Unix times ("20261101" is
    # 1970-08-23); on the Segment wire a timestamp is an ISO-8601 string.
    if _is_number(value):
        raise rule_error("", "must be an ISO-8601 string or a datetime, not a number")
    return value


def _in_utc_range(value: datetime) -> datetime:
    # The wire form is UTC: 0001-01-01T00:00+01:00 parses but has no UTC form.
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise rule_error("", "out of range once converted to UTC") from None
    return value


_TIMESTAMP_SERIALIZER = core_schema.plain_serializer_function_ser_schema(
    iso_timestamp, return_schema=core_schema.str_schema(), when_used="json"
)


def _datetime_in_range(*, strict: bool) -> core_schema.DatetimeSchema:
    # A day inside both ends: its UTC form exists whatever the offset (under 24 h).
    low, high = datetime(1, 1, 2, tzinfo=timezone.utc), datetime(9999, 12, 31, tzinfo=timezone.utc)
    return core_schema.datetime_schema(
        strict=strict, tz_constraint="aware", gt=low, lt=high, serialization=_TIMESTAMP_SERIALIZER
    )


TIMESTAMP_CORE: tuple[core_schema.CoreSchema, ...] = (
    _datetime_in_range(strict=True),  # an aware datetime instance
    core_schema.chain_schema(  # a string with a ":" (never a number to _no_epoch_numbers)
        [core_schema.str_schema(strict=True, pattern=":"), _datetime_in_range(strict=False)],
        serialization=_TIMESTAMP_SERIALIZER,
    ),
)
"""What most timestamps are, checked without leaving pydantic-core (see ``CoreFirst``).

Aware datetimes, and strings with a ``:`` that are aware date-times, between
0001-01-02 and 9999-12-31 UTC (where every offset has a UTC form), with the
results ``Timestamp``'s own rules give. Numbers, bytes, strings without a ``:``,
the calendar's first and last days go to those rules.
"""

CORE_ONLY = "core-only"
AS_DECLARED = "as-declared"
"""Labels of ``CoreFirst``'s two kinds of union member, in a refusal's ``loc`` (``_errors``)."""


class CoreFirst:
    """Validate with core-only schemas first; the type as declared decides the rest.

    Python validators (``BeforeValidator``, ``AfterValidator``, ``WrapValidator``)
    are called back from Rust on every value: on an archived line, with every
    message's ``timestamp``, about a fifth of ``b2b-events validate`` (#18). Most
    values need none of them. Annotate a type with ``CoreFirst(*members)``, core
    schemas that accept a subset of what the type accepts with the same results,
    and pydantic-core tries them first, left to right, and the type as declared
    only when they refuse. A refusal is the declared type's, word for word:
    ``events._errors`` drops the members' errors and the labels (``CORE_ONLY``,
    ``AS_DECLARED``). JSON Schema and ``validate_json`` see the declared type.
    """

    __slots__ = ("members",)

    def __init__(self, *members: core_schema.CoreSchema) -> None:
        self.members = members

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        declared = handler(source)
        choices: list[core_schema.CoreSchema | tuple[core_schema.CoreSchema, str]] = [
            (member, CORE_ONLY) for member in self.members
        ]
        choices.append((declared, AS_DECLARED))
        return core_schema.json_or_python_schema(
            json_schema=declared,
            python_schema=core_schema.union_schema(choices, mode="left_to_right"),
            serialization=declared.get("serialization"),
        )


TimestampRules = Annotated[
    AwareDatetime,
    BeforeValidator(_no_epoch_numbers),
    AfterValidator(_in_utc_range),
    PlainSerializer(iso_timestamp, return_type=str, when_used="json"),
]
"""``Timestamp`` as declared: every value through its rules (a base for stricter types)."""

Timestamp = Annotated[TimestampRules, CoreFirst(*TIMESTAMP_CORE)]
"""A timezone-aware datetime, written on the wire as ISO-8601 UTC (``...T10:00:00.000Z``)."""


_BLOCK = 256
# Version nibble 4 and RFC 4122 variant bits, as uuid.uuid4() sets them: byte 6
# is 0100xxxx, byte 8 is 10xxxxxx (bytes.translate tables, applied to every id at once).
_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))
_LAYOUT = b"00000000-0000-0000-0000-000000000000 "  # one id and a space
_DIGITS_AT = tuple(at for at, char in enumerate(_LAYOUT) if char == ord("0"))
"""Where each of an id's 32 hex digits goes in its line of ``_LAYOUT``."""

_ids: list[str] = []
"""Message ids made ahead, shared by all threads (``list.pop`` is atomic)."""


def _reset_ids_after_fork() -> None:
    _ids.clear()  # the child makes its own: parent and child never hand out the same id


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_reset_ids_after_fork)


def _new_block() -> list[str]:
    """``_BLOCK`` new UUID4 strings from one ``os.urandom`` call.

    The work runs in C, a column at a time: each of an id's 32 hex digits is
    copied, for all the ids at once, to its place in the text by one strided
    slice assignment. Formatting each id in Python was a tenth of a build, and
    a regex splitting the hex into groups still 0.5 us an id (#18).
    """
    raw = bytearray(os.urandom(16 * _BLOCK))
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    digits = raw.hex().encode()
    text = bytearray(_LAYOUT * _BLOCK)
    line = len(_LAYOUT)
    for digit, at in enumerate(_DIGITS_AT):
        text[at::line] = digits[digit::32]
    return text.decode().split()


def new_message_id() -> str:
    """Return a new random UUID4 string (``3f0c5b0e-...``), as Segment's libraries do."""
    try:
        return _ids.pop()
    except IndexError:  # once per block; a thread refilling takes its id from its own block
        block = _new_block()
        message_id = block.pop()
        _ids.extend(block)
        return message_id


_last_now: tuple[int, datetime] = (0, datetime(1970, 1, 1, tzinfo=timezone.utc))
"""The millisecond ``now`` last read and the datetime it gave for it."""


def now() -> datetime:
    """Return the current UTC time, truncated to milliseconds (the wire's precision).

    Calls within the same millisecond get the same (immutable) datetime object,
    made once: a burst of events costs one datetime per millisecond, and
    ``iso_timestamp`` formats each of them once.
    """
    global _last_now  # noqa: PLW0603 - one tuple, replaced whole: safe across threads
    ms = time.time_ns() // 1_000_000
    last = _last_now
    if last[0] == ms:
        return last[1]
    value = datetime.fromtimestamp(ms / 1000, timezone.utc)
    _last_now = (ms, value)
    return value


def rule_error(field: str, reason: str) -> PydanticCustomError:
    """Build the error a cross-field rule raises; ``field`` is the wire path below the model."""
    return PydanticCustomError("b2b_rule", "{reason}", {"field": field, "reason": reason})


class _JsonSchema:
    """A JSON value, checked by pydantic-core alone.

    pydantic's ``JsonValue`` picks its member with a Python callback for every
    value (about 0.4 us each, several per archived message); this strict union
    does the same checks without leaving Rust: str, bool, int, finite float,
    None, and lists and string-keyed objects of those.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        ref = "b2b_events.JsonValue"
        itself = core_schema.definition_reference_schema(ref)
        return core_schema.union_schema(  # its ref lets the inner references recurse
            [
                core_schema.str_schema(strict=True),
                core_schema.bool_schema(strict=True),
                core_schema.int_schema(strict=True),
                core_schema.json_or_python_schema(  # a float, finite (not a Decimal)
                    json_schema=core_schema.float_schema(allow_inf_nan=False),
                    python_schema=core_schema.chain_schema(
                        [
                            core_schema.is_instance_schema(float),
                            core_schema.float_schema(strict=True, allow_inf_nan=False),
                        ]
                    ),
                ),
                core_schema.none_schema(),
                core_schema.list_schema(itself, strict=True),
                core_schema.dict_schema(core_schema.str_schema(strict=True), itself, strict=True),
            ],
            custom_error_type="invalid-json-value",
            custom_error_message="input was not a valid JSON value",
            ref=ref,
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {}  # any JSON value


if TYPE_CHECKING:
    from pydantic import JsonValue
else:
    JsonValue = Annotated[Any, _JsonSchema]
    """A JSON value (see ``_JsonSchema``)."""


# PEP 728 ``extra_items`` (https://peps.python.org/pep-0728/), which pydantic reads
# since 2.12; mypy does not know it yet (https://github.com/python/mypy/issues/18176).
class Library(TypedDict, extra_items=JsonValue):  # type: ignore[call-arg]
    """``context.library``: the sending library, set by b2b-events on every message it builds.

    Other keys are kept if they are JSON values, as everywhere else in a message.
    A TypedDict has no ``__pydantic_extra__`` to type them: without
    ``extra_items`` it took the containing model's ``extra="allow"`` untyped, and
    any value (NaN, a set) passed.
    """

    name: str
    version: str


class _Wire(BaseModel):
    """Shared configuration: frozen, camelCase aliases, extra keys kept if they are JSON."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="allow",
        frozen=True,
        allow_inf_nan=False,  # JSON has no NaN or Infinity; serializers would write null
    )
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)


class Context(_Wire):
    """``context``: the account (``groupId``), the library and any other context you pass.

    Extra keys (``ip``, ``locale``, ``traits``, ...) are kept as given, if they are JSON values.
    """

    group_id: NonBlank | None = None
    library: Library | None = None


class B2BContext(Context):
    """The context of a B2B SaaS event: ``groupId`` (the account) is required."""

    group_id: NonBlank


class Properties(BaseModel):
    """Event properties: snake_case keys on the wire, custom keys allowed as JSON values."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)

    semantic: ClassVar[frozenset[str]] = frozenset()
    """Names of the spec's semantic properties for this event (the typed fields)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.semantic = frozenset(cls.model_fields)


class Message(_Wire):
    """Fields every message has. Subclasses fix ``type`` (and ``event`` for track messages).

    Exactly one rule spans fields here: a message needs ``userId`` or ``anonymousId``.
    """

    type: str
    user_id: NonBlank | None = None
    anonymous_id: NonBlank | None = None
    message_id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_MESSAGE_ID_LENGTH, pattern=BLANK_PATTERN),
    ] = Field(default_factory=new_message_id)
    timestamp: Timestamp = Field(default_factory=now)
    context: Context = Field(default_factory=Context)
    integrations: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _require_identity(self) -> Self:
        if self.user_id is None and self.anonymous_id is None:
            raise rule_error("userId", "required (or anonymousId)")
        return self

    @property
    def name(self) -> str:
        """The event name for track messages, else the message type (``identify``, ``group``)."""
        return self.type

    def to_wire(self) -> dict[str, Any]:
        """Return the message as it goes on the wire: camelCase envelope, no ``None`` values.

        Examples:
            >>> msg.to_wire()["context"]["groupId"]  # doctest: +SKIP
            'acct_123'
        """
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        """Return the wire form as compact UTF-8 JSON (what a batch carries)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True, exclude_none=True)
