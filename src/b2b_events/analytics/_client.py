"""``b2b_events.analytics.Client``: analytics-python 2.x's ``Client``, on b2b-events' engine.

The signatures, positional order and defaults are analytics-python 2.4's
(``segment/analytics/client.py``); every message goes through a
``b2b_events.Client``: its builders validate (the ten B2B SaaS events as the
typed builders do, ``context.groupId`` included), its engine batches, retries,
spools and accounts for every event.

What differs from analytics-python, on purpose:

- An invalid message is never raised (analytics-python raised
  ``AssertionError`` for some, and sent the rest unchecked): it is logged,
  counted in ``stats.dropped["invalid"]`` and given to ``on_error(error,
  [message])``, where ``error`` is the ``InvalidEventError`` naming every problem.
- Events given up on later (queue full, refused, retries exhausted, ...) reach
  ``on_error(DeliveryError(reason), messages)``, after analytics-python's
  ``on_error(error, batch)`` shape.
- Numeric ids (``userId``, ``anonymousId``, ``groupId``, ``previousId``,
  ``messageId``) are sent as strings; analytics-python stringified some of them.
- ``None`` values in ``properties`` are left out, as the typed builders do.
- A call after ``join()`` returns ``(False, message)``: the event is dropped as
  ``closed``. analytics-python returned ``True`` and never sent it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from numbers import Number
from typing import Any

from .._client import Client as _EngineClient
from .._client import _as_on_the_wire
from .._delivery.accounting import DropReason
from .._exceptions import (
    B2BEventsError,
    ConfigurationError,
    InvalidEventError,
    MessageTooLargeError,
)
from ..events import Message
from ..events._builders import Tracker

__all__ = ["Client", "DeliveryError", "ErrorHook"]

logger = logging.getLogger("b2b_events")

ErrorHook = Callable[[Exception, list[dict[str, Any]]], object]
"""analytics-python's ``on_error(error, batch)``: the error, and the messages it cost."""

Sent = tuple[bool, dict[str, Any]]
"""What every call returns, as analytics-python's: ``(accepted, message)``."""

_FLUSH_STEP = 5.0  # seconds per wait of flush(), which waits until the queue is empty
_GUESS_LOCAL = 5.0  # analytics-python's guess_timezone: a naive "now" is local time


class DeliveryError(B2BEventsError):
    """Given to ``on_error`` with events given up on after the call (not raised).

    Attributes:
        reason: The drop reason (``queue_full``, ``rejected``, ``retries_exhausted``, ...);
            see ``b2b_events.DropReason``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"events dropped: {reason}")

    def __reduce__(self) -> tuple[type[DeliveryError], tuple[str]]:
        return (type(self), (self.reason,))


class _Invalid(Exception):  # noqa: N818 - internal signal, never leaves this module
    """Raised by the tracker's ``on_invalid`` hook to end the call with what was built."""

    def __init__(self, error: InvalidEventError, data: dict[str, Any]) -> None:
        super().__init__(str(error))
        self.error = error
        self.data = data


def _raise_invalid(error: InvalidEventError, data: dict[str, Any]) -> None:
    raise _Invalid(error, data)


class _Refused(Exception):  # noqa: N818 - internal signal, never leaves this module
    """Raised by the sink when the engine did not take a valid message (full, or joined)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.name)
        self.message = message


class Client:
    """analytics-python's ``Client``: same arguments, same calls, b2b-events underneath.

    Example:
        >>> import b2b_events.analytics as analytics
        >>> client = analytics.Client("WRITE_KEY", host="http://127.0.0.1:8088")  # doctest: +SKIP
        >>> client.track("u_1", "Signed In", {}, context={"groupId": "acct_1"})  # doctest: +SKIP
        >>> client.shutdown()  # doctest: +SKIP

    Arguments map to ``b2b_events.Client`` options: ``host`` is ``endpoint``,
    ``max_queue_size`` is ``max_queue_events``, ``upload_size`` is
    ``max_batch_events`` (at most 2,500), ``upload_interval`` is
    ``flush_interval``, ``sync_mode`` is ``sync``, ``timeout`` bounds both the
    connection and the response, ``max_total_backoff_duration`` is
    ``max_retry_time`` and ``max_rate_limit_duration`` caps a server's
    ``Retry-After``. ``thread`` is accepted for compatibility: one sender
    thread sends batches of ``upload_size``. ``proxies`` is requests' mapping
    (``{"https": "http://proxy:3128"}``): the proxy for the host's scheme is
    used. OAuth (``oauth_*``) is not supported: pass a write key.
    """

    def __init__(
        self,
        write_key: str | None = None,
        host: str | None = None,
        debug: bool = False,
        max_queue_size: int = 10000,
        send: bool = True,
        on_error: ErrorHook | None = None,
        gzip: bool = False,
        max_retries: int = 10,
        sync_mode: bool = False,
        timeout: float = 15,
        proxies: Mapping[str, str] | None = None,
        thread: int = 1,
        upload_size: int = 100,
        upload_interval: float = 0.5,
        log_handler: logging.Handler | None = None,
        oauth_client_id: str | None = None,
        oauth_client_key: str | None = None,
        oauth_key_id: str | None = None,
        oauth_auth_server: str = "https://oauth2.segment.io",
        oauth_scope: str = "tracking_api:write",
        max_total_backoff_duration: float = 43200,
        max_rate_limit_duration: float = 1800,
    ) -> None:
        """Create a client; see the class docstring for how each argument maps.

        Raises:
            ConfigurationError: No write key (argument or ``$B2B_EVENTS_WRITE_KEY``),
                OAuth settings, or an option out of range.
        """
        if oauth_client_id or oauth_client_key or oauth_key_id:
            raise ConfigurationError(
                "b2b_events.analytics does not support OAuth (oauth_*): pass write_key"
            )
        if thread < 1:
            raise ConfigurationError(f"thread must be >= 1, not {thread!r}")
        if log_handler is not None:
            logger.addHandler(log_handler)
        if debug:  # analytics-python's debug: DEBUG level, and a handler if none given
            logger.setLevel(logging.DEBUG)
            if log_handler is None:
                logger.addHandler(logging.StreamHandler())
        self.send = send
        self.on_error = on_error
        self._reporting = threading.local()
        self._client: _EngineClient | None = None
        sink: Callable[[Message], object] | None = None
        if send:
            self._client = _EngineClient(
                write_key=write_key,
                endpoint=host,
                proxy=_proxy_for(proxies, host),
                timeout=timeout,
                connect_timeout=timeout,
                gzip=gzip,
                sync=sync_mode,
                on_drop=self._dropped,
                max_queue_events=max_queue_size,
                max_batch_events=upload_size,
                flush_interval=upload_interval,
                max_retries=max_retries,
                max_retry_time=max_total_backoff_duration,
                max_retry_after=max_rate_limit_duration,
            )
            sink = self._submit
        self._track = Tracker(sink=sink, on_invalid=_raise_invalid)

    @property
    def engine(self) -> _EngineClient | None:
        """The ``b2b_events.Client`` that delivers (``stats``, ...); None with ``send=False``."""
        return self._client

    # -- analytics-python's calls --------------------------------------------

    def identify(
        self,
        user_id: Any = None,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Sent:
        """Send ``identify``: who the user is. Returns ``(accepted, message)``."""
        return self._call(self._track.identify, _common(locals()), traits=traits or {})

    def track(
        self,
        user_id: Any = None,
        event: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Sent:
        """Send ``track``; one of the ten B2B SaaS events is checked as its typed builder does."""
        args = _common(locals())
        return self._call(self._track.event, args, event, properties=properties or {})

    def alias(
        self,
        previous_id: Any = None,
        user_id: Any = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Sent:
        """Send ``alias``: ``previous_id`` is now ``user_id``."""
        args = _common({**locals(), "anonymous_id": None})
        del args["anonymous_id"]  # alias has none
        return self._call(self._track.alias, args, previous_id=_id(previous_id))

    def group(
        self,
        user_id: Any = None,
        group_id: Any = None,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Sent:
        """Send ``group``: the user belongs to the account ``group_id``."""
        args = _common(locals())
        return self._call(self._track.group, args, group_id=_id(group_id), traits=traits or {})

    def page(
        self,
        user_id: Any = None,
        category: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Sent:
        """Send ``page``: a web page viewed."""
        return self._view(self._track.page, locals())

    def screen(
        self,
        user_id: Any = None,
        category: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Sent:
        """Send ``screen``: a mobile app screen viewed."""
        return self._view(self._track.screen, locals())

    def flush(self) -> None:
        """Wait until every message sent so far is delivered or dropped (as analytics-python's).

        It ends: every batch is delivered or given up on within
        ``max_total_backoff_duration``.
        """
        if self._client is not None:
            while not self._client.flush(_FLUSH_STEP):
                pass

    def join(self) -> None:
        """Deliver what is queued (within 5 s), then stop; later calls are counted as dropped."""
        if self._client is not None:
            self._client.close()

    def shutdown(self) -> None:
        """Flush, then stop (``flush()`` and ``join()``)."""
        self.flush()
        self.join()

    # -- plumbing --------------------------------------------------------------

    def _view(self, builder: Callable[..., Message], args: dict[str, Any]) -> Sent:
        """A page or a screen (the same arguments)."""
        view = {key: args[key] for key in ("name", "category")}
        return self._call(builder, _common(args), properties=args["properties"] or {}, **view)

    def _call(
        self, builder: Callable[..., Message], args: dict[str, Any], *event: Any, **kw: Any
    ) -> Sent:
        try:
            message = builder(*event, **args, **kw)
        except _Invalid as invalid:
            return False, self._report(invalid.error, invalid.data)
        except _Refused as refused:  # counted, and given to on_error, by the engine
            return False, refused.message.to_wire()
        return True, message.to_wire()

    def _submit(self, message: Message) -> None:
        """The tracker's sink: the engine's, with an oversized message reported, not raised.

        A message the queue does not take (full: ``max_queue_size``; or after
        ``join()``) ends the call with ``(False, message)``, as analytics-python's
        full queue did.
        """
        assert self._client is not None
        try:
            accepted = self._client._submit(message)
        except MessageTooLargeError as error:
            raise _Invalid(error, message.to_wire()) from None
        if not accepted:
            raise _Refused(message)

    def _report(self, error: InvalidEventError, data: dict[str, Any]) -> dict[str, Any]:
        """An invalid message: logged, counted and given to ``on_error``, never raised."""
        if self._client is None:  # send=False: nothing to count
            logger.warning("b2b_events.analytics: invalid message not sent: %s", error)
            raw = json.dumps(data, default=_as_on_the_wire).encode()
        else:
            self._reporting.active = True
            try:
                raw = self._client._drop_invalid(error, data)  # counts, logs, calls on_drop
            finally:
                self._reporting.active = False
        message: dict[str, Any] = json.loads(raw)
        self._call_on_error(error, [message])
        return message

    def _dropped(self, reason: DropReason, messages: list[dict[str, Any]]) -> None:
        if getattr(self._reporting, "active", False):
            return  # an invalid message this thread reports itself, with its error
        self._call_on_error(DeliveryError(reason), messages)

    def _call_on_error(self, error: Exception, messages: list[dict[str, Any]]) -> None:
        if self.on_error is None:
            return
        try:
            self.on_error(error, messages)
        except Exception:
            logger.exception("b2b_events.analytics: on_error raised; ignoring it")


def _id(value: Any) -> Any:
    """analytics-python's ``stringify_id``: a number becomes its string."""
    return str(value) if isinstance(value, Number) else value


def _timestamp(value: Any) -> Any:
    """A datetime as analytics-python sends it: to the millisecond, its zone guessed if naive.

    analytics-python's ``guess_timezone``: a naive datetime less than 5 s
    before the local clock (or after it) is local time (made with
    ``datetime.now()``), any other is UTC. The same guess here, so the recorded
    time does not move when the import changes. Anything else is left to
    validation.
    """
    if not isinstance(value, datetime):
        return value
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)  # timespec="milliseconds"
    if value.utcoffset() is not None:
        return value
    if (datetime.now() - value).total_seconds() < _GUESS_LOCAL:  # later ones too, as there
        return value.astimezone()  # the local zone
    return value.replace(tzinfo=timezone.utc)


def _common(args: dict[str, Any]) -> dict[str, Any]:
    """The keywords every builder takes, from an analytics-python call's arguments."""
    return {
        "user_id": _id(args["user_id"]),
        "anonymous_id": _id(args["anonymous_id"]),
        "context": args["context"] or {},
        "integrations": args["integrations"] or {},
        "timestamp": _timestamp(args["timestamp"]),
        "message_id": None if args["message_id"] is None else str(args["message_id"]),
    }


def _proxy_for(proxies: Mapping[str, str] | None, host: str | None) -> str | None:
    """The proxy requests would use for ``host`` from its ``proxies`` mapping."""
    if not proxies:
        return None
    scheme = (host or "https://").split("://", 1)[0].lower()
    return proxies.get(scheme) or proxies.get("all")
