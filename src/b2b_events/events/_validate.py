"""``validate(payload)``: one discriminated union, one ``TypeAdapter``, for wire-format dicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from .._exceptions import InvalidEventError, Problem
from ._b2b import (
    SPEC_EVENTS,
    AccountAddedUser,
    AccountCreated,
    AccountDeleted,
    AccountRemovedUser,
    InviteSent,
    SignedIn,
    SignedOut,
    SignedUp,
    TrialEnded,
    TrialStarted,
)
from ._calls import CALLS, Alias, Group, Identify, Page, Screen, Track
from ._common import MESSAGE_TYPES, Message
from ._errors import depth_error, invalid_event_error, message_name, shallow_text

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = ["VALIDATORS", "AnyMessage", "valid_name", "validate", "validate_text"]

_TYPE_RULE = "must be one of Segment's types: " + ", ".join(repr(kind) for kind in MESSAGE_TYPES)


def _tag(value: Any) -> str | None:
    """Pick the union member: a spec event by name, any other track event, or the type."""
    if type(value) is dict or isinstance(value, Mapping):  # dict: skip the ABC check
        kind, event = value.get("type"), value.get("event")
    else:
        kind, event = getattr(value, "type", None), getattr(value, "event", None)
    if kind == "track":
        return event if isinstance(event, str) and event in SPEC_EVENTS else "track"
    return kind if kind in MESSAGE_TYPES else None


AnyMessage = Annotated[
    Union[  # noqa: UP007 - tagged members read better one per line
        Annotated[AccountCreated, Tag("Account Created")],
        Annotated[AccountDeleted, Tag("Account Deleted")],
        Annotated[SignedUp, Tag("Signed Up")],
        Annotated[SignedIn, Tag("Signed In")],
        Annotated[SignedOut, Tag("Signed Out")],
        Annotated[InviteSent, Tag("Invite Sent")],
        Annotated[AccountAddedUser, Tag("Account Added User")],
        Annotated[AccountRemovedUser, Tag("Account Removed User")],
        Annotated[TrialStarted, Tag("Trial Started")],
        Annotated[TrialEnded, Tag("Trial Ended")],
        Annotated[Track, Tag("track")],
        Annotated[Identify, Tag("identify")],
        Annotated[Group, Tag("group")],
        Annotated[Page, Tag("page")],
        Annotated[Screen, Tag("screen")],
        Annotated[Alias, Tag("alias")],
    ],
    Discriminator(
        _tag,
        custom_error_type="b2b_rule",
        custom_error_message=_TYPE_RULE,
        custom_error_context={"field": "type", "reason": _TYPE_RULE},
    ),
]
"""Any Segment message: the ten spec events, other track events, and the five other types."""

_adapter: TypeAdapter[AnyMessage] = TypeAdapter(AnyMessage)

# The union member for each tag, validated directly: the union calls ``_tag``
# back from Rust on every message (a Python call's overhead, about 1 us), and,
# built in one TypeAdapter, its members share pydantic definitions made under the
# adapter's config, so that NaN and Infinity passed in extra fields although each
# model refuses them (``allow_inf_nan=False``). Each model's own validator is the
# one validation of its messages: builders and ``validate`` call it (#18).
_CLASSES: dict[str, type[Message]] = {
    **SPEC_EVENTS,
    **CALLS,
}


def depth_checked(validator: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``validator``, after the one nesting limit (``MAX_DEPTH``) every reader applies."""

    def checked(payload: Any) -> Any:
        error = depth_error(payload)
        if error is not None:
            raise error
        return validator(payload)

    return checked


VALIDATORS: dict[type[Message], Callable[[Any], Any]] = {
    cls: depth_checked(cls.__pydantic_validator__.validate_python) for cls in _CLASSES.values()
}
"""Each message class -> its model's validation: builders, ``validate`` and plans use it."""
_MEMBERS: dict[str, Callable[[Any], Any]] = {tag: VALIDATORS[cls] for tag, cls in _CLASSES.items()}
_MODELS: dict[str, Callable[[Any], Any]] = {
    tag: cls.__pydantic_validator__.validate_python for tag, cls in _CLASSES.items()
}
"""``_MEMBERS`` without the nesting walk: for a message whose text bounds it (``shallow_text``)."""


def valid_name(
    payload: Mapping[str, Any], *, strict: bool = False, text: bytes | None = None
) -> str | None:
    """The name of ``payload`` (as ``Message.name``) when ``validate`` accepts it, else None.

    The verdict without the error report, for bulk checks (``b2b-events
    validate``), which call ``validate`` again for the few invalid messages to
    say why. ``text``, the JSON ``payload`` was parsed from, lets a message
    whose text bounds its nesting (``shallow_text``) skip the walk.
    """
    tag = _tag(payload)
    if tag is None or (strict and tag == "track"):
        return None
    members = _MODELS if text is not None and shallow_text(text) else _MEMBERS
    try:
        members[tag](payload)
    except ValidationError:
        return None
    return payload["event"] if tag == "track" else tag


def validate(
    payload: Mapping[str, Any], *, strict: bool = False, plan: TrackingPlan | None = None
) -> AnyMessage:
    """Validate one wire-format message and return it typed.

    The ten B2B SaaS events are checked against the spec (``SignedUp``,
    ``TrialStarted``, ...); other ``track`` events get the envelope checks only
    (a ``Track``), unless ``strict`` is set, which rejects them. The other
    types come back as ``Identify``, ``Group``, ``Page``, ``Screen`` and
    ``Alias``; only the ten spec events require ``context.groupId``.

    Args:
        payload: One message as it is on the wire (camelCase envelope), e.g. a
            line of an event log or an element of a ``/v1/batch`` body.
        strict: Reject track events that are not among the ten spec events
            (or, with ``plan``, not in the plan).
        plan: Check against this ``TrackingPlan`` (your own events, or a plan
            read from Segment) instead of the ten spec events alone.

    Returns:
        The typed message. ``messageId`` and ``timestamp`` are filled in when absent.

    Raises:
        InvalidEventError: Naming the event and listing every problem.

    Examples:
        >>> validate({"type": "track", "event": "Signed In", "userId": "u_1",
        ...           "context": {"groupId": "acct_1"}}).name
        'Signed In'
    """
    return _validated(payload, strict, plan, _MEMBERS)


def validate_text(
    payload: dict[str, Any], text: bytes, *, plan: TrackingPlan | None = None
) -> AnyMessage:
    """``validate(payload, plan=plan)`` for a message parsed from the JSON ``text``.

    The same verdict; when the text bounds the nesting (``shallow_text``), the
    ``MAX_DEPTH`` walk is skipped (replay reads millions of lines).
    """
    return _validated(payload, False, plan, _MODELS if shallow_text(text) else _MEMBERS)


def _validated(
    payload: Mapping[str, Any],
    strict: bool,
    plan: TrackingPlan | None,
    members: dict[str, Callable[[Any], Any]],
) -> AnyMessage:
    if plan is not None:
        return plan.validate(payload, strict=strict)  # type: ignore[return-value]
    if type(payload) is not dict and not isinstance(payload, Mapping):
        got = type(payload).__name__
        raise InvalidEventError("message", [Problem("", f"must be a JSON object, not {got}")])
    before: list[Problem] = []
    tag = _tag(payload)  # "track": a track event outside the spec
    if strict and tag == "track":
        event = payload.get("event")
        before.append(Problem("event", f"{event!r} is not a B2B SaaS spec event (strict mode)"))
    try:
        # The member the union would pick, directly (see _MEMBERS); the union only
        # to say that no member fits.
        message: AnyMessage = (_adapter.validate_python if tag is None else members[tag])(payload)
    except ValidationError as exc:
        raise invalid_event_error(message_name(payload), exc, payload, before=before) from None
    if before:
        raise InvalidEventError(message_name(payload), before)
    return message
