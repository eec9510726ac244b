"""Test helpers for code that tracks with b2b-events: capture, validate, assert.

Under pytest our plugin (registered on install) keeps every client of the test
process from sending over HTTP: their events go to the running test's
``b2b_events_capture`` fixture, or are held and listed at the end of the run
for tests that did not request it (``@pytest.mark.b2b_events(send=True)`` lets
a test send for real). The fixture validates each message against the spec and
offers the assertion helpers of ``Capture``:

    def test_signup_tracks_account(b2b_events_capture):
        signup(user_id="u_1", account_id="acct_1", email="a@b.co")
        b2b_events_capture.assert_tracked(
            "Signed Up", user_id="u_1", group_id="acct_1", properties={"email": "a@b.co"}
        )

``@pytest.mark.b2b_events(strict=False, spec_only=True)`` configures it; the
builders still raise ``InvalidEventError`` at the call site whatever ``strict``
says.

Without pytest, ``with capture() as cap:`` does the same for a block;
``Capture().transport`` is a ``Transport`` that records; ``assert_valid`` checks
one message and ``validate_batch`` a whole ``/v1/batch`` request body from any
Segment-compatible sender. This package does not import pytest.
"""

from __future__ import annotations

from .._public import publish as _publish
from ._batch import InvalidBatchError, assert_valid, validate_batch
from ._capture import Capture, CapturingTransport, Messages, Violation, capture

__all__ = [
    "Capture",
    "CapturingTransport",
    "InvalidBatchError",
    "Messages",
    "Violation",
    "assert_valid",
    "capture",
    "validate_batch",
]

_publish(globals())
