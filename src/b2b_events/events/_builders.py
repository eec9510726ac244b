"""Typed builders: one keyword-only method per B2B SaaS event, plus Segment's other calls.

A ``Tracker`` validates at the call site and hands each valid message to a sink:
a list's ``append`` in tests, the delivery engine in a ``Client``. Nothing invalid
reaches the sink.

What a builder validates is what the caller gave: the ids, the account, the
properties, ``context``, ``integrations``, ``timestamp`` and ``message_id``. It
hands them to the message model's own validator (the one ``validate()`` uses),
and nothing else: what the library makes itself (``messageId``, the default
``timestamp``, ``type``, ``event``) comes from the model's defaults, which
pydantic does not validate, as they are correct by construction (#18). The
model stays the one source of truth for builders, ``validate()``, the schemas
and the plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Never, TypeVar, cast

from pydantic import ValidationError

from .._exceptions import InvalidEventError, Problem
from .._scope import Identity, merge_context, open_scope
from .._version import __version__
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
from ._calls import Alias, Group, Identify, Page, Screen, Track, TrackMessage
from ._common import Context, Library, Message, new_message_id, now
from ._custom import Event
from ._errors import depth_error, invalid_event_error
from ._validate import AnyMessage
from ._values import jsonify_message

__all__ = ["LIBRARY", "Sink", "Tracker"]

M = TypeVar("M", bound=Message)

Sink = Callable[[Message], object]
"""Where a tracker hands each valid message: ``list.append``, a client's queue, ..."""

LIBRARY: Library = {"name": "b2b-events", "version": __version__}
"""``context.library`` on every message b2b-events builds."""

JsonMap = Mapping[str, Any]

_GIVEN_TWICE = "given both as a keyword and in the mapping"


class _ContextModels(dict[type[Message], type[Context]]):
    """The ``context`` model of each message class, read from its field on first use."""

    def __missing__(self, cls: type[Message]) -> type[Context]:
        model = self[cls] = cls.model_fields["context"].annotation  # type: ignore[assignment]
        return model  # type: ignore[return-value]


_CONTEXT_MODEL: dict[type[Message], type[Context]] = _ContextModels()
"""Each message class -> the model of its ``context`` (``B2BContext`` for the ten)."""


class _ModelValidators(dict[type[Message], Callable[[Any], Any]]):
    """The model's own validator of each message class, looked up on first use."""

    def __missing__(self, cls: type[Message]) -> Callable[[Any], Any]:
        validate = self[cls] = cls.__pydantic_validator__.validate_python
        return validate


_VALIDATE: dict[type[Message], Callable[[Any], Any]] = _ModelValidators()
"""Each message class -> its model's validator: ``VALIDATORS`` without the nesting walk.

``validate()`` walks every message for ``MAX_DEPTH`` (``depth_checked``); a
builder only when an object the caller gave holds an object or array (``_nests``).
"""

_SPEC: dict[type[Message], tuple[str, tuple[str, ...]]] = {
    cls: (name, tuple(cls.model_fields["properties"].annotation.model_fields))  # type: ignore[union-attr]
    for name, cls in SPEC_EVENTS.items()
}
"""Each spec event class: its name and its semantic properties, in the model's order.

A builder passes the values of its semantic keywords in this order.
"""

Ids = tuple[Any, Any, Any]
"""A call's ``(user_id, anonymous_id, group_id)``, as given."""

Given = tuple[Any, Any, Any, Any]
"""A call's ``(context, integrations, timestamp, message_id)``, as given."""


class Tracker:
    """Build validated Segment messages and hand each one to a sink.

    Every method is keyword-only and named after its event in snake case. They
    share these arguments:

    - ``user_id`` / ``anonymous_id``: who did it; at least one is required.
    - ``group_id``: the account (``context.groupId``); required for the ten events.
      Inside ``b2b_events.scope(...)``, ids left out come from the scope.
    - ``properties``: custom properties next to the semantic ones (JSON values);
      a key may not repeat a keyword argument.
    - ``context``: extra context (``ip``, ``locale``, ...); ``library`` is set for you.
    - ``integrations``: destination switches, e.g. ``{"All": False, "Mixpanel": True}``.
    - ``timestamp``: when it happened, an aware ``datetime`` (default: now, UTC).
    - ``message_id``: the de-duplication key (default: a new UUID4).

    Arguments left as ``None`` are left out of the message.

    Examples:
        >>> sent = []
        >>> track = Tracker(sink=sent.append)
        >>> msg = track.signed_up(user_id="u_1", group_id="acct_123", email="p@example.com")
        >>> msg.to_wire()["context"]["groupId"], len(sent)
        ('acct_123', 1)

    Raises (every method):
        InvalidEventError: The message breaks the spec; the text names the event
            and lists every problem as ``path: reason``.
        TypeError: An unknown or misspelt keyword, or a missing required one.
    """

    __slots__ = ("_on_invalid", "_sink")

    def __init__(
        self,
        sink: Sink | None = None,
        *,
        on_invalid: Callable[[InvalidEventError, dict[str, Any]], object] | None = None,
    ) -> None:
        """Create a tracker.

        Args:
            sink: Called with each valid message; ``None`` only builds and returns them.
            on_invalid: If given, invalid input is passed to it (the error and the
                wire dict as built) instead of raised, and the method returns the
                message unvalidated (``model_construct``) without handing it to
                the sink. ``Client`` uses this for ``on_invalid="drop"``.
        """
        self._sink = sink
        self._on_invalid = on_invalid

    # -- plumbing ---------------------------------------------------------
    # Builders pass their arguments on by position, grouped in tuples (``Ids``,
    # ``Given``): ``locals()``, a dict of every argument read back by name, was
    # a tenth of a build (#18). The signatures stay the documentation.

    def _emit(
        self,
        cls: type[M],
        data: dict[str, Any],
        name: str,
        problems: list[Problem],
        nests: bool | None = None,
    ) -> M:
        """Validate the caller's ``data`` as ``cls``, hand the message to the sink (one exit).

        ``nests``: whether an object the caller gave holds an object or array,
        when the builder knows it for all but typed values (``_track``); else
        it is looked for here. Only then is the nesting measured (``MAX_DEPTH``).
        """
        try:
            if _nests(data) if nests is None else nests:
                too_deep = depth_error(data)
                if too_deep is not None:
                    raise too_deep
            message: M = _VALIDATE[cls](data)
        except ValidationError as exc:
            if nests is False:  # a typed value too deep is refused for that, as validate() does
                exc = depth_error(data) or exc
            converted = jsonify_message(data)  # dates, Decimal, UUID: off the hot path
            if converted is not None:
                return self._emit(cls, converted, name, problems)
            data = _made(cls, data)
            error = invalid_event_error(name, exc, data, before=problems)
        else:
            if not problems:
                if self._sink is not None:
                    self._sink(message)
                return message
            data = _made(cls, data)
            error = InvalidEventError(name, problems)
        self._invalid(error, data)
        return cast("M", cls.model_construct(**data))

    def _invalid(self, error: InvalidEventError, data: dict[str, Any]) -> None:
        if self._on_invalid is None:
            raise error
        self._on_invalid(error, data)

    def _track(
        self,
        cls: type[M],
        values: tuple[Any, ...],
        properties: Any,
        ids: Ids,
        given: Given,
    ) -> M:
        """A spec event: ``values`` are its semantic keywords' (``_SPEC``'s order)."""
        name, semantic = _SPEC[cls]
        props = {}
        # A loop, not a comprehension; no zip(strict=True), which costs 0.2 us a call:
        # the lengths agree by construction (a test pins each builder's values).
        for key, value in zip(semantic, values):  # noqa: B905
            if value is not None:
                props[key] = value
        problems: list[Problem] = []
        data = self._envelope(cls, problems, ids, given)
        # The semantic values and the ids are typed (strings, dates): any object or
        # array among them is refused anyway. Only the caller's own objects may nest:
        # a context given or scoped (a shared one is flat), integrations, properties.
        nests = (type(data["context"]) is dict or "integrations" in data) and _nests(data)
        if properties is not None and type(properties) is not dict:  # the call only if odd
            properties = _object(properties, "properties", problems)
        if properties:
            problems += [
                Problem(f"properties.{key}", _GIVEN_TWICE)
                for key in sorted(props.keys() & properties.keys())
            ]
            props.update({k: v for k, v in properties.items() if v is not None})
            nests = nests or _holds_nested(properties)
        data["properties"] = props  # `event` and `type`: the model's defaults
        return self._emit(cls, data, name, problems, nests)

    def _envelope(
        self,
        cls: type[Message],
        problems: list[Problem],
        ids: Ids,
        given: Given,
        *,
        context_group: bool = True,
        scope_group: bool = True,
    ) -> dict[str, Any]:
        """The fields every message has, from the builder's arguments and the open scope.

        Only what was given (or the scope gives): ``messageId`` and ``timestamp``
        are left to the model's defaults when not given (a new UUID4, now), which
        are not validated again. ``context_group=False`` is for a call whose
        ``group_id`` is its own top-level ``groupId`` (``group``), not
        ``context.groupId``; ``scope_group=False`` for a call without a
        ``group_id`` parameter (``alias``), which takes no account from a scope.
        """
        user_id, anonymous_id, group_id = ids
        context, integrations, timestamp, message_id = given
        ctx: dict[str, Any] | Context
        if context is not None and type(context) is not dict:
            context = _object(context, "context", problems)
        scoped = open_scope()  # the one lookup of the scope (issue #22); None outside any
        if scoped is not None:
            user_id, anonymous_id, group_id, context = _completed(
                scoped, ids, context, context_group=context_group, scope_group=scope_group
            )
        if context:
            named = context.get("groupId")
            if context_group and named is not None and group_id is not None and named != group_id:
                problems.append(Problem("context.groupId", "differs from the group_id argument"))
            ctx = {k: v for k, v in context.items() if v is not None}
            ctx["library"] = LIBRARY
            if context_group and group_id is not None:
                ctx["groupId"] = group_id
        else:
            ctx = _context(cls, group_id if context_group else None)
        data: dict[str, Any] = {"context": ctx}
        if group_id is not None and not context_group:
            data["groupId"] = group_id
        if message_id is not None:
            data["messageId"] = message_id
        if timestamp is not None:
            data["timestamp"] = timestamp
        if user_id is not None:
            data["userId"] = user_id
        if anonymous_id is not None:
            data["anonymousId"] = anonymous_id
        if integrations is not None:
            data["integrations"] = integrations
        return data

    # -- the ten B2B SaaS events -------------------------------------------

    def account_created(
        self,
        *,
        group_id: str | None = None,
        account_name: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> AccountCreated:
        """Track ``Account Created``: a new account (``group_id``) named ``account_name``."""
        return self._track(
            AccountCreated,
            (account_name,),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def account_deleted(
        self,
        *,
        group_id: str | None = None,
        account_name: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> AccountDeleted:
        """Track ``Account Deleted``."""
        return self._track(
            AccountDeleted,
            (account_name,),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def signed_up(
        self,
        *,
        group_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        type: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        username: str | None = None,
        title: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> SignedUp:
        """Track ``Signed Up``; ``type`` is how they came, e.g. ``"organic"`` or ``"invited"``."""
        return self._track(
            SignedUp,
            (type, first_name, last_name, email, phone, username, title),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def signed_in(
        self,
        *,
        group_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        username: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> SignedIn:
        """Track ``Signed In``."""
        return self._track(
            SignedIn,
            (username,),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def signed_out(
        self,
        *,
        group_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        username: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> SignedOut:
        """Track ``Signed Out``."""
        return self._track(
            SignedOut,
            (username,),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def invite_sent(
        self,
        *,
        group_id: str | None = None,
        invitee_email: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        invitee_first_name: str | None = None,
        invitee_last_name: str | None = None,
        invitee_role: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> InviteSent:
        """Track ``Invite Sent``: the user invited ``invitee_email`` to the account."""
        return self._track(
            InviteSent,
            (invitee_email, invitee_first_name, invitee_last_name, invitee_role),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def account_added_user(
        self,
        *,
        group_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        role: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> AccountAddedUser:
        """Track ``Account Added User``: ``user_id`` joined the account, as ``role``."""
        return self._track(
            AccountAddedUser,
            (role,),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def account_removed_user(
        self,
        *,
        group_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> AccountRemovedUser:
        """Track ``Account Removed User``: ``user_id`` left or was removed from the account."""
        return self._track(
            AccountRemovedUser,
            (),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def trial_started(
        self,
        *,
        group_id: str | None = None,
        trial_start_date: date | datetime | str,
        trial_end_date: date | datetime | str,
        trial_plan_name: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> TrialStarted:
        """Track ``Trial Started``; dates are ``date``, aware ``datetime`` or ISO-8601 strings."""
        return self._track(
            TrialStarted,
            (trial_start_date, trial_end_date, trial_plan_name),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    def trial_ended(
        self,
        *,
        group_id: str | None = None,
        trial_start_date: date | datetime | str,
        trial_end_date: date | datetime | str,
        trial_plan_name: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> TrialEnded:
        """Track ``Trial Ended``; dates are ``date``, aware ``datetime`` or ISO-8601 strings."""
        return self._track(
            TrialEnded,
            (trial_start_date, trial_end_date, trial_plan_name),
            properties,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )

    # -- your own events ---------------------------------------------------

    def __call__(
        self,
        event: Event,
        *positional: Never,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> TrackMessage:
        """Track one of your own events, an ``Event`` instance: ``track(ReportExported(...))``.

        Takes the common arguments of the builders. ``group_id`` is required
        when the event class was declared with ``group=True``; ``properties``
        adds custom properties next to the event's own. Anything but one
        ``Event`` and keywords is a ``TypeError`` that says what to call instead
        (analytics-python's ``track(user_id, event, properties)`` is
        ``b2b_events.analytics.track``).

        Example:
            >>> from typing import Literal
            >>> import b2b_events
            >>> class ReportExported(b2b_events.Event, name="Report Exported", group=True):
            ...     report_id: str
            ...     format: Literal["csv", "pdf"]
            >>> msg = Tracker()(ReportExported(report_id="r_1", format="csv"),
            ...                 user_id="u_1", group_id="acct_1")
            >>> msg.to_wire()["properties"]
            {'report_id': 'r_1', 'format': 'csv'}
        """
        if positional or not isinstance(event, Event):
            raise _not_an_event(event, positional)
        name = event.event_name
        problems: list[Problem] = []
        cls = type(event).message_class()
        data = self._envelope(
            cls,
            problems,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )
        properties = _object(properties, "properties", problems)
        if properties:  # custom properties next to the event's: as the builders take them
            own = event.model_dump(exclude_none=True)
            problems += [
                Problem(f"properties.{key}", _GIVEN_TWICE)
                for key in sorted(own.keys() & properties.keys())
            ]
            own.update({k: v for k, v in properties.items() if v is not None})
            data["properties"] = own
        else:
            data["properties"] = event
        return self._emit(cls, data, name, problems)

    # -- other calls ------------------------------------------------------

    def event(
        self,
        name: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        properties: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> AnyMessage:
        """Track any event by name, e.g. ``"Report Exported"``.

        A spec event name gets the spec's rules (``event("Signed Up", ...)``
        returns a ``SignedUp``); prefer the typed method then. Other names get
        the envelope checks only and come back as ``Track``.
        """
        problems: list[Problem] = []
        cls: type[TrackMessage] = SPEC_EVENTS.get(name, Track) if isinstance(name, str) else Track
        data = self._envelope(
            cls,
            problems,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )
        data["event"] = name
        properties = _object(properties, "properties", problems)
        data["properties"] = {k: v for k, v in (properties or {}).items() if v is not None}
        label = name if isinstance(name, str) and name else "track"  # the error names it
        return cast("AnyMessage", self._emit(cls, data, label, problems))

    def identify(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        traits: JsonMap | None = None,
        group_id: str | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> Identify:
        """Send ``identify``: who the user is (``traits`` such as ``email``, ``name``).

        ``group_id``, if given, goes in ``context.groupId`` like on the track events.
        """
        problems: list[Problem] = []
        data = self._envelope(
            Identify,
            problems,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
        )
        traits = _object(traits, "traits", problems)
        data["traits"] = dict(traits) if traits else {}
        return self._emit(Identify, data, "identify", problems)

    def group(
        self,
        *,
        group_id: str | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        traits: JsonMap | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> Group:
        """Send ``group``: tie the user to the account ``group_id`` and set account ``traits``.

        Reserved traits include ``name``, ``plan``, ``industry``, ``employees``,
        ``website`` and ``createdAt``.
        """
        problems: list[Problem] = []
        data = self._envelope(
            Group,
            problems,
            (user_id, anonymous_id, group_id),
            (context, integrations, timestamp, message_id),
            context_group=False,
        )
        traits = _object(traits, "traits", problems)
        data["traits"] = dict(traits) if traits else {}
        return self._emit(Group, data, "group", problems)

    def page(
        self,
        *,
        name: str | None = None,
        category: str | None = None,
        properties: JsonMap | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> Page:
        """Send ``page``: a web page viewed, e.g. ``page(name="Pricing", user_id="u_1")``.

        Page's reserved ``properties`` are ``url``, ``path``, ``referrer``,
        ``title`` and ``search``. ``group_id``, if given, goes in ``context.groupId``.
        """
        return cast(
            "Page",
            self._view(
                Page,
                (name, category, properties),
                (user_id, anonymous_id, group_id),
                (context, integrations, timestamp, message_id),
            ),
        )

    def screen(
        self,
        *,
        name: str | None = None,
        category: str | None = None,
        properties: JsonMap | None = None,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> Screen:
        """Send ``screen``: a mobile app screen viewed; the arguments of ``page``."""
        return cast(
            "Screen",
            self._view(
                Screen,
                (name, category, properties),
                (user_id, anonymous_id, group_id),
                (context, integrations, timestamp, message_id),
            ),
        )

    def alias(
        self,
        *,
        previous_id: str,
        user_id: str | None = None,
        context: JsonMap | None = None,
        integrations: JsonMap | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> Alias:
        """Send ``alias``: the user known as ``previous_id`` (often anonymous) is ``user_id``.

        ``user_id`` may come from an open ``scope``; it is required either way.
        """
        problems: list[Problem] = []
        data = self._envelope(
            Alias,
            problems,
            (user_id, None, None),
            (context, integrations, timestamp, message_id),
            scope_group=False,
        )
        data["previousId"] = previous_id
        return self._emit(Alias, data, "alias", problems)

    def _view(
        self, cls: type[Page | Screen], own: tuple[Any, Any, Any], ids: Ids, given: Given
    ) -> Page | Screen:
        """A page or a screen (the same fields); ``own``: its name, category and properties."""
        problems: list[Problem] = []
        data = self._envelope(cls, problems, ids, given)
        kind = cls.model_fields["type"].default
        name, category, properties = own
        if name is not None:
            data["name"] = name
        if category is not None:
            data["category"] = category
        properties = _object(properties, "properties", problems)
        data["properties"] = {k: v for k, v in (properties or {}).items() if v is not None}
        return self._emit(cls, data, kind, problems)


_CONTEXTS: dict[tuple[type[Context], object], Context] = {}
"""Validated contexts of calls without a ``context`` argument, by (context model, group_id)."""
_MAX_CONTEXTS = 4096


def _context(cls: type[Message], group_id: object) -> Context | dict[str, Any]:
    """The context ``{"groupId": group_id, "library": LIBRARY}`` of ``cls``, once per account.

    Most calls pass no ``context``: theirs is the account and the library, the
    same for every event of an account. Contexts are frozen, so one validated
    instance serves them all; validating it again per event was a fifth of a
    build (#18). A ``group_id`` that is not a string, or that the model refuses,
    is handed back as a dict for the message's validation to report in place.
    """
    if group_id is not None and type(group_id) is not str:
        return {"groupId": group_id, "library": LIBRARY}
    model = _CONTEXT_MODEL[cls]
    key = (model, group_id)  # the context model, not the class: a few entries per account
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        data: dict[str, Any] = {"library": LIBRARY}
        if group_id is not None:
            data["groupId"] = group_id
        try:
            ctx = model.__pydantic_validator__.validate_python(data)
        except ValidationError:
            return data
        if len(_CONTEXTS) >= _MAX_CONTEXTS:  # many accounts: start over rather than grow
            _CONTEXTS.clear()
        _CONTEXTS[key] = ctx
    return ctx


def _made(cls: type[Message], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with what the library makes (type, event, messageId, timestamp) filled in.

    For an invalid message only, off the hot path: the error and ``on_invalid``
    see the message as it would have gone on the wire.
    """
    made: dict[str, Any] = {"type": cls.model_fields["type"].default}
    event = cls.model_fields.get("event")
    if event is not None and isinstance(event.default, str):
        made["event"] = event.default
    made["messageId"] = new_message_id()
    made["timestamp"] = now()
    made.update(data)
    if isinstance(made["context"], Context):  # a shared one (_context): as the wire has it
        made["context"] = made["context"].model_dump(by_alias=True, exclude_none=True)
    return made


def _completed(
    scoped: Identity, ids: Ids, context: Any, *, context_group: bool, scope_group: bool
) -> tuple[Any, Any, Any, Any]:
    """The call's ids and context with what it left out taken from the open scope.

    Each id the call gives wins; a call without a ``group_id`` parameter
    (``scope_group=False``) gets no group, nor one whose own context names the
    account. The scope's context is merged under the call's.
    """
    user_id, anonymous_id, group_id = ids
    if user_id is None:
        user_id = scoped.user_id
    if anonymous_id is None:
        anonymous_id = scoped.anonymous_id
    named = context_group and context and context.get("groupId") is not None
    if group_id is None and scope_group and not named:
        group_id = scoped.group_id
    if scoped.context:
        context = merge_context(scoped.context, context)
    return user_id, anonymous_id, group_id, context


def _nests(data: dict[str, Any]) -> bool:
    """Whether an object or array the caller gave holds another: then the nesting is measured.

    Most calls give flat properties and context, passed over here with a type
    check per value.
    """
    for value in data.values():
        kind = type(value)
        if kind is dict:
            if _holds_nested(value):
                return True
        elif kind is list:
            return True
    return False


def _holds_nested(mapping: Mapping[str, Any]) -> bool:
    """Whether ``mapping`` holds an object or array (``context.library`` is the library's own)."""
    for item in mapping.values():
        kind = type(item)
        if (kind is dict or kind is list) and item is not LIBRARY:
            return True
    return False


def _not_an_event(event: object, positional: tuple[object, ...]) -> TypeError:
    """The error of a ``track(...)`` call given something else than one ``Event``.

    Mostly analytics-python's positional ``track(user_id, event, properties)``:
    say where that signature lives, and what the typed calls are.
    """
    if positional:
        given = f"{1 + len(positional)} positional arguments"
    else:
        given = f"a {type(event).__name__}"
    return TypeError(
        f"track() takes one b2b_events.Event instance and keyword arguments, not {given}. "
        "For analytics-python's track(user_id, event, properties, ...) use "
        "b2b_events.analytics.track; with the typed builders, call the event's method "
        "(track.signed_up(user_id=..., group_id=..., ...)) or, for any event by name, "
        "track.event(name, user_id=..., properties={...})"
    )


def _object(value: Any, path: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    """``value`` if it is a mapping (or None); else a problem, and None in its place."""
    if value is None or isinstance(value, Mapping):
        return value
    problems.append(Problem(path, f"must be an object, not {type(value).__name__}"))
    return None
