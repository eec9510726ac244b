"""A drop-in for analytics-python 2.x: change the import, keep every call site.

::

    import b2b_events.analytics as analytics   # was: import segment.analytics as analytics

    analytics.write_key = "YOUR_WRITE_KEY"
    analytics.track("u_1", "Signed Up", {"plan": "pro"}, context={"groupId": "acct_1"})
    analytics.flush()

The module-level settings, functions, parameter names, positional order and
defaults are analytics-python 2.4's. Every call goes through b2b-events'
engine (validation, drop accounting, retries). A track call naming one of the
ten B2B SaaS events is validated as ``client.track.<event>(...)`` validates it,
``context.groupId`` included; an invalid message is logged, counted and given
to ``on_error``, never raised (the call site never raised before). See the
migration guide (docs/migrating.md) for the way from here to the typed builders.

Settings are read when the first call creates the default client, as in
analytics-python; ``upload_size`` and ``upload_interval`` are settings here too.
"""

from __future__ import annotations

import threading
from typing import Any

from .._public import publish as _publish
from ._client import Client, DeliveryError, ErrorHook, Sent

__all__ = [
    "Client",
    "DeliveryError",
    "ErrorHook",
    "alias",
    "debug",
    "default_client",
    "flush",
    "group",
    "gzip",
    "host",
    "identify",
    "join",
    "max_queue_size",
    "max_retries",
    "on_error",
    "page",
    "screen",
    "send",
    "shutdown",
    "sync_mode",
    "timeout",
    "track",
    "upload_interval",
    "upload_size",
    "write_key",
]

# -- settings (analytics-python's defaults) ---------------------------------------
write_key: str | None = None
host: str | None = None
on_error: ErrorHook | None = None
debug: bool = False
send: bool = True
sync_mode: bool = False
gzip: bool = False
max_queue_size: int = 10000
upload_size: int = 100
upload_interval: float = 0.5
max_retries: int = 10
timeout: float = 15

default_client: Client | None = None
"""The client the functions use, created from the settings on the first call."""

_lock = threading.Lock()


def _proxy() -> Client:
    global default_client  # noqa: PLW0603 - analytics-python's module attribute
    client = default_client
    if client is None:
        with _lock:
            if default_client is None:
                default_client = Client(
                    write_key,
                    host=host,
                    debug=debug,
                    max_queue_size=max_queue_size,
                    send=send,
                    on_error=on_error,
                    gzip=gzip,
                    max_retries=max_retries,
                    sync_mode=sync_mode,
                    timeout=timeout,
                    upload_size=upload_size,
                    upload_interval=upload_interval,
                )
            client = default_client
    return client


def track(*args: Any, **kwargs: Any) -> Sent:
    """``track(user_id, event, properties, context, timestamp, anonymous_id, ...)``.

    The remaining parameters, here and below: ``integrations``, ``message_id``.
    """
    return _proxy().track(*args, **kwargs)


def identify(*args: Any, **kwargs: Any) -> Sent:
    """``identify(user_id, traits, context, timestamp, anonymous_id, ...)``."""
    return _proxy().identify(*args, **kwargs)


def group(*args: Any, **kwargs: Any) -> Sent:
    """``group(user_id, group_id, traits, context, timestamp, anonymous_id, ...)``."""
    return _proxy().group(*args, **kwargs)


def alias(*args: Any, **kwargs: Any) -> Sent:
    """``alias(previous_id, user_id, context, timestamp, integrations, message_id)``."""
    return _proxy().alias(*args, **kwargs)


def page(*args: Any, **kwargs: Any) -> Sent:
    """``page(user_id, category, name, properties, context, timestamp, anonymous_id, ...)``."""
    return _proxy().page(*args, **kwargs)


def screen(*args: Any, **kwargs: Any) -> Sent:
    """``screen(user_id, category, name, properties, context, timestamp, anonymous_id, ...)``."""
    return _proxy().screen(*args, **kwargs)


def flush() -> None:
    """Wait until everything sent so far is delivered or dropped."""
    _proxy().flush()


def join() -> None:
    """Deliver what is queued, then stop the default client."""
    _proxy().join()


def shutdown() -> None:
    """``flush()``, then ``join()``."""
    _proxy().flush()
    _proxy().join()


_publish(globals())
