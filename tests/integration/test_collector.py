"""The local collector over real HTTP: routes, validation, storage, faults, bad input."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from segment.analytics import Client as SegmentClient

from b2b_events import Client, validate
from b2b_events.collector import MAX_BODY_BYTES, Collector, iter_sqlite, running


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running() as server:
        yield server


def post(url: str, body: Any, *, path: str = "/v1/batch", **kwargs: Any) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=10, **kwargs)


def track_msg(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Signed In",
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "messageId": "m-1",
        **overrides,
    }


def test_client_batches_arrive_intact_with_received_at(collector: Collector) -> None:
    with Client(write_key="k", endpoint=collector.url, flush_interval=0.05) as client:
        sent = [
            client.track.account_created(user_id="u_1", group_id="acct_1", account_name="Initech"),
            client.track.signed_up(user_id="u_2", group_id="acct_1", email="b@initech.com"),
            client.track.signed_in(user_id="u_2", group_id="acct_2"),
        ]
        assert client.flush(timeout=10)
    stored = collector.messages()
    assert [s.message for s in stored] == [m.to_wire() for m in sent]
    assert all(s.ok for s in stored)
    assert all(s.received_at.endswith("Z") for s in stored)
    assert [s.message["userId"] for s in collector.messages(group_id="acct_1")] == ["u_1", "u_2"]
    assert len(collector.messages(event="Signed Up")) == 1
    assert len(collector.messages(user_id="u_2")) == 2
    assert [s.event for s in collector.messages(limit=1)] == ["Signed In"]


def test_single_message_routes_take_their_type(collector: Collector) -> None:
    assert post(collector.url, track_msg(), path="/v1/track").status_code == 200
    ident = {"userId": "u_1", "traits": {"email": "a@example.com"}}
    assert post(collector.url, ident, path="/v1/identify").status_code == 200
    group = {"userId": "u_1", "groupId": "acct_1", "traits": {"name": "Initech"}}
    assert post(collector.url, group, path="/v1/group").status_code == 200
    wrong = post(collector.url, {"type": "group", "userId": "u"}, path="/v1/identify")
    assert wrong.status_code == 400
    assert "identify" in wrong.json()["error"]
    assert [s.event for s in collector.messages()] == ["Signed In", "identify", "group"]
    assert all(s.ok for s in collector.messages())


def test_violations_are_recorded_like_protocols(collector: Collector) -> None:
    bad = track_msg(event="Invite Sent", context={})
    assert post(collector.url, {"batch": [bad, track_msg()]}).status_code == 200
    first, second = collector.messages()
    assert first.violations == (
        "context.groupId: required",
        "properties.invitee_email: required",
    )
    assert second.ok


def test_reject_invalid_answers_400_and_stores_nothing() -> None:
    with running(reject_invalid=True) as collector:
        bad = track_msg(context={"groupId": ""})
        response = post(collector.url, {"batch": [track_msg(), bad]})
        assert response.status_code == 400
        assert response.json()["violations"] == {"1": ["context.groupId: must not be empty"]}
        assert collector.count() == 0
        assert post(collector.url, {"batch": [track_msg()]}).status_code == 200
        assert collector.count() == 1


def test_gzip_bodies_are_accepted_and_bad_gzip_is_a_400(collector: Collector) -> None:
    body = json.dumps({"batch": [track_msg()]}).encode()
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    ok = httpx.post(collector.url + "/v1/batch", content=gzip.compress(body), headers=headers)
    assert ok.status_code == 200
    truncated = httpx.post(
        collector.url + "/v1/batch", content=gzip.compress(body)[:-12], headers=headers
    )
    assert truncated.status_code == 400
    assert "truncated" in truncated.json()["error"]
    garbage = httpx.post(collector.url + "/v1/batch", content=b"not gzip", headers=headers)
    assert garbage.status_code == 400
    assert "gzip" in garbage.json()["error"]
    trailing = httpx.post(
        collector.url + "/v1/batch", content=gzip.compress(body) + b"GARBAGE", headers=headers
    )
    assert trailing.status_code == 400
    assert "unexpected bytes after the gzip stream" in trailing.json()["error"]
    assert collector.count() == 1
    # Concatenated members are one valid gzip stream (RFC 1952), as gzip.decompress reads it.
    members = gzip.compress(body[:10]) + gzip.compress(body[10:])
    assert httpx.post(collector.url + "/v1/batch", content=members, headers=headers).is_success
    assert collector.count() == 2


def test_a_write_key_is_required_when_configured() -> None:
    with running(write_key="secret") as collector:
        basic = "Basic " + base64.b64encode(b"secret:").decode()
        assert post(collector.url, {"batch": [track_msg()]}).status_code == 401
        wrong = post(collector.url, {"batch": [track_msg()], "writeKey": "nope"})
        assert wrong.status_code == 401
        in_body = post(collector.url, {"batch": [track_msg()], "writeKey": "secret"})
        assert in_body.status_code == 200
        by_header = post(collector.url, {"batch": [track_msg()]}, headers={"Authorization": basic})
        assert by_header.status_code == 200
        lower = {"Authorization": "basic " + basic[6:]}  # schemes are case-insensitive
        assert post(collector.url, {"batch": [track_msg()]}, headers=lower).status_code == 200
        with Client(write_key="wrong", endpoint=collector.url) as client:
            client.track.signed_in(user_id="u", group_id="g")
            assert client.flush(timeout=10)
            assert client.stats.dropped["rejected"] == 1
        assert collector.count() == 3


def test_bad_input_gets_clear_4xx_and_nothing_accepted_is_lost(collector: Collector) -> None:
    assert post(collector.url, {"batch": [track_msg()]}).status_code == 200
    url = collector.url + "/v1/batch"
    cases: list[tuple[bytes, int, str]] = [
        (b"{", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'"text"', 400, "must be a JSON object"),
        (b'{"batch": {"type": "track"}}', 400, "batch must be a list"),
        (b'{"batch": [{"event": "Signed In"}]}', 400, "batch[0] has no type"),
        (b'{"batch": [42]}', 400, "batch[0] must be a JSON object"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b'{"batch": [], "sentAt": NaN}', 400, "not valid JSON"),  # JSON has no NaN
        (b'{"batch": [{"type": "track", "properties": {"x": Infinity}}]}', 400, "not valid JSON"),
    ]
    for body, status, text in cases:
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == status, body
        assert text in response.json()["error"], body
    assert httpx.get(collector.url + "/health").json() == {"status": "ok", "messages": 1}
    assert collector.messages()[0].message == track_msg()


def test_oversized_bodies_are_refused_without_reading_them(collector: Collector) -> None:
    host, port = collector.host, collector.port
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n{"
        )
        answer = b""
        while chunk := sock.recv(4096):  # the server closes: it did not read the body
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"over 500,000 bytes" in answer
    assert b'"code": "payload_too_large"' in answer
    # A small gzip body that decodes past the limit is refused too.
    bomb = gzip.compress(b'{"batch": [' + b" " * (MAX_BODY_BYTES + 10) + b"]}")
    response = httpx.post(
        collector.url + "/v1/batch", content=bomb, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "decoded body over" in response.json()["message"]
    assert post(collector.url, {"batch": [track_msg()]}).status_code == 200


def test_segment_limits_on_messages_are_a_400(collector: Collector) -> None:
    """2,500 messages per request and 32 KiB per message, as Segment answers them."""
    too_many = post(collector.url, {"batch": [track_msg(messageId=f"m{i}") for i in range(2_501)]})
    assert too_many.status_code == 400
    assert "2,501 messages, over the 2,500 limit" in too_many.json()["error"]
    big = track_msg(properties={"notes": "x" * 33_000})
    in_batch = post(collector.url, {"batch": [track_msg(), big]})
    assert in_batch.status_code == 400
    assert "batch[1] is 33,1" in in_batch.json()["error"]
    assert "over the 32,768 limit" in in_batch.json()["error"]
    alone = post(collector.url, big, path="/v1/track")
    assert alone.status_code == 400
    assert "the message is 33,1" in alone.json()["error"]
    assert collector.count() == 0
    at_limits = [track_msg(messageId=f"m{i}") for i in range(2_500)]
    assert post(collector.url, {"batch": at_limits}).status_code == 200
    assert collector.count() == 2_500


def test_limit_keeps_the_latest_and_refuses_negatives(collector: Collector) -> None:
    post(collector.url, {"batch": [track_msg(messageId=f"m{i}") for i in range(3)]})
    assert collector.messages(limit=0) == []
    assert [s.message["messageId"] for s in collector.messages(limit=2)] == ["m1", "m2"]
    assert len(collector.messages(limit=5)) == 3
    with pytest.raises(ValueError, match="0 or more"):
        collector.messages(limit=-1)
    assert httpx.get(collector.url + "/v1/messages?limit=0").json() == []
    negative = httpx.get(collector.url + "/v1/messages?limit=-1")
    assert negative.status_code == 400
    assert "0 or more" in negative.json()["error"]


@pytest.mark.parametrize("db", [False, True], ids=["memory", "sqlite"])
def test_both_stores_answer_the_same_filters(tmp_path: Path, db: bool) -> None:
    group = {
        "type": "group",
        "userId": "u_1",
        "groupId": "acct_b",  # the account the call is about
        "context": {"groupId": "acct_a"},  # the account it was made from
        "messageId": "g",
    }
    odd = {"type": "identify", "event": None, "userId": "u_2", "messageId": "i"}
    with running(db=tmp_path / "e.sqlite" if db else None) as collector:
        post(collector.url, {"batch": [group, odd, track_msg()]})

        def ids(**query: Any) -> list[str]:
            return [s.message["messageId"] for s in collector.messages(**query)]

        assert ids(group_id="acct_b") == ["g"]
        assert ids(group_id="acct_a") == ["g"]
        assert ids(group_id="acct_1") == ["m-1"]
        assert ids(group_id="acct") == []
        assert ids(event="identify") == ["i"]
        assert ids(event="group") == ["g"]
        assert ids(user_id="u_1", limit=1) == ["m-1"]


def test_get_routes(collector: Collector) -> None:
    post(collector.url, {"batch": [track_msg(), track_msg(event="Signed Out", userId="u_2")]})
    listed = httpx.get(collector.url + "/v1/messages", params={"event": "Signed Out"}).json()
    assert [item["message"]["userId"] for item in listed] == ["u_2"]
    assert listed[0]["violations"] == []
    assert "receivedAt" in listed[0]
    by_user = httpx.get(collector.url + "/v1/messages", params={"userId": "u_1"}).json()
    assert len(by_user) == 1
    limited = httpx.get(collector.url + "/v1/messages", params={"limit": "1"}).json()
    assert limited[0]["message"]["event"] == "Signed Out"
    assert httpx.get(collector.url + "/v1/messages?limit=x").status_code == 400
    assert httpx.get(collector.url + "/nope").json()["code"] == "not_found"
    assert post(collector.url, {}, path="/v1/nope").json()["code"] == "not_found"


def test_sqlite_storage_survives_a_restart_and_is_queryable(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    with running(db=db) as collector:
        post(collector.url, {"batch": [track_msg(), track_msg(messageId="m-2", context={})]})
    with running(db=db) as again:
        assert [s.message["messageId"] for s in again.messages()] == ["m-1", "m-2"]
        assert again.messages()[1].violations == ("context.groupId: required",)
    rows = sqlite3.connect(db).execute("SELECT message, received_at FROM messages ORDER BY id")
    assert [json.loads(m)["messageId"] for m, _ in rows] == ["m-1", "m-2"]
    lines = [s.to_log_line() for s in iter_sqlite(db)]
    assert all("receivedAt" in line for line in lines)
    assert validate(lines[0]).name == "Signed In"


def test_injected_faults_are_survived_by_the_client(collector: Collector) -> None:
    collector.faults.fail_next(2, status=503)
    collector.faults.rate_limit_next(1, retry_after=0.2)
    collector.faults.drop_next(1)
    with Client(
        write_key="k", endpoint=collector.url, flush_interval=0.05, retry_backoff=0.01
    ) as client:
        ids = [client.track.signed_in(user_id=f"u{i}", group_id="g").message_id for i in range(5)]
        assert client.flush(timeout=10)
        assert client.stats.retries == 4
    assert [s.message["messageId"] for s in collector.messages()] == ids


def test_delay_fault_slows_answers(collector: Collector) -> None:
    collector.faults.delay = 0.5
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(collector.url + "/v1/batch", json={"batch": [track_msg()]}, timeout=0.1)
    collector.faults.clear()
    assert post(collector.url, {"batch": [track_msg()]}).status_code == 200


def test_segment_analytics_python_is_accepted_and_stored_intact(collector: Collector) -> None:
    segment = SegmentClient("seg-key", host=collector.url, gzip=True)
    segment.track(
        "u_1", "Signed Up", {"email": "a@initech.com", "type": "organic"}, {"groupId": "acct_1"}
    )
    segment.identify("u_1", {"email": "a@initech.com"})
    segment.group("u_1", "acct_1", {"name": "Initech"})
    segment.flush()
    segment.shutdown()
    stored = collector.messages()
    assert [s.event for s in stored] == ["Signed Up", "identify", "group"]
    assert all(s.ok for s in stored), [s.violations for s in stored]
    track = stored[0].message
    assert track["properties"] == {"email": "a@initech.com", "type": "organic"}
    assert track["context"]["groupId"] == "acct_1"
    assert track["context"]["library"]["name"] == "analytics-python"


def test_stop_is_idempotent_and_frees_the_port() -> None:
    collector = Collector().start()
    port = collector.port
    collector.stop()
    collector.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_stopped_collector_refuses_kept_alive_connections() -> None:
    """A client's pooled connection must not get a 200 from a collector that has stopped."""
    collector = Collector().start()
    with httpx.Client(timeout=10) as http:
        assert http.post(collector.url + "/v1/batch", json={"batch": [track_msg()]}).is_success
        collector.stop()
        late = http.post(collector.url + "/v1/batch", json={"batch": [track_msg(messageId="m-2")]})
    assert late.status_code == 503
    assert late.headers["Connection"] == "close"


class _BrokenOut:
    def write(self, text: str) -> int:
        raise ValueError("I/O operation on closed file")

    def flush(self) -> None:
        pass


def test_a_failing_live_view_does_not_corrupt_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running(live=True, out=_BrokenOut()) as collector, httpx.Client(timeout=10) as http:
        first = http.post(collector.url + "/v1/batch", json={"batch": [track_msg()]})
        second = http.post(
            collector.url + "/v1/batch", json={"batch": [track_msg(messageId="m-2")]}
        )
        assert (first.status_code, second.status_code) == (200, 200)
        assert [m.message["messageId"] for m in collector.messages()] == ["m-1", "m-2"]
    assert "the live view failed" in caplog.text


def test_a_body_with_a_utf8_bom_is_read(collector: Collector) -> None:
    raw = b"\xef\xbb\xbf" + json.dumps({"batch": [track_msg()]}).encode()
    response = httpx.post(
        collector.url + "/v1/batch", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert [m.message["messageId"] for m in collector.messages()] == ["m-1"]
