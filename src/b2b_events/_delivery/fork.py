"""``os.register_at_fork`` for methods, held weakly: a hook never keeps its object alive.

The delivery queue, the spool and the event-log writer each reset or reopen what a forked
child must not share with its parent (https://docs.python.org/3/library/os.html#os.register_at_fork).

``os.register_at_fork`` cannot take a hook back, so this module registers three
dispatchers once, and each object's hooks go in lists as ``weakref.WeakMethod``s
that leave the list when the object is gone: a process that creates a client per
job does not pile up hooks.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable

__all__ = ["at_fork"]

logger = logging.getLogger("b2b_events")

Hook = Callable[[], object]

_hooks: dict[str, list[weakref.WeakMethod[Hook]]] = {
    "before": [],
    "after_in_parent": [],
    "after_in_child": [],
}
"""Each kind's live hooks, in registration order."""


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
            hooks.append(weakref.WeakMethod(method, hooks.remove))


def _run(kind: str) -> None:
    methods = [ref() for ref in list(_hooks[kind])]  # a copy: an object may die meanwhile
    if kind == "before":
        methods.reverse()  # as os.register_at_fork orders them: the last registered first
    for method in methods:
        if method is None:
            continue
        try:
            method()
        except Exception:  # the others still run, as with one registration each
            logger.exception("b2b-events: a fork hook failed (%s)", kind)


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(
        before=lambda: _run("before"),
        after_in_parent=lambda: _run("after_in_parent"),
        after_in_child=lambda: _run("after_in_child"),
    )
