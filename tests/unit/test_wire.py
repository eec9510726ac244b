"""The ``/v1/batch`` body: envelope, escaping, ``sentAt`` format and the overhead estimate."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from b2b_events._delivery import wire as _wire
from b2b_events._delivery.wire import batch_overhead, encode_batch, sent_at_now

SENT_AT = "2026-01-02T03:04:05.678Z"
SENT_AT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def test_encode_batch_is_json_with_messages_in_order_sent_at_and_write_key() -> None:
    messages = [json.dumps({"messageId": f"m{i}", "n": i}).encode() for i in range(3)]

    body = json.loads(encode_batch(messages, "KEY", SENT_AT))

    assert body == {
        "batch": [
            {"messageId": "m0", "n": 0},
            {"messageId": "m1", "n": 1},
            {"messageId": "m2", "n": 2},
        ],
        "sentAt": SENT_AT,
        "writeKey": "KEY",
    }


def test_encode_batch_of_no_messages_is_valid_json() -> None:
    assert json.loads(encode_batch([], "KEY", SENT_AT)) == {
        "batch": [],
        "sentAt": SENT_AT,
        "writeKey": "KEY",
    }


def test_encode_batch_keeps_message_bytes_as_given() -> None:
    message = '{"event":"Caf\\u00e9","x":"é"}'.encode()

    body = encode_batch([message, message], "KEY", SENT_AT)

    assert body.count(message) == 2


@pytest.mark.parametrize(
    "write_key",
    ['ke"y', "back\\slash", 'both\\"', "new\nline", "ünïcode", "</script>"],
)
def test_write_key_is_json_escaped(write_key: str) -> None:
    body = encode_batch([b"{}"], write_key, SENT_AT)

    assert json.loads(body)["writeKey"] == write_key


def test_encode_batch_stamps_sent_at_now_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_wire, "sent_at_now", lambda: "2030-12-31T23:59:59.999Z")

    assert json.loads(encode_batch([b"{}"], "KEY"))["sentAt"] == "2030-12-31T23:59:59.999Z"


def test_encode_batch_without_sent_at_uses_the_current_time() -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)

    sent_at = json.loads(encode_batch([b"{}"], "KEY"))["sentAt"]

    stamped = datetime.fromisoformat(sent_at.replace("Z", "+00:00"))
    assert before <= stamped <= datetime.now(timezone.utc) + timedelta(seconds=1)


@pytest.mark.parametrize("write_key", ["KEY", 'q"uo\\te', "ünïcode-key", ""])
def test_batch_overhead_is_the_size_of_an_empty_batch(write_key: str) -> None:
    assert batch_overhead(write_key) == len(encode_batch([], write_key, SENT_AT))


def test_batch_overhead_plus_messages_and_commas_is_the_body_size() -> None:
    messages = [b'{"a":1}', b'{"bb":22}', b'{"ccc":333}']

    body = encode_batch(messages, "KEY", SENT_AT)

    expected = batch_overhead("KEY") + sum(len(m) for m in messages) + len(messages) - 1
    assert len(body) == expected


def test_sent_at_now_is_utc_iso_8601_with_milliseconds_and_z() -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)

    value = sent_at_now()

    assert SENT_AT_RE.fullmatch(value), value
    stamped = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert before <= stamped <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_sent_at_now_has_the_width_batch_overhead_assumes() -> None:
    assert len(sent_at_now()) == len(SENT_AT)


def test_the_name_of_a_message_is_a_track_event_else_the_type() -> None:
    assert _wire.message_name({"type": "track", "event": "Signed Up"}) == "Signed Up"
    assert _wire.message_name({"type": "track", "event": 3}) == "track"
    assert _wire.message_name({"type": "identify", "event": "Signed Up"}) == "identify"
    assert _wire.message_name({"event": "Signed Up"}) is None
    assert _wire.message_name(None) is None
