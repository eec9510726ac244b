"""``os.register_at_fork`` for methods, held weakly: a hook never keeps its object alive.

The engine, the spool and the event-log writer each reset or reopen what a forked
child must not share with its parent (https://docs.python.org/3/library/os.html#os.register_at_fork).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from functools import partial

__all__ = ["at_fork"]

Hook = Callable[[], object]


def at_fork(
    *,
    before: Hook | None = None,
    after_in_parent: Hook | None = None,
    after_in_child: Hook | None = None,
) -> None:
    """Register bound methods as fork hooks; each is skipped once its object is gone."""
    if not hasattr(os, "register_at_fork"):  # pragma: no cover - Windows
        return
    hooks = {
        name: partial(_call, weakref.WeakMethod(method))
        for name, method in (
            ("before", before),
            ("after_in_parent", after_in_parent),
            ("after_in_child", after_in_child),
        )
        if method is not None
    }
    os.register_at_fork(**hooks)


def _call(method: weakref.WeakMethod[Hook]) -> None:
    bound = method()
    if bound is not None:
        bound()
