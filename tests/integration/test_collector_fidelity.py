"""The collector as faithful as Segment's endpoint: what the pipeline adds, refusals that
official clients read, every route and message type, the key guarding reads, one depth limit.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from rudderstack.analytics import Client as RudderClient
from rudderstack.analytics.request import APIError as RudderAPIError
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError as SegmentAPIError
from test_collector import track_msg

from b2b_events import Client, InvalidEventError, Tracker, validate
from b2b_events._cli import main
from b2b_events._delivery.wire import MAX_DEPTH
from b2b_events._logs.replay import prepare_for_replay
from b2b_events.collector import Collector, iter_sqlite, running

KEY = "test-key"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running() as server:
        yield server


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- what Segment's pipeline adds ---------------------------------------------


def test_sent_at_and_the_corrected_timestamp_are_stored_per_message(tmp_path: Path) -> None:
    """A client clock 10 minutes ahead: the corrected timestamp moves back by as much."""
    db = tmp_path / "events.sqlite"
    now = datetime.now(timezone.utc)
    skewed = now + timedelta(minutes=10)
    happened = skewed - timedelta(seconds=30)  # 30 s before the client sent it, by its clock
    own = iso(skewed + timedelta(seconds=1))
    batch = {
        "batch": [
            track_msg(timestamp=iso(happened)),
            track_msg(messageId="m-2", sentAt=own, timestamp=iso(happened)),  # its own sentAt
            track_msg(messageId="m-3"),  # no timestamp: it happened when it arrived
        ],
        "sentAt": iso(skewed),
    }
    with running(db=db) as collector:
        assert httpx.post(collector.url + "/v1/batch", json=batch).status_code == 200
        first, second, third = collector.messages()
        listed = httpx.get(collector.url + "/v1/messages").json()

    assert first.sent_at == iso(skewed)
    assert first.original_timestamp == iso(happened)
    received = parse(first.received_at)
    assert parse(first.timestamp) == received - timedelta(seconds=30)
    assert second.sent_at == own
    assert parse(second.timestamp) == received - timedelta(seconds=31)
    assert third.original_timestamp is None
    assert third.timestamp == third.received_at
    assert listed[0]["sentAt"] == iso(skewed)
    assert listed[0]["originalTimestamp"] == iso(happened)
    assert listed[0]["timestamp"] == first.timestamp
    assert listed[0]["message"]["timestamp"] == iso(happened)  # the message as it arrived

    # export writes what Segment's archives hold; replay still drops the server's fields.
    out = io.StringIO()
    assert main(["export", str(db)], out=out) == 0
    line = json.loads(out.getvalue().splitlines()[0])
    assert line["receivedAt"] == first.received_at
    assert line["sentAt"] == iso(skewed)
    assert line["originalTimestamp"] == iso(happened)
    assert line["timestamp"] == first.timestamp
    resent = prepare_for_replay(line)
    assert not {"receivedAt", "sentAt", "originalTimestamp"} & resent.keys()
    assert resent["timestamp"] == first.timestamp
    assert [s.sent_at for s in iter_sqlite(db)] == [iso(skewed), own, iso(skewed)]


def test_a_single_route_takes_sent_at_from_its_message_and_our_client_sends_one(
    collector: Collector,
) -> None:
    sent = "2026-11-22T10:00:05.000Z"
    message = {"userId": "u", "timestamp": "2026-11-22T10:00:00.000Z", "sentAt": sent}
    assert httpx.post(collector.url + "/v1/identify", json=message).status_code == 200
    with Client(write_key="k", endpoint=collector.url, flush_interval=0.05) as client:
        client.track.signed_in(user_id="u", group_id="g")
        assert client.flush(timeout=10)
    single, ours = collector.messages()
    assert single.sent_at == sent
    received = parse(single.received_at)
    assert parse(single.timestamp) == received - timedelta(seconds=5)
    assert ours.sent_at is not None
    assert ours.original_timestamp == ours.message["timestamp"]


def test_a_database_from_before_sent_at_is_read_and_extended(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL,"
        " message_id TEXT, type TEXT, event TEXT, user_id TEXT, group_id TEXT,"
        " message TEXT NOT NULL, violations TEXT NOT NULL);"
    )
    old.execute(
        "INSERT INTO messages (received_at, type, message, violations) VALUES (?, ?, ?, ?)",
        ("2026-11-22T10:00:00.000Z", "identify", '{"type":"identify","userId":"u"}', "[]"),
    )
    old.commit()
    old.close()
    assert [s.sent_at for s in iter_sqlite(db)] == [None]  # read as it is
    with running(db=db) as collector:
        body = {"batch": [track_msg()], "sentAt": "2026-11-22T10:00:01.000Z"}
        assert httpx.post(collector.url + "/v1/batch", json=body).status_code == 200
        assert [s.sent_at for s in collector.messages()] == [None, "2026-11-22T10:00:01.000Z"]


# -- refusals that official clients read ---------------------------------------


def test_every_refusal_has_a_code_and_a_message(collector: Collector) -> None:
    url = collector.url
    answers = {
        "not_found": httpx.post(url + "/v1/nowhere", json={}),
        "bad_request": httpx.post(url + "/v1/batch", content=b"{"),
        "length_required": httpx.post(url + "/v1/batch", headers={"Transfer-Encoding": "chunked"}),
        "payload_too_large": httpx.post(
            url + "/v1/batch", content=b" " * 500_001, headers={"Content-Type": "application/json"}
        ),
    }
    collector.faults.fail_next(1, status=503)
    answers["injected_fault"] = httpx.post(url + "/v1/batch", json={"batch": []})
    for code, response in answers.items():
        body = response.json()
        assert body["code"] == code, response.text
        assert body["message"]
        assert body["error"] == body["message"]
    assert [r.code for r in collector.refusals()] == [*reversed(answers)]


def test_segment_analytics_python_reads_our_refusals() -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []

    def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
        errors.append((error, batch))

    with running(write_key=KEY) as collector:
        segment = SegmentClient("wrong-key", host=collector.url, on_error=on_error, max_retries=0)
        segment.track("u_1", "Signed In", {}, {"groupId": "acct_1"})
        segment.flush()
        segment.shutdown()
        assert collector.count() == 0
        assert collector.refusals()[0].status == 401
    ((error, batch),) = errors
    assert isinstance(error, SegmentAPIError)
    assert (error.status, error.code, error.message) == (
        401,
        "unauthorized",
        "missing or wrong write key",
    )
    assert str(error) == "[Segment] unauthorized: missing or wrong write key (401)"
    assert [m["event"] for m in batch] == ["Signed In"]


def test_rudder_sdk_python_reads_our_refusals_without_crashing() -> None:
    """rudder-sdk-python raised KeyError('code') in its error path on a body without ``code``."""
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []

    def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
        errors.append((error, batch))

    with running(write_key=KEY, reject_invalid=True) as collector:
        for key, context in (("wrong-key", {"groupId": "acct_1"}), (KEY, {})):
            rudder = RudderClient(
                key, host=collector.url, on_error=on_error, max_retries=0, gzip=False
            )
            rudder.track("u_1", "Signed In", {}, context)
            rudder.flush()
            rudder.shutdown()
        assert collector.count() == 0
    (unauthorized, _), (invalid, batch) = errors
    assert isinstance(unauthorized, RudderAPIError)
    assert (unauthorized.status, unauthorized.code) == (401, "unauthorized")
    assert unauthorized.message == "missing or wrong write key"
    assert isinstance(invalid, RudderAPIError)
    assert (invalid.status, invalid.code, invalid.message) == (
        400,
        "invalid_messages",
        "invalid messages",
    )
    assert [m["event"] for m in batch] == ["Signed In"]


def test_the_terminal_live_view_shows_refused_requests() -> None:
    out = io.StringIO()
    with running(write_key=KEY, live=True, out=out) as collector:
        assert httpx.post(collector.url + "/v1/batch", json={"batch": []}).status_code == 401
    line = out.getvalue()
    assert "REFUSED 401 POST /v1/batch from 127.0.0.1: missing or wrong write key" in line


def test_the_terminal_live_view_names_the_page_and_the_screen() -> None:
    out = io.StringIO()
    sent = {"userId": "u_1", "properties": {}}
    with running(live=True, out=out) as collector:
        for kind, name in (("page", "Pricing"), ("screen", "Home"), ("page", None)):
            body = {**sent, "type": kind} | ({"name": name} if name else {})
            assert httpx.post(f"{collector.url}/v1/{kind}", json=body).status_code == 200
    lines = out.getvalue().splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["page", "Pricing"],
        ["screen", "Home"],
        ["page", "user=u_1"],
    ]


# -- every route, every type ---------------------------------------------------


@pytest.mark.parametrize("kind", ["track", "identify", "group", "page", "screen", "alias"])
def test_each_single_route_stores_one_message_of_its_type(collector: Collector, kind: str) -> None:
    message = {"userId": "u_1", "messageId": f"id-{kind}", "sentAt": "2026-11-22T10:00:00Z"}
    response = httpx.post(f"{collector.url}/v1/{kind}", json=message)
    assert response.json() == {"success": True}
    (stored,) = collector.messages()
    assert stored.message == {**message, "type": kind}
    assert stored.sent_at == "2026-11-22T10:00:00Z"
    expected = validate_violations(stored.message)
    assert list(stored.violations) == expected  # whatever validate() says of the type
    wrong = httpx.post(f"{collector.url}/v1/{kind}", json={**message, "type": "nonsense"})
    assert wrong.status_code == 400
    assert wrong.json()["message"] == f"/v1/{kind} takes {kind} messages, not 'nonsense'"


def validate_violations(message: dict[str, Any]) -> list[str]:
    try:
        validate(message)
    except InvalidEventError as error:
        return [str(problem) for problem in error.problems]
    return []


def test_a_batch_stores_every_message_type(collector: Collector) -> None:
    kinds = ["track", "identify", "group", "page", "screen", "alias"]
    batch = [{"type": kind, "userId": "u", "messageId": kind} for kind in kinds]
    assert httpx.post(collector.url + "/v1/batch", json={"batch": batch}).status_code == 200
    assert [s.message["type"] for s in collector.messages()] == kinds
    assert [s.event for s in collector.messages(event="page")] == ["page"]


# -- the write key guards reads, and is checked first --------------------------


def test_a_write_key_guards_the_stored_messages() -> None:
    with running(write_key=KEY) as collector:
        body = {"batch": [track_msg()], "writeKey": KEY}
        assert httpx.post(collector.url + "/v1/batch", json=body).status_code == 200
        for path in ("/", "/v1/messages", "/v1/view"):
            refused = httpx.get(collector.url + path)
            assert refused.status_code == 401, path
            assert refused.json()["code"] == "unauthorized"
            assert refused.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert httpx.get(collector.url + path, headers=BASIC).status_code == 200, path
        listed = httpx.get(collector.url + "/v1/messages", headers=BASIC).json()
        assert listed[0]["message"]["userId"] == "u_1"
        assert httpx.get(collector.url + "/health").json()["messages"] == 1
        assert httpx.get(collector.url + "/static/view.js").status_code == 200  # no data in it


def raw_request(collector: Collector, head: bytes) -> bytes:
    """Send a request's head (and one byte of body) and read the answer until the server closes."""
    with socket.create_connection((collector.host, collector.port), timeout=5) as sock:
        sock.sendall(head + b"{")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_a_wrong_key_is_refused_before_the_body_is_read() -> None:
    wrong = "Basic " + base64.b64encode(b"nope:").decode()
    with running(write_key=KEY) as collector:
        answer = raw_request(
            collector,
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n"
            + f"Authorization: {wrong}\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 401"), answer  # not 413: the key comes first
        broken = httpx.post(
            collector.url + "/v1/batch", content=b"{not json", headers={"Authorization": wrong}
        )
        assert broken.status_code == 401  # not 400: nothing of the body is parsed
        keyless = httpx.post(collector.url + "/v1/batch", content=b"{not json")
        assert keyless.status_code == 401  # a body that cannot be read holds no key
        ok = httpx.post(collector.url + "/v1/batch", content=b"{not json", headers=BASIC)
        assert ok.status_code == 400


def test_an_oversize_body_is_a_413(collector: Collector) -> None:
    answer = raw_request(
        collector, b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 500001\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 413")


# -- one depth limit -----------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` deep: {"a": {"a": ... {}}}."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_the_collector_accepts_what_validate_and_the_client_accept(collector: Collector) -> None:
    # The message is level 1, its properties level 2, "deep" level 3: MAX_DEPTH - 2 fit there.
    deepest = nested(MAX_DEPTH - 2)
    with Client(write_key="k", endpoint=collector.url, flush_interval=0.05) as client:
        client.track.signed_in(user_id="u", group_id="g", properties={"deep": deepest})
        assert client.flush(timeout=10)
        with pytest.raises(InvalidEventError, match=f"nested too deeply \\(over {MAX_DEPTH}"):
            client.track.signed_in(user_id="u", group_id="g", properties={"deep": {"a": deepest}})
    (stored,) = collector.messages()
    assert stored.ok, stored.violations

    too_deep = track_msg(properties={"deep": {"a": deepest}})
    with pytest.raises(InvalidEventError) as raised:
        validate(too_deep)
    assert httpx.post(collector.url + "/v1/batch", json={"batch": [too_deep]}).is_success
    assert collector.messages()[-1].violations == tuple(str(p) for p in raised.value.problems)
    assert str(raised.value.problems[0]).endswith(f"nested too deeply (over {MAX_DEPTH} levels)")

    # Far deeper than its JSON parser reads: refused, naming the same limit.
    body = {"batch": [track_msg(properties=nested(3 * MAX_DEPTH))]}
    refused = httpx.post(collector.url + "/v1/batch", content=json.dumps(body))
    assert refused.status_code == 400
    assert f"nested past the {MAX_DEPTH}-level limit" in refused.json()["message"]


def test_the_collector_finds_a_deep_message_in_a_large_batch_and_passes_shallow_ones(
    collector: Collector,
) -> None:
    # Over 32 KiB, the collector measures each message's own JSON and bounds its nesting by
    # that text; a deep message among shallow ones is still found, at its own path.
    padding = "x" * 2_000
    shallow = [track_msg(properties={"note": padding, "n": i}) for i in range(20)]
    deep = track_msg(properties={"deep": nested(MAX_DEPTH)})
    body = {"batch": [*shallow[:10], deep, *shallow[10:]]}
    assert len(json.dumps(body)) > 32 * 1024
    assert httpx.post(collector.url + "/v1/batch", json=body).is_success
    verdicts = [stored.violations for stored in collector.messages()]
    assert verdicts[:10] == verdicts[11:] == [()] * 10
    (problem,) = verdicts[10]
    assert problem.startswith("properties.deep.a.a")
    assert problem.endswith(f"nested too deeply (over {MAX_DEPTH} levels)")


def test_validate_the_builders_and_the_cli_share_the_depth_limit(tmp_path: Path) -> None:
    at_limit = track_msg(properties=nested(MAX_DEPTH - 1))
    assert validate(at_limit).name == "Signed In"
    Tracker().signed_in(user_id="u", group_id="g", properties=nested(MAX_DEPTH - 1))
    over = track_msg(properties=nested(MAX_DEPTH))
    with pytest.raises(InvalidEventError) as raised:
        validate(over)
    ((problem),) = raised.value.problems
    assert problem.path == "properties" + ".a" * (MAX_DEPTH - 1)  # the first level too many
    with pytest.raises(InvalidEventError):
        Tracker().signed_in(user_id="u", group_id="g", properties=nested(MAX_DEPTH))
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps(at_limit) + "\n" + json.dumps(over) + "\n")
    out = io.StringIO()
    assert main(["validate", str(log)], out=out) == 1
    assert f"events.jsonl:2: Signed In: {problem}" in out.getvalue()
    assert "1 valid  1 invalid" in out.getvalue()


@pytest.mark.parametrize("db", [False, True], ids=["memory", "sqlite"])
def test_both_stores_filter_by_validity_and_count_per_event(tmp_path: Path, db: bool) -> None:
    batch = [
        track_msg(),
        track_msg(messageId="m-2", context={}),  # no account: invalid
        {"type": "identify", "userId": "u_1", "messageId": "i"},
        track_msg(messageId="m-3"),
    ]
    with running(db=tmp_path / "e.sqlite" if db else None, write_key=KEY) as collector:
        body = {"batch": batch, "writeKey": KEY}
        assert httpx.post(collector.url + "/v1/batch", json=body).status_code == 200
        assert [s.message["messageId"] for s in collector.messages(valid=False)] == ["m-2"]
        assert len(collector.messages(valid=True)) == 3
        listed = httpx.get(collector.url + "/v1/messages?valid=false", headers=BASIC).json()
        assert [item["message"]["messageId"] for item in listed] == ["m-2"]
        maybe = httpx.get(collector.url + "/v1/messages?valid=maybe", headers=BASIC)
        assert maybe.status_code == 400
        view = httpx.get(collector.url + "/v1/view?limit=2", headers=BASIC).json()
        seen = httpx.get(collector.url + "/v1/view?seen=4&refusedSeen=0", headers=BASIC).json()
        assert seen == {"unchanged": True, "total": 4, "refusedTotal": 0}
    assert view["counts"] == [
        {"event": "Signed In", "received": 3, "valid": 2},
        {"event": "identify", "received": 1, "valid": 1},
    ]
    assert [item["message"]["messageId"] for item in view["messages"]] == ["m-3", "i"]
    assert view["total"] == 4


@pytest.mark.parametrize("db", [False, True], ids=["memory", "sqlite"])
def test_the_view_pages_back_and_an_older_page_stays_put_as_messages_arrive(
    tmp_path: Path, db: bool
) -> None:
    def send(first: int, count: int) -> None:
        batch = [
            track_msg(messageId=f"m-{n}", userId=f"u_{n % 2}") for n in range(first, first + count)
        ]
        body = {"batch": batch, "writeKey": KEY}
        assert httpx.post(server.url + "/v1/batch", json=body).status_code == 200

    def view(query: str) -> dict[str, Any]:
        answer = httpx.get(server.url + "/v1/view?" + query, headers=BASIC)
        assert answer.status_code == 200, answer.text
        return cast("dict[str, Any]", answer.json())

    def ids(page: dict[str, Any]) -> list[int]:
        return [int(item["message"]["messageId"][2:]) for item in page["messages"]]

    with running(db=tmp_path / "e.sqlite" if db else None, write_key=KEY) as server:
        send(0, 25)  # m-0 .. m-24
        live = view("limit=10")
        assert (live["matching"], live["offset"], live["pageSize"]) == (25, 0, 10)
        assert ids(live) == list(range(24, 14, -1))  # newest first
        older = view("limit=10&offset=10&matching=25")
        assert ids(older) == list(range(14, 4, -1))
        send(25, 3)  # while that page is open
        still = view("limit=10&offset=10&matching=25")
        assert (still["matching"], still["offset"]) == (28, 13)
        assert ids(still) == ids(older)  # the same messages, not shifted by the new ones
        oldest = view("limit=10&offset=23&matching=28")
        assert ids(oldest) == [4, 3, 2, 1, 0]
        assert view("limit=10&offset=40&matching=28")["messages"] == []
        filtered = view("userId=u_1&limit=4&offset=4&matching=14")  # odd ones: 14 of 28
        assert ids(filtered) == [19, 17, 15, 13]
        assert filtered["matching"] == 14
        bad = httpx.get(server.url + "/v1/view?offset=-1", headers=BASIC)
        assert bad.status_code == 400
        assert "offset must be a whole number" in bad.text
