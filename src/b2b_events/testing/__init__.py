"""Test helpers for code that tracks with b2b-events: capture, validate, assert.

Under pytest, use the ``b2b_events_capture`` fixture (our plugin is registered
on install): for each test it routes ``b2b_events.track`` and every ``Client``
the test creates into memory, validates each message against the spec, and
offers the assertion helpers of :class:`Capture`::

    def test_signup_tracks_account(b2b_events_capture):
        signup(user_id="u_1", account_id="acct_1", email="a@b.co")
        b2b_events_capture.assert_tracked(
            "Signed Up", user_id="u_1", group_id="acct_1", properties={"email": "a@b.co"}
        )

``@pytest.mark.b2b_events(strict=False, spec_only=True)`` configures it.

Without pytest, ``with capture() as cap:`` does the same for a block;
``Capture().transport`` is a ``Transport`` that records; ``assert_valid`` checks
one message and ``validate_batch`` a whole ``/v1/batch`` request body from any
Segment-compatible sender. This package does not import pytest.
"""

from __future__ import annotations

from .._public import publish as _publish
from ._batch import InvalidBatchError, assert_valid, validate_batch
from ._capture import Capture, CapturingTransport, Violation, capture

__all__ = [
    "Capture",
    "CapturingTransport",
    "InvalidBatchError",
    "Violation",
    "assert_valid",
    "capture",
    "validate_batch",
]

_publish(globals())
