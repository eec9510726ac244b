"""Deliver at the end: the exit handler, and multiprocessing children that skip it."""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from typing import Protocol

from .._logs.writer import close_open_writers

__all__ = ["open_workers"]


class _ClosesAtExit(Protocol):
    def close_at_exit(self) -> None: ...


open_workers: weakref.WeakSet[_ClosesAtExit] = weakref.WeakSet()


def _close_open_workers() -> None:
    """Deliver what open clients still hold before the interpreter exits, then finish the logs.

    Runs while the daemon worker threads are still alive; a worker without one
    sends from this thread, since new threads cannot start at shutdown. The
    event logs close last, so what the workers send to an ``EventLogTransport``
    (or record) is written.
    """
    for worker in list(open_workers):
        worker.close_at_exit()
    close_open_writers()


atexit.register(_close_open_workers)

# A multiprocessing child started with fork (or forkserver) ends with os._exit(),
# so the atexit handler above never runs in it: without more, whatever its clients
# still hold is lost without a word. Its last act before os._exit() is
# multiprocessing.util._exit_function(), which runs the finalizers registered with
# multiprocessing.util.Finalize (https://docs.python.org/3/library/multiprocessing.html,
# "Contexts and start methods"; Lib/multiprocessing/process.py, BaseProcess._bootstrap).
# The child clears the finalizers it inherits before running its target, then calls
# the functions registered with register_after_fork: ours registers the finalizer.
_CHILD_END_PRIORITY = 10
"""Above 0: runs in the first round of finalizers, before the child joins its own children."""

_watching = False  # the after-fork function is registered (inherited by children)


def _watch_multiprocessing() -> None:
    """Make multiprocessing children deliver at their end (a no-op until it is imported)."""
    global _watching  # noqa: PLW0603
    util = sys.modules.get("multiprocessing.util")
    if util is None or _watching:
        return
    _watching = True
    util.register_after_fork(_close_open_workers, _deliver_at_child_end)
    process = sys.modules.get("multiprocessing.process")
    if process is not None and process.parent_process() is not None:
        _deliver_at_child_end(None)  # first imported inside a child's target: now


def _deliver_at_child_end(_: object) -> None:
    """In a multiprocessing child: close every open client before it ends."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:  # pragma: no branch - it called us
        util.Finalize(None, _close_open_workers, exitpriority=_CHILD_END_PRIORITY)


_watch_multiprocessing()
if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(before=_watch_multiprocessing)
