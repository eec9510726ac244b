"""``Client``: typed builders in front, the delivery engine behind.

The public surface is small: ``client.track.<event>(...)``, ``client.identify``,
``client.group``, ``client.page``, ``client.screen``, ``client.alias``, ``flush``,
``close``, ``stats``, and the context manager. All the machinery (queue, worker,
retries) lives in the ``_delivery`` package.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, Literal

import httpx

from ._callsite import caller
from ._delivery.accounting import Accounting, DeliveryStats, DropHook, DropReason
from ._delivery.async_worker import AsyncWorker
from ._delivery.options import Options, Overflow, at_least, positive
from ._delivery.spool import Spool, SpoolError
from ._delivery.spool_buffer import SpoolBuffer
from ._delivery.transport import (
    AsyncHttpTransport,
    AsyncTransport,
    HttpTransport,
    Transport,
    redact_url,
)
from ._delivery.wire import MAX_MESSAGE_BYTES, batch_overhead
from ._delivery.worker import ThreadWorker
from ._exceptions import ConfigurationError, InvalidEventError, MessageTooLargeError
from ._logs.writer import EventLogWriter, split_log_name
from .events import Message
from .events._builders import Tracker
from .events._common import iso_timestamp

__all__ = ["DEFAULT_ENDPOINT", "Client"]

DEFAULT_ENDPOINT = "https://api.segment.io"
ENV_WRITE_KEY = "B2B_EVENTS_WRITE_KEY"
ENV_ENDPOINT = "B2B_EVENTS_ENDPOINT"


_override: Transport | None = None


def override_transport(transport: Transport | None) -> Transport | None:
    """Hand every event an HTTP client accepts to ``transport`` instead (None: stop).

    The one seam of ``b2b_events.testing`` and the pytest plugin. It is read on
    each event, not when a client is created, so it also covers clients created
    before it was set (at import time, in fixtures, the default client): while
    it is set, a client that sends over HTTP (``HttpTransport`` or
    ``AsyncHttpTransport``, ours or given) hands each event to ``transport``
    within the call, and nothing leaves the process. Clients with another
    transport of their own are left alone. Optional parts of ``transport``:
    ``send_from(client, messages)``, called instead of ``send`` to name the
    client; ``record_invalid(error, data, client)``, told of the events an
    ``on_invalid="drop"`` client drops; a true ``write_key_optional``: clients
    created meanwhile need no write key. Returns the previous override.
    """
    global _override
    previous, _override = _override, transport
    return previous


class _BaseClient:
    """Send B2B SaaS events to a Segment-compatible endpoint, batched, in the background.

    ``client.track.signed_up(...)`` validates the event, serializes it and puts it
    on an in-memory queue: no I/O, no waiting. A background thread sends batches
    to ``POST {endpoint}/v1/batch`` and retries what can be retried. Any event
    that cannot be delivered is counted in ``stats``, passed to ``on_drop`` and
    logged (rate-limited) on the ``b2b_events`` logger; nothing goes missing silently.

    Examples:
        >>> with Client(write_key="...") as client:  # doctest: +SKIP
        ...     client.track.account_created(
        ...         user_id="u_1", group_id="acct_1", account_name="Initech"
        ...     )

    Attributes:
        track: The typed builders (one method per B2B SaaS event, plus ``event``
            for any other track event); call it with one of your own events,
            ``client.track(ReportExported(...), user_id=..., group_id=...)``.
        identify: ``identify(user_id=..., traits=...)``, as ``Tracker.identify``.
        group: ``group(group_id=..., user_id=..., traits=...)``, as ``Tracker.group``.
        page: ``page(name=..., category=..., properties=..., user_id=...)``, as ``Tracker.page``.
        screen: ``screen(...)``, the arguments of ``page``, as ``Tracker.screen``.
        alias: ``alias(user_id=..., previous_id=...)``, as ``Tracker.alias``.
    """

    _worker: ThreadWorker | AsyncWorker

    def __init__(
        self,
        *,
        write_key: str | None = None,
        endpoint: str | None = None,
        transport: Transport | AsyncTransport | None = None,
        http_client: httpx.Client | httpx.AsyncClient | None = None,
        proxy: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        gzip: bool | None = None,
        sync: bool = False,
        on_invalid: Literal["raise", "drop"] = "raise",
        on_drop: DropHook | None = None,
        max_queue_events: int = 500_000,
        max_queue_bytes: int = 256 * 1024 * 1024,
        overflow: Overflow = "drop_newest",
        block_timeout: float | None = None,
        max_batch_events: int = 1_000,
        flush_interval: float = 0.5,
        max_retries: int = 10,
        max_retry_time: float = 120.0,
        max_retry_after: float = 60.0,
        retry_backoff: float = 0.5,
        max_in_flight: int = 4,
        shutdown_timeout: float = 5.0,
        record: str | os.PathLike[str] | None = None,
        record_max_bytes: int | None = None,
        spool: str | os.PathLike[str] | None = None,
    ) -> None:
        """Create a client. Nothing is sent, and no thread started, until the first event.

        Args:
            write_key: The source's write key; default ``$B2B_EVENTS_WRITE_KEY``.
                Never logged nor shown in ``repr``.
            endpoint: Base URL; default ``$B2B_EVENTS_ENDPOINT``, else
                ``https://api.segment.io`` (EU: ``https://events.eu1.segmentapis.com``).
            transport: Send through this instead of HTTP (tests, custom sinks); an
                ``AsyncTransport`` for ``AsyncClient``. Not
                combinable with ``endpoint``, ``http_client``, ``proxy``,
                ``timeout``, ``connect_timeout`` or ``gzip``.
            http_client: An ``httpx.Client`` of yours to send with (its own
                timeouts, proxies, TLS settings apply); you close it. An
                ``httpx.AsyncClient`` for ``AsyncClient``.
            proxy: Proxy URL for the HTTP client we create.
            timeout: Seconds to wait for a response (default 15).
            connect_timeout: Seconds to wait for a connection (default 5).
            gzip: Compress request bodies (default True).
            sync: Send within each call, in the caller's thread, with the same
                retry policy; for serverless functions and one-shot scripts.
            on_invalid: ``"raise"`` (default) raises ``InvalidEventError`` (and
                ``MessageTooLargeError``) at the call site; ``"drop"`` logs, counts
                and passes the event to ``on_drop`` (reason ``invalid`` or
                ``oversize``) and returns the unvalidated message.
            on_drop: ``on_drop(reason, messages)``, called with the wire dicts
                of events given up on. Runs in the thread that dropped them;
                keep it quick; exceptions in it are logged and ignored.
            max_queue_events: Most events held in memory.
            max_queue_bytes: Most serialized bytes held in memory (default 256 MiB).
            overflow: When the queue is full: ``"drop_newest"`` (default),
                ``"drop_oldest"``, or ``"block"`` the caller up to ``block_timeout``.
            block_timeout: Seconds ``"block"`` waits for room (default 1.0), then drops.
            max_batch_events: Most events per request (at most 2,500). A request
                body also stays under 475,000 bytes.
            flush_interval: Longest wait, in seconds, before a partial batch is sent.
            max_retries: Retries of one batch after the first attempt.
            max_retry_time: Seconds after which a batch is no longer retried.
            max_retry_after: Cap, in seconds, on a server's ``Retry-After``.
            retry_backoff: Base of the exponential backoff between retries, in
                seconds: the n-th wait is random in ``[0, retry_backoff * 2**n]``,
                capped at 30 s ("full jitter").
            max_in_flight: Most batches in requests at once (1..16, default 4).
                One batch is sent at a time; while a batch waits for its
                retry, the next ones go, up to this many batches in all, so one
                failing request does not hold up the rest. Order across batches
                is then not kept (Segment promises none); 1 keeps it. With
                ``spool``, batches go one at a time.
            shutdown_timeout: Seconds the exit handler, and ``close()`` without a
                timeout, give to delivering what is still queued.
            record: Also write every event the client accepts to this event log
                (``*.jsonl``, or ``*.jsonl.gz`` for gzip), one wire message per
                line, when it is tracked: before delivery, so events later
                dropped (queue full, endpoint down) are in it too, and
                ``b2b-events replay`` can re-send them with their ``messageId``.
                Invalid and oversized events are not written. Safe from any
                thread; one process per path. A failed write is logged once
                and ends recording, never delivery. To write without sending,
                use ``transport=EventLogTransport(path)``.
            record_max_bytes: Start a new file before the log would hold more
                than this many bytes (uncompressed); the finished one is renamed
                ``<name>.000001.jsonl[.gz]``, then ``.000002``, ... Default: no limit.
            spool: Keep accepted events in a SQLite file next to this path until
                the endpoint acknowledges them: they survive the process being
                killed and long outages, and a client started later with the
                same path delivers what an earlier one left. See the
                documentation's "Durable spool" page. Not with ``sync=True``.

        Raises:
            ConfigurationError: A missing write key, a bad endpoint or an
                option out of range.
        """
        # Named in test failures: "sent by <Client ...> created at app.py:3".
        self._created_at = caller(sys._getframe(1))
        if write_key is None:
            write_key = os.environ.get(ENV_WRITE_KEY)
        if transport is None and not write_key:
            if not getattr(_override, "write_key_optional", False):
                raise ConfigurationError(
                    f"no write key: pass Client(write_key=...) or set ${ENV_WRITE_KEY}"
                )
            write_key = "captured"  # under test capture nothing is sent with it
        _check_http_options(
            transport,
            endpoint=endpoint,
            http_client=http_client,
            proxy=proxy,
            timeout=timeout,
            connect_timeout=connect_timeout,
            gzip=gzip,
        )
        if on_invalid not in ("raise", "drop"):
            raise ConfigurationError(f"on_invalid must be 'raise' or 'drop', not {on_invalid!r}")
        _check_record(record, record_max_bytes)
        options = Options.pick(locals())  # each option checked there, naming it
        self._write_key = write_key or ""
        self._endpoint: str | None = None
        if transport is None:
            self._endpoint = _check_endpoint(
                endpoint if endpoint is not None else (os.environ.get(ENV_ENDPOINT) or None)
            )
            transport = self._http_transport(
                write_key=self._write_key,
                endpoint=self._endpoint,
                gzip=True if gzip is None else gzip,
                timeout=positive("timeout", 15.0 if timeout is None else timeout),
                connect_timeout=positive(
                    "connect_timeout", 5.0 if connect_timeout is None else connect_timeout
                ),
                proxy=proxy,
                http_client=http_client,
            )
        self._over_http = isinstance(transport, (HttpTransport, AsyncHttpTransport))
        self._raise_invalid = on_invalid == "raise"
        self._accounting = Accounting(on_drop)
        if spool is not None and sync:
            raise ConfigurationError("spool= keeps events for a background worker: not with sync")
        # Under test capture not even what earlier processes left in the spool may be
        # sent: the spool is not opened (its files stay for the next real run).
        self._spool_path = None if self._over_http and _override is not None else spool
        self._shutdown_timeout = options.shutdown_timeout
        self._worker = self._new_worker(
            transport, options, batch_overhead=batch_overhead(self._write_key)
        )
        try:
            self._record = _open_record(record, record_max_bytes)
        except BaseException:
            if isinstance(self._worker, ThreadWorker):
                self._worker.close(0)  # the spool file, if any, is not left locked
            raise
        self.track = Tracker(sink=self._submit, on_invalid=self._handle_invalid)
        self.identify = self.track.identify
        self.group = self.track.group
        self.page = self.track.page
        self.screen = self.track.screen
        self.alias = self.track.alias

    # -- what differs between Client and AsyncClient ------------------------

    def _http_transport(self, **options: Any) -> Any:
        raise NotImplementedError

    def _new_worker(
        self, transport: Any, options: Options, *, batch_overhead: int
    ) -> ThreadWorker | AsyncWorker:
        raise NotImplementedError

    # -- the hot path -------------------------------------------------------

    def _submit(self, message: Message) -> bool:
        """The builders' sink: serialize and queue; whether the message was accepted.

        Not accepted: counted as dropped (``oversize``, ``closed``, ``queue_full``).
        """
        data = message.to_json()
        if len(data) > MAX_MESSAGE_BYTES:
            error = MessageTooLargeError(message.name, len(data), MAX_MESSAGE_BYTES)
            if self._raise_invalid:
                raise error
            self._accounting.refuse("oversize", [data], str(error))
            return False
        if self._record is not None:
            self._record.write(data)
        override = _override
        if override is not None and self._over_http and not self._worker.queue.closed:
            self._hand_over(override, data)
            return True
        return self._worker.submit(data)

    def _hand_over(self, override: Transport, data: bytes) -> None:
        """Under test capture: the event goes to the override, in this thread, not to HTTP."""
        with self._worker.queue.lock:  # as the queue counts what it accepts
            self._accounting.tracked += 1
        send_from = getattr(override, "send_from", None)
        response = override.send([data]) if send_from is None else send_from(self, [data])
        if 200 <= response.status < 300:
            self._accounting.add_delivered(1)
        else:
            self._accounting.drop("rejected", [data], f"HTTP {response.status} (test capture)")

    def _handle_invalid(self, error: InvalidEventError, data: dict[str, Any]) -> None:
        if self._raise_invalid:
            raise error
        self._drop_invalid(error, data)

    def _drop_invalid(self, error: InvalidEventError, data: Mapping[str, Any]) -> bytes:
        """Count, log and pass on an invalid (or oversized) message; never raises.

        Returns the message as JSON bytes, as ``on_drop`` got it.
        """
        override = _override
        record_invalid = getattr(override, "record_invalid", None) if self._over_http else None
        if record_invalid is not None:
            record_invalid(error, data, self)  # the test sees why, not just "not tracked"
        raw = _invalid_as_json(data)
        reason: DropReason = "oversize" if isinstance(error, MessageTooLargeError) else "invalid"
        self._accounting.refuse(reason, [raw], str(error))
        return raw

    def _flush_record(self) -> None:
        if self._record is not None:
            self._record.flush()

    def _close_record(self) -> None:
        if self._record is not None:
            self._record.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._worker.queue.closed

    @property
    def stats(self) -> DeliveryStats:
        """Counters since creation: tracked, delivered, dropped by reason, pending, retries."""
        return self._accounting.snapshot(self._worker.queue.pending())

    def __repr__(self) -> str:
        target = redact_url(self._endpoint) if self._endpoint is not None else "custom transport"
        state = "closed" if self.closed else "open"
        return f"<b2b_events.{type(self).__name__} {target} {state}>"


class Client(_BaseClient):
    __doc__ = _BaseClient.__doc__

    _worker: ThreadWorker

    def _http_transport(self, **options: Any) -> HttpTransport:
        http_client = options.get("http_client")
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ConfigurationError("http_client must be an httpx.Client")
        return HttpTransport(**options)

    def _new_worker(
        self, transport: Transport, options: Options, *, batch_overhead: int
    ) -> ThreadWorker:
        buffer = None
        if self._spool_path is not None:
            try:
                buffer = SpoolBuffer(Spool(self._spool_path))
            except SpoolError as exc:
                raise ConfigurationError(str(exc)) from exc
        return ThreadWorker(
            transport, self._accounting, options, batch_overhead=batch_overhead, buffer=buffer
        )

    # -- lifecycle ----------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event tracked so far is delivered or dropped.

        Args:
            timeout: Seconds to wait at most.

        Returns:
            True if nothing is pending any more, False on timeout. True does not
            mean delivered: events refused (a wrong write key, say) are settled
            too. ``stats.dropped`` counts them by reason, ``stats.last_drop`` says
            why the latest were, and each reason is logged as a warning.
        """
        self._flush_record()
        return self._worker.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then release the connection; later events are dropped.

        Idempotent. Whatever is still undelivered when ``timeout`` (default
        ``shutdown_timeout``) runs out is dropped with reason ``timeout``, or
        ``unconfirmed`` if it was in a request still waiting for its answer (the
        endpoint may have stored it).
        """
        self._worker.close(self._shutdown_timeout if timeout is None else timeout)
        self._close_record()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_endpoint(endpoint: str | None) -> str:
    """An unset endpoint (or empty variable) means Segment's; a given one must be a base URL."""
    given = DEFAULT_ENDPOINT if endpoint is None else endpoint
    try:
        url = httpx.URL(given.strip())
    except httpx.InvalidURL:
        url = httpx.URL()
    if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
        raise ConfigurationError(
            f"endpoint must be a base http(s) URL such as {DEFAULT_ENDPOINT}, "
            f"without query or fragment, not {redact_url(given)!r}"
        )
    if url.path.rstrip("/").endswith("/v1/batch"):
        # The client appends /v1/batch itself: this one would POST to .../v1/batch/v1/batch.
        base = str(url.copy_with(path=url.path.rstrip("/")[: -len("/v1/batch")] or "/"))
        raise ConfigurationError(
            f"endpoint is the base URL, without /v1/batch (the client adds it): "
            f"pass endpoint={redact_url(base.rstrip('/'))!r}, not {redact_url(given)!r}"
        )
    return given.strip()


def _check_http_options(transport: object, **given: object) -> None:
    """Refuse HTTP options that would be ignored, instead of ignoring them silently."""
    named = [name for name, value in given.items() if value is not None]
    if transport is not None and named:
        raise ConfigurationError(
            f"{', '.join(named)} configure the HTTP transport and would be ignored "
            "with transport=...; configure your transport instead"
        )
    if given["http_client"] is not None:
        ours = [n for n in ("proxy", "timeout", "connect_timeout") if given[n] is not None]
        if ours:
            raise ConfigurationError(
                f"{', '.join(ours)} apply to the HTTP client we create: "
                "set them on your http_client instead"
            )


def _check_record(record: str | os.PathLike[str] | None, max_bytes: int | None) -> None:
    if record is not None:
        split_log_name(record)
    if max_bytes is not None:
        if record is None:
            raise ConfigurationError("record_max_bytes applies only with record=...")
        at_least("record_max_bytes", max_bytes, 1)


def _open_record(
    record: str | os.PathLike[str] | None, max_bytes: int | None
) -> EventLogWriter | None:
    if record is None:
        return None
    return EventLogWriter(record, max_bytes=max_bytes, log_errors=True)


_MAX_DROP_DEPTH = 64
"""Levels of an invalid message kept for ``on_drop``; deeper values become a marker."""


def _invalid_as_json(data: Mapping[str, Any]) -> bytes:
    """An invalid message as JSON for ``on_drop``, whatever it holds; never raises.

    Cyclic containers, non-string keys and nesting deep enough to exhaust the
    stack make ``json.dumps`` raise: such a message is copied into JSON terms
    first (keys as strings, a cycle, or anything nested deeper than
    ``_MAX_DROP_DEPTH`` levels, as a marker string).
    """
    try:
        return json.dumps(data, default=_as_on_the_wire).encode()
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        return json.dumps(_json_safe(data, 0, set()), default=_as_on_the_wire).encode()
    except Exception:  # a value whose str() raises: the hook still hears of the event
        return json.dumps({"unserializable": repr(type(data))}).encode()


def _json_safe(value: Any, depth: int, seen: set[int]) -> Any:
    """``value`` with dict keys as strings, cycles and deep levels replaced by markers."""
    if not isinstance(value, dict | list | tuple):
        return value
    if depth >= _MAX_DROP_DEPTH:
        return f"<nested deeper than {_MAX_DROP_DEPTH} levels>"
    if id(value) in seen:
        return "<cycle>"
    seen.add(id(value))
    try:
        if isinstance(value, dict):
            return {
                k if isinstance(k, str) else _as_on_the_wire(k): _json_safe(v, depth + 1, seen)
                for k, v in value.items()
            }
        return [_json_safe(v, depth + 1, seen) for v in value]
    finally:
        seen.discard(id(value))


def _as_on_the_wire(value: Any) -> Any:
    """``json.dumps``'s fallback for an invalid message: dates as the wire writes them."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            return iso_timestamp(value)  # 2026-11-22T10:00:00.000Z
        except OverflowError:  # no UTC form: what may have made it invalid
            return value.isoformat()
    if isinstance(value, date):  # a date, or a naive datetime (the wire has no such thing)
        return value.isoformat()
    return str(value)
