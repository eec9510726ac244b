"""What the collector derives per message: Segment's clock-skew correction."""

from __future__ import annotations

import pytest

from b2b_events.collector import StoredMessage
from b2b_events.collector._store import corrected_timestamp

RECEIVED = "2026-11-22T10:00:10.000Z"


@pytest.mark.parametrize(
    ("sent_at", "original", "expected"),
    [
        # The client's clock is 5 s fast: it sent at 10:00:15 what happened at 10:00:14.
        ("2026-11-22T10:00:15.000Z", "2026-11-22T10:00:14.000Z", "2026-11-22T10:00:09.000Z"),
        # Offsets are honoured; no offset reads as UTC.
        ("2026-11-22T11:00:15+01:00", "2026-11-22T10:00:14", "2026-11-22T10:00:09.000Z"),
        # Nothing to correct with: the client's timestamp stands.
        (None, "2026-11-22T10:00:14.000Z", "2026-11-22T10:00:14.000Z"),
        ("yesterday", "2026-11-22T10:00:14.000Z", "2026-11-22T10:00:14.000Z"),
        ("2026-11-22T10:00:15.000Z", "not a date", "not a date"),
        # A correction past the calendar's end is no correction.
        ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "9999-12-31T00:00:00Z"),
        # No timestamp: it happened when it arrived.
        ("2026-11-22T10:00:15.000Z", None, RECEIVED),
    ],
)
def test_the_corrected_timestamp(sent_at: str | None, original: str | None, expected: str) -> None:
    assert corrected_timestamp(RECEIVED, sent_at, original) == expected


def test_a_stored_message_lists_only_the_fields_it_has() -> None:
    bare = StoredMessage({"type": "identify", "userId": "u"}, RECEIVED)
    assert bare.server_fields() == {"receivedAt": RECEIVED, "timestamp": RECEIVED}
    sent = StoredMessage({"type": "identify", "timestamp": 5}, RECEIVED, (), RECEIVED)
    assert sent.original_timestamp is None  # not a date-time string: not the client's time
    assert sent.to_log_line() == {
        "type": "identify",
        "timestamp": RECEIVED,
        "receivedAt": RECEIVED,
        "sentAt": RECEIVED,
    }
