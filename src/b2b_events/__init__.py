"""b2b-events: typed Segment B2B SaaS events, and a client that delivers them.

Examples:
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
from ._default import (
    alias,
    close,
    default_client,
    flush,
    group,
    identify,
    init,
    page,
    screen,
    track,
)
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
    TrackingPlanError,
)
from ._logs.reader import LogLine, read_event_log
from ._logs.replay import ReplayReport, replay
from ._logs.writer import EventLogTransport
from ._plan import TrackingPlan
from ._public import publish as _publish
from ._scope import Identity, Scope, current_identity, scope
from ._version import __version__
from .events import Event, validate
from .events._builders import Tracker

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
    "Event",
    "EventLogTransport",
    "HttpTransport",
    "Identity",
    "InvalidEventError",
    "LogLine",
    "MessageTooLargeError",
    "Problem",
    "ReplayReport",
    "Response",
    "Scope",
    "Tracker",
    "TrackingPlan",
    "TrackingPlanError",
    "Transport",
    "__version__",
    "alias",
    "close",
    "current_identity",
    "default_client",
    "flush",
    "group",
    "identify",
    "init",
    "page",
    "read_event_log",
    "replay",
    "scope",
    "screen",
    "track",
    "validate",
]

_publish(globals())
