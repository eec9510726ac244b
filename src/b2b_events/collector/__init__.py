"""A local Segment-compatible collector: see what your application sends, no account needed.

Examples:
    >>> from b2b_events import Client
    >>> from b2b_events.collector import running
    >>> with running() as server:  # doctest: +SKIP
    ...     with Client(write_key="k", endpoint=server.url) as client:
    ...         client.track.signed_in(user_id="u_1", group_id="acct_1")
    ...     server.messages(event="Signed In")[0].ok
    True

From a shell: ``b2b-events collect --port 8088 --db events.sqlite``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .._public import publish as _publish
from ._faults import Fault, Faults
from ._refusals import Refusal
from ._server import MAX_BODY_BYTES, CollectorHTTPServer
from ._store import MemoryStore, SqliteStore, Store, StoredMessage, iter_sqlite
from ._view import LiveView, format_line

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = [
    "MAX_BODY_BYTES",
    "Collector",
    "Fault",
    "Faults",
    "Refusal",
    "StoredMessage",
    "format_line",
    "iter_sqlite",
    "running",
]


class Collector:
    """A Segment-compatible endpoint on this machine, with a web view at ``view_url``.

    It answers ``/v1/batch`` and Segment's single-message routes. Messages are
    validated against the spec and stored, in memory or in SQLite, with their
    violations and what Segment's pipeline adds (``receivedAt``, ``sentAt``,
    ``originalTimestamp``, the corrected ``timestamp``). ``faults`` makes it fail
    on purpose.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | Path | None = None,
        write_key: str | None = None,
        reject_invalid: bool = False,
        live: bool = False,
        out: TextIO | None = None,
        plan: TrackingPlan | None = None,
    ) -> None:
        """Bind the port (0: any free one); ``start()`` or ``serve_forever()`` to answer.

        Args:
            host: Address to bind; 127.0.0.1 keeps it on this machine.
            port: Port to bind; 0 picks a free one (see ``url``).
            db: A SQLite file to store into; messages live in memory otherwise.
            write_key: When given, requests must carry it (Basic auth or body
                ``writeKey``); others get 401. Reads (the web view,
                ``GET /v1/messages``) then need it too, as the Basic user name.
            reject_invalid: Answer 400 to a request with any invalid message
                (and store none of it), instead of storing them with their violations.
            live: Print one line per message as it arrives, and per refused request.
            out: Where the live view prints (default: stdout).
            plan: Check messages against this ``TrackingPlan`` (your own events)
                instead of the ten spec events alone.
        """
        self.faults = Faults()
        self._store: Store = SqliteStore(db) if db is not None else MemoryStore()
        view = LiveView(out) if live else None
        self._httpd = CollectorHTTPServer(
            (host, port),
            store=self._store,
            faults=self.faults,
            write_key=write_key,
            reject_invalid=reject_invalid,
            on_message=view,
            on_refusal=view.refused if view is not None else None,
            plan=plan,
        )
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        self.url = f"http://{self.host}:{self.port}"
        """Base URL to give a client as ``endpoint``."""
        self.view_url = self.url + "/"
        """The web view: open it in a browser."""
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> Collector:
        """Answer requests from a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="b2b-events-collector", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Answer requests in this thread until ``stop()`` (or KeyboardInterrupt)."""
        self._httpd.serve_forever()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop answering, let requests in progress finish (up to ``timeout``), close the store."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.stopping = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout)
        self._httpd.wait_idle(timeout)
        self._httpd.server_close()
        self._store.close()

    def messages(
        self,
        *,
        event: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
        valid: bool | None = None,
        limit: int | None = None,
    ) -> list[StoredMessage]:
        """What arrived, in order, filtered by event name (or type), userId, groupId, validity.

        Args:
            event: ``"Signed Up"``, or ``"identify"``, ``"page"``... for the other calls.
            user_id: Only messages with this ``userId``.
            group_id: Only messages of this account (``context.groupId`` or ``groupId``).
            valid: Only the valid messages (True) or only the invalid ones (False).
            limit: Keep only the latest ``limit``.
        """
        return self._store.query(
            event=event, user_id=user_id, group_id=group_id, valid=valid, limit=limit
        )

    def refusals(self) -> list[Refusal]:
        """The latest requests refused (401, 400, 413, faults...), newest first."""
        return self._httpd.refusals.latest()[1]

    def count(self) -> int:
        """How many messages were stored."""
        return self._store.count()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Collector {self.url}>"


@contextmanager
def running(**options: Any) -> Iterator[Collector]:
    """Run a collector on an ephemeral 127.0.0.1 port for the ``with`` block.

    Takes the keyword arguments of [`Collector`][b2b_events.collector.Collector].
    """
    collector = Collector(**options).start()
    try:
        yield collector
    finally:
        collector.stop()


_publish(globals())
