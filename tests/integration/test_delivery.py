"""The delivery engine against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from batch_server import BatchServer, Reply, Request, Reset, basic_auth
from forking import in_forked_child
from scripts import run_script

import b2b_events
from b2b_events import Client

KEY = "wk_test_0123456789abcdef"


def make_client(server: BatchServer | str, **options: Any) -> Client:
    url = server if isinstance(server, str) else server.url
    defaults: dict[str, Any] = {"flush_interval": 0.05, "retry_backoff": 0.02}
    return Client(write_key=KEY, endpoint=url, **{**defaults, **options})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def signed_in(client: Client, n: int, prefix: str = "u") -> list[str]:
    return [
        client.track.signed_in(user_id=f"{prefix}{i}", group_id="acct_1").message_id
        for i in range(n)
    ]


def test_events_from_many_threads_are_delivered_exactly_once(server: BatchServer) -> None:
    with make_client(server) as client:
        ids: list[str] = []
        lock = threading.Lock()

        def worker(t: int) -> None:
            mine = signed_in(client, 1250, prefix=f"t{t}-")
            with lock:
                ids.extend(mine)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.flush(timeout=30)
        stats = client.stats
    received = server.accepted_ids()
    assert len(received) == 10_000
    assert sorted(received) == sorted(ids)
    assert stats.delivered == 10_000
    assert stats.dropped_total == 0


def test_batches_stay_within_count_and_byte_limits(server: BatchServer) -> None:
    big = "x" * 30_000
    with make_client(server, max_batch_events=50, flush_interval=5) as client:
        signed_in(client, 300)
        for i in range(40):
            client.track.signed_in(user_id=f"big{i}", group_id="acct_1", properties={"pad": big})
        assert client.flush(timeout=30)
    assert len(server.accepted()) == 340
    assert all(len(r.batch) <= 50 for r in server.requests)
    assert all(len(r.body) <= 475_000 for r in server.requests)
    # Some batches were cut by bytes, not by count.
    assert any(len(r.body) > 400_000 and len(r.batch) < 50 for r in server.requests)


def test_requests_carry_gzip_basic_auth_and_the_envelope(server: BatchServer) -> None:
    with make_client(server) as client:
        msg = client.track.account_created(user_id="u_1", group_id="acct_1", account_name="Initech")
        assert client.flush(timeout=5)
    (request,) = server.requests
    assert request.path == "/v1/batch"
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.raw) == request.body
    assert request.headers["authorization"] == basic_auth(KEY)
    assert request.headers["user-agent"] == f"b2b-events/{b2b_events.__version__}"
    assert request.headers["content-type"] == "application/json"
    assert request.payload["writeKey"] == KEY
    assert datetime.fromisoformat(request.payload["sentAt"].replace("Z", "+00:00"))
    assert request.batch == [msg.to_wire()]


def test_gzip_can_be_turned_off(server: BatchServer) -> None:
    with make_client(server, gzip=False) as client:
        signed_in(client, 3)
        assert client.flush(timeout=5)
    (request,) = server.requests
    assert "content-encoding" not in request.headers
    assert len(json.loads(request.raw)["batch"]) == 3


def test_server_errors_are_retried_with_the_same_message_ids(server: BatchServer) -> None:
    server.script(Reply(500), Reply(502), Reply(503))
    with make_client(server) as client:
        ids = signed_in(client, 5)
        assert client.flush(timeout=10)
        stats = client.stats
    assert [r.status for r in server.requests] == [500, 502, 503, 200]
    for request in server.requests:
        assert [m["messageId"] for m in request.batch] == ids
    assert stats.retries == 3
    assert stats.delivered == 5


def test_retry_after_is_honoured(server: BatchServer) -> None:
    server.script(Reply(429, {"Retry-After": "1"}))
    with make_client(server) as client:
        signed_in(client, 1)
        assert client.flush(timeout=10)
    first, second = server.requests
    assert second.received - first.received >= 0.9


def test_retry_after_is_capped(server: BatchServer) -> None:
    server.script(Reply(429, {"Retry-After": "3600"}))
    with make_client(server, max_retry_after=0.1) as client:
        signed_in(client, 1)
        assert client.flush(timeout=10)
        assert client.stats.delivered == 1


def test_events_survive_connection_refused_until_the_server_starts() -> None:
    port = free_port()
    with make_client(f"http://127.0.0.1:{port}", retry_backoff=0.05) as client:
        ids = signed_in(client, 10)
        time.sleep(2.0)  # the endpoint refuses connections meanwhile
        late = BatchServer(port)
        try:
            assert client.flush(timeout=20)
            assert client.stats.retries >= 1
            assert sorted(late.accepted_ids()) == sorted(ids)
        finally:
            late.close()


def test_connection_reset_is_retried(server: BatchServer) -> None:
    server.script(Reset())
    with make_client(server) as client:
        ids = signed_in(client, 4)
        assert client.flush(timeout=10)
    assert [r.status for r in server.requests] == [-1, 200]
    assert server.accepted_ids() == ids


def test_slow_server_times_out_and_the_retry_resends_the_same_ids(server: BatchServer) -> None:
    server.script(Reply(200, delay=1.0))
    with make_client(server, timeout=0.3) as client:
        ids = signed_in(client, 3)
        assert client.flush(timeout=10)
        assert client.stats.retries >= 1
    # The server kept the slow copy too: at-least-once, de-duplicated by messageId.
    assert server.wait_for(6)
    assert sorted(server.accepted_ids()) == sorted(ids + ids)


def _poison_400(request: Request) -> Reply:
    poisoned = any(m.get("properties", {}).get("poison") for m in request.batch)
    return Reply(400 if poisoned else 200)


def test_a_400_isolates_the_rejected_message_and_delivers_the_rest(server: BatchServer) -> None:
    server.responder = _poison_400
    dropped: list[tuple[str, list[dict[str, Any]]]] = []
    with make_client(server, on_drop=lambda r, m: dropped.append((r, m)), flush_interval=1) as c:
        ids = signed_in(c, 10)
        bad = c.track.signed_in(user_id="bad", group_id="acct_1", properties={"poison": True})
        ids += signed_in(c, 10, prefix="v")
        assert c.flush(timeout=10)
        stats = c.stats
    assert sorted(server.accepted_ids()) == sorted(ids)
    assert stats.dropped["rejected"] == 1
    assert [(r, [m["messageId"] for m in ms]) for r, ms in dropped] == [
        ("rejected", [bad.message_id])
    ]


def test_a_413_splits_the_batch_until_it_fits(server: BatchServer) -> None:
    server.responder = lambda request: Reply(413 if len(request.batch) > 8 else 200)
    with make_client(server, flush_interval=1) as client:
        ids = signed_in(client, 50)
        assert client.flush(timeout=10)
        assert client.stats.dropped_total == 0
    assert sorted(server.accepted_ids()) == sorted(ids)
    assert all(len(r.batch) <= 8 for r in server.requests if r.status == 200)


def test_a_bad_write_key_drops_as_rejected_with_one_clear_error(
    server: BatchServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.responder = lambda request: Reply(401)
    caplog.set_level(logging.DEBUG, logger="b2b_events")
    with make_client(server) as client:
        for _ in range(3):
            signed_in(client, 1)
            assert client.flush(timeout=5)
        stats = client.stats
        text = f"{client!r} {stats}"
    assert stats.dropped["rejected"] == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "write key" in errors[0].getMessage()
    assert KEY not in caplog.text
    assert KEY not in text


def test_write_key_never_appears_in_logs_during_retries(
    server: BatchServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(500), Reset(), Reply(429, {"Retry-After": "0"}))
    caplog.set_level(logging.DEBUG)
    with make_client(server) as client:
        signed_in(client, 2)
        assert client.flush(timeout=10)
    assert caplog.records  # retries were logged ...
    assert KEY not in caplog.text  # ... without the key


def test_sync_mode_delivers_before_the_call_returns(server: BatchServer) -> None:
    with make_client(server, sync=True) as client:
        msg = client.track.signed_up(user_id="u_1", group_id="acct_1", type="organic")
        assert server.accepted_ids() == [msg.message_id]
        assert client.stats.delivered == 1


def test_sync_mode_retries_within_the_call(server: BatchServer) -> None:
    server.script(Reply(503))
    with make_client(server, sync=True) as client:
        msg = client.track.signed_in(user_id="u_1", group_id="acct_1")
        assert server.accepted_ids() == [msg.message_id]
        assert client.stats.retries == 1


def test_flush_times_out_while_the_endpoint_is_down_and_close_accounts_for_all() -> None:
    with make_client(f"http://127.0.0.1:{free_port()}", retry_backoff=0.05) as client:
        signed_in(client, 20)
        assert client.flush(timeout=0.3) is False
        client.close(timeout=0.2)
        stats = client.stats
    assert stats.pending == 0
    # unconfirmed: close() ran out of time while an attempt was still connecting
    gone = stats.dropped["timeout"] + stats.dropped["retries_exhausted"]
    assert gone + stats.dropped["unconfirmed"] == stats.dropped_total == 20


def test_retries_exhausted_are_dropped_and_counted(server: BatchServer) -> None:
    server.responder = lambda request: Reply(503)
    with make_client(server, max_retries=2) as client:
        signed_in(client, 4)
        assert client.flush(timeout=10)
        stats = client.stats
    assert len(server.requests) == 3
    assert stats.dropped["retries_exhausted"] == 4
    assert stats.retries == 2


_EXIT_SCRIPT = """
import sys
from b2b_events import Client
client = Client(write_key="k", endpoint=sys.argv[1], flush_interval=5)
for i in range(5000):
    client.track.signed_in(user_id=f"u{i}", group_id="acct_1")
# no flush(), no close(): the exit handler must deliver
"""

_EXIT_DEFAULT_SCRIPT = """
import b2b_events
for i in range(500):
    b2b_events.track.signed_in(user_id=f"u{i}", group_id="acct_1")
"""


def test_a_script_that_exits_without_flush_delivers_everything(server: BatchServer) -> None:
    result = run_script(_EXIT_SCRIPT, server.url)
    assert result.returncode == 0, result.stderr
    assert len(set(server.accepted_ids())) == 5000


def test_the_default_client_from_the_environment_delivers_at_exit(server: BatchServer) -> None:
    env = {**os.environ, "B2B_EVENTS_WRITE_KEY": "k", "B2B_EVENTS_ENDPOINT": server.url}
    result = run_script(_EXIT_DEFAULT_SCRIPT, env=env)
    assert result.returncode == 0, result.stderr
    assert len(set(server.accepted_ids())) == 500
    assert server.requests[0].payload["writeKey"] == "k"


def test_a_forked_child_sends_its_events_and_not_the_parents(server: BatchServer) -> None:
    with make_client(server, flush_interval=30) as client:
        parent_ids = signed_in(client, 10, prefix="parent")  # queued, not yet sent

        def child() -> dict[str, Any]:
            child_ids = signed_in(client, 5, prefix="child")
            ok = client.flush(timeout=10) and client.stats.delivered == 5
            return {"ok": ok, "ids": child_ids}

        report = in_forked_child(child)
        assert report.get("ok"), report
        assert client.flush(timeout=10)
        assert client.stats.delivered == 10
    received = server.accepted_ids()
    assert sorted(received) == sorted(parent_ids + report["ids"])


def test_a_forked_child_makes_other_message_ids_than_its_parent() -> None:
    # Ids are made ahead in blocks: the child must not hand out the parent's next ones.
    track = b2b_events.Tracker()
    track.identify(user_id="u")  # the parent holds ids made ahead now

    child_ids = in_forked_child(lambda: [track.identify(user_id="u").message_id for _ in range(5)])
    parent_ids = [track.identify(user_id="u").message_id for _ in range(5)]

    assert len(set(child_ids)) == 5
    assert not set(child_ids) & set(parent_ids)


def test_a_forked_child_closing_without_sending_leaves_the_parents_connections_open(
    server: BatchServer,
) -> None:
    with make_client(server) as client:
        signed_in(client, 1)
        assert client.flush(timeout=10)  # the pool now holds a connection to the server
        transport = client._worker._transport
        assert isinstance(transport, b2b_events.HttpTransport)

        def child() -> dict[str, Any]:
            client.close(timeout=1)  # as at a multiprocessing child's end
            return {"closed": transport._client.is_closed}

        report = in_forked_child(child)
        assert report == {"closed": False}
        signed_in(client, 1)
        assert client.flush(timeout=10)
    assert len(server.accepted_ids()) == 2


def test_a_child_forked_while_the_default_client_is_made_can_make_its_own(
    server: BatchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent's default-client lock, held at the fork, must not hang the child."""
    monkeypatch.setenv("B2B_EVENTS_WRITE_KEY", "k")
    monkeypatch.setenv("B2B_EVENTS_ENDPOINT", server.url)
    monkeypatch.setattr(b2b_events._default, "_default", None)

    def child() -> dict[str, Any]:
        b2b_events.track.signed_in(user_id="child", group_id="g")
        return {"ok": b2b_events.flush(timeout=10)}

    with b2b_events._default._lock:  # as a thread of ours making the default client would
        report = in_forked_child(child, timeout=20)
    assert report.get("ok"), report
    assert len(server.accepted_ids()) == 1


_FORK_CHILD_SCRIPT = """
import multiprocessing, sys
from b2b_events import Client

client = Client(write_key="k", endpoint=sys.argv[1], flush_interval=30, shutdown_timeout=1)

def child():  # tracks, never flushes or closes; the Process ends with os._exit()
    for i in range(500):
        client.track.signed_in(user_id=f"u{i}", group_id="g")

process = multiprocessing.get_context("fork").Process(target=child)
process.start()
process.join()
sys.exit(process.exitcode)
"""

_FORK_CHILD_IMPORTS_SCRIPT = """
import multiprocessing, os, sys

def child():  # b2b_events first imported here, in the child; the default client
    import b2b_events
    for i in range(500):
        b2b_events.track.signed_in(user_id=f"u{i}", group_id="g")

os.environ.update(B2B_EVENTS_WRITE_KEY="k", B2B_EVENTS_ENDPOINT=sys.argv[1])
process = multiprocessing.get_context("fork").Process(target=child)
process.start()
process.join()
sys.exit(process.exitcode)
"""


@pytest.mark.parametrize(
    "script",
    [_FORK_CHILD_SCRIPT, _FORK_CHILD_IMPORTS_SCRIPT],
    ids=["client made in the parent", "default client made in the child"],
)
def test_a_multiprocessing_fork_child_delivers_at_its_end_without_close(
    server: BatchServer, script: str
) -> None:
    result = run_script(script, server.url)
    assert result.returncode == 0, result.stderr
    assert len(set(server.accepted_ids())) == 500


def test_a_multiprocessing_fork_child_that_cannot_deliver_says_how_many_it_lost() -> None:
    result = run_script(_FORK_CHILD_SCRIPT, f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr
    assert "b2b-events dropped 500 event(s) (timeout" in result.stderr


def test_drop_mode_with_cyclic_properties_counts_the_event_and_delivers_the_rest(
    server: BatchServer,
) -> None:
    dropped: list[tuple[str, list[dict[str, Any]]]] = []
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    with make_client(
        server, on_invalid="drop", on_drop=lambda r, ms: dropped.append((r, ms))
    ) as client:
        good = signed_in(client, 2)
        client.track.signed_in(user_id="cyclic", group_id="g", properties={"loop": loop})
        assert client.flush(timeout=10)
        stats = client.stats
    assert sorted(server.accepted_ids()) == sorted(good)
    assert (stats.tracked, stats.delivered, stats.dropped["invalid"]) == (3, 2, 1)
    ((reason, (message,)),) = dropped
    assert reason == "invalid"
    assert message["userId"] == "cyclic"


def test_close_wakes_a_retry_that_is_waiting(server: BatchServer) -> None:
    server.responder = lambda request: Reply(429, {"Retry-After": "30"})
    with make_client(server) as client:
        signed_in(client, 3)
        assert server.wait_for(0)
        while not server.requests:  # the first attempt got its 429; a 30 s wait starts
            time.sleep(0.01)
        started = time.monotonic()
        client.close(timeout=0.5)
        assert time.monotonic() - started < 5  # not the 30 s Retry-After
        stats = client.stats
    assert stats.dropped["timeout"] == 3
    assert len(server.requests) == 1


_TRACK_AT_EXIT_SCRIPT = """
import atexit, sys
from b2b_events import Client
client = Client(write_key="k", endpoint=sys.argv[1])
# Registered after b2b_events' own exit handler, so it runs first (LIFO): events
# tracked while the interpreter is shutting down are still delivered.
atexit.register(lambda: [client.track.signed_in(user_id=f"u{i}", group_id="g")
                         for i in range(50)])
"""


def test_events_tracked_during_exit_are_delivered(server: BatchServer) -> None:
    result = run_script(_TRACK_AT_EXIT_SCRIPT, server.url)
    assert result.returncode == 0, result.stderr
    assert len(set(server.accepted_ids())) == 50
