"""The default client behind ``b2b_events.init`` and the module-level helpers.

``b2b_events.track.signed_in(...)`` builds with the default client, created by
``init()`` or, on first use, from ``$B2B_EVENTS_WRITE_KEY`` (and
``$B2B_EVENTS_ENDPOINT``). It is closed at exit like every open client.

``b2b_events.close()`` closes it and keeps it, closed, as the default: however it
was made, later module-level calls behave as on a closed ``Client`` (the events
are counted as dropped with reason ``closed``, passed to its ``on_drop`` and
logged), until ``init()`` makes a new one.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ._client import ENV_WRITE_KEY, Client
from ._exceptions import ConfigurationError, InvalidEventError
from .events import Message
from .events._builders import Tracker

__all__ = [
    "alias",
    "close",
    "default_client",
    "flush",
    "group",
    "identify",
    "init",
    "page",
    "screen",
    "track",
]

_lock = threading.Lock()
_default: Client | None = None


def _new_lock_after_fork() -> None:
    # A thread of the parent may have held the lock at the fork (creating the
    # default client takes tens of ms): the child's only copy would stay held.
    global _lock  # noqa: PLW0603
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def init(**options: Any) -> Client:
    """Create (or replace) the default client used by ``b2b_events.track`` and friends.

    Takes the keyword arguments of [`Client`][b2b_events.Client]. A previous default client is
    closed first, delivering what it holds.

    Examples:
        >>> import b2b_events  # doctest: +SKIP
        >>> b2b_events.init(write_key="...")  # doctest: +SKIP
        >>> b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")  # doctest: +SKIP
    """
    global _default
    client = Client(**options)
    with _lock:
        previous, _default = _default, client
    if previous is not None:
        previous.close()
    return client


def default_client() -> Client:
    """Return the default client, creating it from the environment on first use.

    After ``b2b_events.close()`` this is the closed client, until ``init()``.

    Raises:
        ConfigurationError: ``init()`` was not called and ``$B2B_EVENTS_WRITE_KEY`` is unset.
    """
    global _default  # noqa: PLW0603
    client = _default
    if client is not None:
        return client
    with _lock:
        if _default is None:
            if not os.environ.get(ENV_WRITE_KEY):
                raise ConfigurationError(
                    f"no default client: call b2b_events.init(write_key=...) "
                    f"or set ${ENV_WRITE_KEY}"
                )
            _default = Client()
        return _default


def _swap_default(client: Client | None) -> Client | None:
    """Make ``client`` the default client without closing the one it replaces; return that one.

    For ``b2b_events.testing``: a capture installs a captured client for its
    duration, then puts the previous default back as it was.
    """
    global _default
    with _lock:
        previous, _default = _default, client
    return previous


def _submit(message: Message) -> None:
    default_client()._submit(message)


def _handle_invalid(error: InvalidEventError, data: dict[str, Any]) -> None:
    default_client()._handle_invalid(error, data)


track = Tracker(sink=_submit, on_invalid=_handle_invalid)
"""The typed builders, sending through the default client: ``b2b_events.track.signed_up(...)``."""

identify = track.identify
group = track.group
page = track.page
screen = track.screen
alias = track.alias


def flush(timeout: float = 5.0) -> bool:
    """Flush the default client (True at once if there is none). See ``Client.flush``."""
    client = _default
    return True if client is None else client.flush(timeout)


def close(timeout: float | None = None) -> None:
    """Close the default client, if any. See ``Client.close``.

    It stays the default, closed: whether it came from ``init()`` or from
    ``$B2B_EVENTS_WRITE_KEY``, module-level ``track`` (and ``identify``,
    ``group``) then count events as dropped with reason ``closed``, as a closed
    ``Client`` does, instead of raising or starting another client. Call
    ``init()`` to start a new default client.
    """
    client = _default
    if client is not None:
        client.close(timeout)
