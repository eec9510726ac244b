"""b2b-events: typed Segment B2B SaaS events, and a client that delivers them.

Example:
    >>> import b2b_events
    >>> client = b2b_events.Client(write_key="...")  # doctest: +SKIP
    >>> client.track.account_created(  # doctest: +SKIP
    ...     user_id="u_1", group_id="acct_1", account_name="Initech"
    ... )
    >>> client.close()  # doctest: +SKIP
"""

from __future__ import annotations

from ._async_client import AsyncClient
from ._client import Client
from ._default import close, default_client, flush, group, identify, init, track
from ._delivery.accounting import DROP_REASONS, DeliveryStats, DropReason
from ._delivery.transport import (
    AsyncHttpTransport,
    AsyncTransport,
    HttpTransport,
    Response,
    Transport,
)
from ._exceptions import (
    B2BEventsError,
    ConfigurationError,
    InvalidEventError,
    MessageTooLargeError,
    Problem,
)
from ._logs.reader import LogLine, read_event_log
from ._logs.replay import ReplayReport, replay
from ._logs.writer import EventLogTransport
from ._tracker import Tracker
from ._version import __version__
from .events import validate

__all__ = [
    "DROP_REASONS",
    "AsyncClient",
    "AsyncHttpTransport",
    "AsyncTransport",
    "B2BEventsError",
    "Client",
    "ConfigurationError",
    "DeliveryStats",
    "DropReason",
    "EventLogTransport",
    "HttpTransport",
    "InvalidEventError",
    "LogLine",
    "MessageTooLargeError",
    "Problem",
    "ReplayReport",
    "Response",
    "Tracker",
    "Transport",
    "__version__",
    "close",
    "default_client",
    "flush",
    "group",
    "identify",
    "init",
    "read_event_log",
    "replay",
    "track",
    "validate",
]
