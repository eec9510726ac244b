"""b2b-events: typed Segment B2B SaaS events, validated where you call them.

Example:
    >>> from b2b_events import Tracker
    >>> sent = []
    >>> track = Tracker(sink=sent.append)
    >>> track.account_created(user_id="u_1", group_id="acct_1", account_name="Initech").name
    'Account Created'
"""

from __future__ import annotations

from ._exceptions import (
    B2BEventsError,
    ConfigurationError,
    InvalidEventError,
    MessageTooLargeError,
    Problem,
)
from ._tracker import Tracker
from ._version import __version__
from .events import validate

__all__ = [
    "B2BEventsError",
    "ConfigurationError",
    "InvalidEventError",
    "MessageTooLargeError",
    "Problem",
    "Tracker",
    "__version__",
    "validate",
]
