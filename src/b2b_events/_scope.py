"""Scopes: say who and which account once, and every event inside says it too.

``with b2b_events.scope(user_id="u_1", group_id="acct_1"):`` opens a scope; any
builder called inside it (``Tracker``, ``Client``, ``AsyncClient``, the module-level
``b2b_events.track``) that leaves ``user_id``, ``anonymous_id`` or ``group_id``
out takes it from the scope, and the scope's ``context`` is merged under the
call's. The scope lives in a ``contextvars.ContextVar``, so it follows ``await``
and stays in its own thread or asyncio task: two requests in flight never see
each other's ids. ``Tracker._envelope`` is the one place that reads it.

Issue #22.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

__all__ = ["Identity", "Scope", "current_identity", "merge_context", "open_scope", "scope"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who did it and in which account: the ids a scope gives to every event inside it.

    Any field left as ``None`` is not set by this identity (an outer scope's, or
    the call's own, applies). ``context`` is merged into each event's context
    (``ip``, ``locale``, ``page``, ...); the call's own context wins key by key.

    Attributes:
        user_id: ``userId``.
        anonymous_id: ``anonymousId``.
        group_id: The account, ``context.groupId`` (``groupId`` of a group call).
        context: Extra context for every event.
    """

    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    context: Mapping[str, Any] | None = None


_current: ContextVar[Identity | None] = ContextVar("b2b_events_scope", default=None)

_entered: ContextVar[tuple[Token[Identity | None], ...]] = ContextVar(
    "b2b_events_scope_tokens", default=()
)
"""How to undo each ``with`` open in this context: so that one ``Scope`` object may
be entered in many threads and tasks at once, it keeps no state of its own."""

open_scope = _current.get
"""The identity of the innermost open scope, merged with the outer ones; None outside any."""


def current_identity() -> Identity | None:
    """The identity the open scopes give (innermost first, field by field), or None.

    Use it to carry the ids where a ``contextvars`` context does not go (a job
    queue, another process): ``with b2b_events.scope(identity): ...`` there.
    """
    return _current.get()


def merge_context(outer: Mapping[str, Any], inner: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``outer`` overlaid with ``inner``, key by key, recursing where both hold an object.

    Returns ``outer`` itself when there is nothing to overlay (no copy).
    """
    if not inner:
        return outer
    merged = dict(outer)
    for key, value in inner.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_context(below, value)
        else:
            merged[key] = value
    return merged


def _nest(outer: Identity | None, inner: Identity) -> Identity:
    """``inner`` opened inside ``outer``: each id from the inner one unless it left it out."""
    if outer is None:
        return inner
    return Identity(
        user_id=outer.user_id if inner.user_id is None else inner.user_id,
        anonymous_id=outer.anonymous_id if inner.anonymous_id is None else inner.anonymous_id,
        group_id=outer.group_id if inner.group_id is None else inner.group_id,
        context=merge_context(outer.context or {}, inner.context) or None,
    )


class Scope:
    """An identity to open: a context manager, and a decorator for functions and coroutines.

    Made by :func:`scope`. Entering it makes its identity, nested inside the
    scope already open, the current one until it exits. As a decorator it opens
    afresh on each call; a coroutine function keeps it across each ``await``.
    One ``Scope`` may be entered or called in many threads and tasks at once.
    """

    __slots__ = ("_identity",)

    def __init__(self, identity: Identity) -> None:
        """Hold ``identity`` until entered; see :func:`scope`."""
        self._identity = identity

    @property
    def identity(self) -> Identity:
        """What this scope says (before nesting inside the scopes open around it)."""
        return self._identity

    def __enter__(self) -> Identity:
        nested = _nest(_current.get(), self._identity)
        _entered.set((*_entered.get(), _current.set(nested)))
        return nested

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tokens = _entered.get()
        _entered.set(tokens[:-1])
        _current.reset(tokens[-1])

    def __call__(self, func: F) -> F:
        """Run ``func`` (a function or a coroutine function) inside this scope on every call.

        Raises:
            TypeError: ``func`` is a generator function; the scope would close
                before its body runs. Open it with ``with`` inside instead.
        """
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"scope() cannot decorate the generator function {func.__qualname__}: "
                f"use `with b2b_events.scope(...)` inside it"
            )
        identity = self._identity
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = _current.set(_nest(_current.get(), identity))  # in the awaiting task
                try:
                    return await func(*args, **kwargs)
                finally:
                    _current.reset(token)

            return cast("F", run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = _current.set(_nest(_current.get(), identity))
            try:
                return func(*args, **kwargs)
            finally:
                _current.reset(token)

        return cast("F", run)

    def __repr__(self) -> str:
        return f"<Scope {self._identity!r}>"


def scope(
    identity: Identity | None = None,
    /,
    *,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    group_id: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Scope:
    """Say who and which account once: every event inside takes the ids it leaves out.

    Inside the scope, any builder call (``b2b_events.track``, a ``Client``'s or
    an ``AsyncClient``'s, a ``Tracker``'s) that omits ``user_id``,
    ``anonymous_id`` or ``group_id`` takes the scope's; an argument given to the
    call wins. Nested scopes override field by field, and ``context`` merges
    (the inner scope's keys, then the call's, win). Outside any scope nothing
    changes: a B2B event without a group is still refused.

    The scope is held in a ``contextvars.ContextVar``: it follows ``await`` and
    ``asyncio`` tasks created inside it (each takes a copy), but not a thread
    you start yourself; run that through ``contextvars.copy_context().run``.

    Args:
        identity: An :class:`Identity` to start from (e.g. ``current_identity()``
            carried elsewhere); the keyword arguments override its fields.
        user_id: ``userId`` for the events inside.
        anonymous_id: ``anonymousId`` for the events inside.
        group_id: The account: ``context.groupId`` (``groupId`` of a group call).
        context: Context for the events inside (``ip``, ``locale``, ...).

    Returns:
        A :class:`Scope`: use it with ``with``, or as a decorator.

    Raises:
        ValueError: ``context["groupId"]`` and ``group_id`` disagree.

    Example:
        >>> import b2b_events
        >>> with b2b_events.scope(user_id="u_1", group_id="acct_1"):  # doctest: +SKIP
        ...     b2b_events.track.signed_in()  # userId u_1, context.groupId acct_1
    """
    base = identity or Identity()
    ctx = merge_context(base.context or {}, context)
    given = ctx.get("groupId")
    if given is not None:  # the account has one field: group_id
        if group_id is not None and given != group_id:
            raise ValueError(f"context['groupId'] {given!r} differs from group_id {group_id!r}")
        group_id = given
        ctx = {key: value for key, value in ctx.items() if key != "groupId"}
    return Scope(
        Identity(
            user_id=base.user_id if user_id is None else user_id,
            anonymous_id=base.anonymous_id if anonymous_id is None else anonymous_id,
            group_id=base.group_id if group_id is None else group_id,
            context=copy.deepcopy(dict(ctx)) or None,  # a snapshot: later edits to yours stay out
        )
    )
