"""``os.register_at_fork`` for methods, held weakly: a hook never keeps its object alive.

The engine, the spool and the event-log writer each reset or reopen what a forked
child must not share with its parent (https://docs.python.org/3/library/os.html#os.register_at_fork).

``os.register_at_fork`` cannot take a hook back, so this module registers three
dispatchers once, and each object's hooks go in lists that forget them when the
object is gone: a process that creates a client per job does not pile up hooks.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["at_fork"]

logger = logging.getLogger("b2b_events")

Hook = Callable[[], object]

_Entry = tuple["weakref.ref[Any]", Callable[[Any], object]]

_hooks: dict[str, dict[int, _Entry]] = {"before": {}, "after_in_parent": {}, "after_in_child": {}}
"""Each kind's live hooks in registration order: (its object, held weakly; its function)."""


def at_fork(
    *,
    before: Hook | None = None,
    after_in_parent: Hook | None = None,
    after_in_child: Hook | None = None,
) -> None:
    """Register bound methods as fork hooks, until their object is gone."""
    for kind, method in (
        ("before", before),
        ("after_in_parent", after_in_parent),
        ("after_in_child", after_in_child),
    ):
        if method is not None:
            hooks = _hooks[kind]
            owner = weakref.ref(getattr(method, "__self__"), _forget(hooks))  # noqa: B009
            hooks[id(owner)] = (owner, getattr(method, "__func__"))  # noqa: B009


def _forget(hooks: dict[int, _Entry]) -> Callable[[weakref.ref[Any]], None]:
    """The callback that takes an object's hook out of ``hooks`` when the object dies."""

    def forget(owner: weakref.ref[Any]) -> None:
        hooks.pop(id(owner), None)

    return forget


def _run(kind: str) -> None:
    entries = list(_hooks[kind].copy().values())  # a copy: an object may die meanwhile
    if kind == "before":
        entries.reverse()  # as os.register_at_fork orders them: the last registered first
    for owner, function in entries:
        target = owner()
        if target is None:
            continue
        try:
            function(target)
        except Exception:  # the others still run, as with one registration each
            logger.exception("b2b-events: a fork hook failed (%s)", kind)


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(
        before=lambda: _run("before"),
        after_in_parent=lambda: _run("after_in_parent"),
        after_in_child=lambda: _run("after_in_child"),
    )
