"""``HttpTransport`` against respx, and ``parse_retry_after``: request shape and responses."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from b2b_events import HttpTransport, Response, Transport, __version__
from b2b_events._delivery import wire as _wire
from b2b_events._delivery.transport import parse_retry_after

ENDPOINT = "https://events.example.test"
URL = f"{ENDPOINT}/v1/batch"
MESSAGES = [
    b'{"type":"track","event":"A","messageId":"m1"}',
    b'{"type":"identify","messageId":"m2"}',
]


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def transport() -> Iterator[HttpTransport]:
    t = HttpTransport(write_key="KEY", endpoint=ENDPOINT)
    yield t
    t.close()


def body_of(request: httpx.Request) -> dict[str, Any]:
    raw = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


# -- the request --------------------------------------------------------------


def test_http_transport_satisfies_the_transport_protocol(transport: HttpTransport) -> None:
    assert isinstance(transport, Transport)


@pytest.mark.parametrize("endpoint", [ENDPOINT, ENDPOINT + "/", ENDPOINT + "//"])
def test_posts_to_v1_batch_under_the_endpoint(mock: respx.MockRouter, endpoint: str) -> None:
    route = mock.post(URL).respond(200)
    transport = HttpTransport(write_key="KEY", endpoint=endpoint)
    try:
        response = transport.send(MESSAGES)
    finally:
        transport.close()

    assert response.status == 200
    assert route.call_count == 1
    assert route.calls.last.request.method == "POST"
    assert str(route.calls.last.request.url) == URL


def test_endpoint_with_a_base_path_keeps_it(mock: respx.MockRouter) -> None:
    route = mock.post("https://proxy.example.test/segment/v1/batch").respond(200)
    transport = HttpTransport(write_key="KEY", endpoint="https://proxy.example.test/segment/")
    try:
        assert transport.send(MESSAGES).status == 200
    finally:
        transport.close()

    assert route.call_count == 1


def test_basic_auth_uses_the_write_key_and_an_empty_password(mock: respx.MockRouter) -> None:
    route = mock.post(URL).respond(200)
    transport = HttpTransport(write_key="wk_123", endpoint=ENDPOINT)
    try:
        transport.send(MESSAGES)
    finally:
        transport.close()

    expected = "Basic " + base64.b64encode(b"wk_123:").decode()
    assert route.calls.last.request.headers["Authorization"] == expected


def test_gzipped_body_is_the_batch_with_write_key_and_sent_at(
    mock: respx.MockRouter, transport: HttpTransport
) -> None:
    route = mock.post(URL).respond(200)

    transport.send(MESSAGES)

    request = route.calls.last.request
    assert request.headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(request.content))
    assert body["batch"] == [json.loads(m) for m in MESSAGES]
    assert body["writeKey"] == "KEY"
    assert isinstance(body["sentAt"], str)
    assert body["sentAt"].endswith("Z")


def test_without_gzip_the_body_is_plain_json_and_no_content_encoding(
    mock: respx.MockRouter,
) -> None:
    route = mock.post(URL).respond(200)
    transport = HttpTransport(write_key="KEY", endpoint=ENDPOINT, gzip=False)
    try:
        transport.send(MESSAGES)
    finally:
        transport.close()

    request = route.calls.last.request
    assert "Content-Encoding" not in request.headers
    body = json.loads(request.content)
    assert body["batch"] == [json.loads(m) for m in MESSAGES]
    assert body["writeKey"] == "KEY"


@pytest.mark.parametrize("use_gzip", [True, False])
def test_user_agent_and_content_type(mock: respx.MockRouter, use_gzip: bool) -> None:
    route = mock.post(URL).respond(200)
    transport = HttpTransport(write_key="KEY", endpoint=ENDPOINT, gzip=use_gzip)
    try:
        transport.send(MESSAGES)
    finally:
        transport.close()

    headers = route.calls.last.request.headers
    assert headers["User-Agent"] == f"b2b-events/{__version__}"
    assert headers["Content-Type"] == "application/json"


def test_sent_at_is_stamped_afresh_on_every_send(
    mock: respx.MockRouter, transport: HttpTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = iter(["2026-01-01T00:00:00.001Z", "2026-01-01T00:00:00.002Z"])
    monkeypatch.setattr(_wire, "sent_at_now", lambda: next(stamps))
    route = mock.post(URL).respond(200)

    transport.send(MESSAGES)
    transport.send(MESSAGES)

    first, second = (body_of(call.request) for call in route.calls)
    assert first["sentAt"] == "2026-01-01T00:00:00.001Z"
    assert second["sentAt"] == "2026-01-01T00:00:00.002Z"
    assert first["batch"] == second["batch"]


def test_repr_shows_url_but_never_the_write_key() -> None:
    transport = HttpTransport(write_key="super-secret-key", endpoint=ENDPOINT + "/")
    try:
        text = repr(transport)
    finally:
        transport.close()

    assert URL in text
    assert "super-secret-key" not in text


# -- responses ----------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 202, 204])
def test_success_statuses_come_back_ok_with_no_detail(
    mock: respx.MockRouter, transport: HttpTransport, status: int
) -> None:
    mock.post(URL).respond(status)

    response = transport.send(MESSAGES)

    assert response == Response(status, None, "")
    assert response.ok


@pytest.mark.parametrize("status", [400, 401, 404, 413, 429, 500, 503])
def test_error_statuses_come_back_as_responses(
    mock: respx.MockRouter, transport: HttpTransport, status: int
) -> None:
    mock.post(URL).respond(status, text="nope")

    response = transport.send(MESSAGES)

    assert response.status == status
    assert not response.ok
    assert "nope" in response.detail


def test_429_with_retry_after_seconds(mock: respx.MockRouter, transport: HttpTransport) -> None:
    mock.post(URL).respond(429, headers={"Retry-After": "7"})

    response = transport.send(MESSAGES)

    assert response.status == 429
    assert response.retry_after == 7.0


def test_429_with_retry_after_http_date(mock: respx.MockRouter, transport: HttpTransport) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    mock.post(URL).respond(429, headers={"Retry-After": format_datetime(when, usegmt=True)})

    response = transport.send(MESSAGES)

    assert response.retry_after is not None
    # HTTP dates have whole seconds; allow for that and for a slow test machine.
    assert 100.0 < response.retry_after <= 120.0


def test_unreadable_retry_after_is_none(mock: respx.MockRouter, transport: HttpTransport) -> None:
    mock.post(URL).respond(503, headers={"Retry-After": "soon-ish"})

    response = transport.send(MESSAGES)

    assert response.status == 503
    assert response.retry_after is None


def test_no_retry_after_is_none(mock: respx.MockRouter, transport: HttpTransport) -> None:
    mock.post(URL).respond(503)

    assert transport.send(MESSAGES).retry_after is None


@pytest.mark.parametrize(
    "value",
    ["-5", format_datetime(datetime(2001, 1, 1, tzinfo=timezone.utc), usegmt=True)],
)
def test_negative_or_past_retry_after_is_zero(
    mock: respx.MockRouter, transport: HttpTransport, value: str
) -> None:
    mock.post(URL).respond(429, headers={"Retry-After": value})

    assert transport.send(MESSAGES).retry_after == 0.0


def test_error_detail_is_the_start_of_the_body(
    mock: respx.MockRouter, transport: HttpTransport
) -> None:
    body = "invalid batch: message 3 has no userId. " + "x" * 5_000
    mock.post(URL).respond(400, text=body)

    response = transport.send(MESSAGES)

    assert response.detail.startswith("invalid batch: message 3 has no userId.")
    assert body.startswith(response.detail)
    assert len(response.detail) < 1_000


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectTimeout],
)
def test_network_errors_come_back_as_status_zero_never_raised(
    mock: respx.MockRouter, transport: HttpTransport, error: type[httpx.HTTPError]
) -> None:
    mock.post(URL).mock(side_effect=error)

    response = transport.send(MESSAGES)

    assert response.status == 0
    assert response.retry_after is None
    assert error.__name__ in response.detail
    assert not response.ok


def test_a_failure_does_not_stop_later_sends(
    mock: respx.MockRouter, transport: HttpTransport
) -> None:
    mock.post(URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200)])

    assert transport.send(MESSAGES).status == 0
    assert transport.send(MESSAGES).status == 200


# -- the httpx client ---------------------------------------------------------


def test_an_injected_client_is_used_for_sending(mock: respx.MockRouter) -> None:
    route = mock.post(URL).respond(200)
    with httpx.Client(headers={"X-Injected": "yes"}) as injected:
        transport = HttpTransport(write_key="KEY", endpoint=ENDPOINT, http_client=injected)
        transport.send(MESSAGES)
        transport.close()

        assert route.calls.last.request.headers["X-Injected"] == "yes"
        # Our headers still apply on top of the injected client's.
        assert route.calls.last.request.headers["Content-Type"] == "application/json"


def test_close_leaves_an_injected_client_open(mock: respx.MockRouter) -> None:
    mock.post(URL).respond(200)
    with httpx.Client() as injected:
        transport = HttpTransport(write_key="KEY", endpoint=ENDPOINT, http_client=injected)

        transport.close()

        assert not injected.is_closed
        assert injected.post(URL).status_code == 200


def test_close_closes_the_client_the_transport_created(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[httpx.Client] = []
    original_close = httpx.Client.close

    def recording_close(self: httpx.Client) -> None:
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(httpx.Client, "close", recording_close)
    transport = HttpTransport(write_key="KEY", endpoint=ENDPOINT)

    transport.close()

    assert len(closed) == 1
    assert closed[0].is_closed


# -- parse_retry_after --------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("120", 120.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 08:28:00 +0100", 0.0),
        ("Wednesday, 21-Oct-15 07:28:10 GMT", 10.0),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "nan", "NaN", "0x10", "Wed, 99 Foo"])
def test_parse_retry_after_returns_none_when_unreadable(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_parse_retry_after_date_defaults_to_the_current_time() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=60)

    seconds = parse_retry_after(format_datetime(when, usegmt=True))

    assert seconds is not None
    assert 50.0 < seconds <= 60.0


# -- redaction --------------------------------------------------------------------

LONG_KEY = "wk_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_a_body_echoing_the_credentials_is_redacted_in_the_detail(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    basic = base64.b64encode(f"{LONG_KEY}:".encode()).decode()
    echo = (
        f'{{"message": "bad request", "headers": {{"Authorization": "Basic {basic}"}}, '
        f'"writeKey": "{LONG_KEY}", "seen": "{basic}", "token": "t0k3n-v4lu3"}}'
    )
    mock.post(URL).respond(400, text=echo)
    transport = HttpTransport(write_key=LONG_KEY, endpoint=ENDPOINT)
    try:
        with caplog.at_level("DEBUG", logger="b2b_events"):
            response = transport.send(MESSAGES)
    finally:
        transport.close()

    assert response.status == 400
    assert "bad request" in response.detail
    for secret in (LONG_KEY, basic, basic.rstrip("="), "t0k3n-v4lu3"):
        assert secret not in response.detail
        assert secret not in caplog.text


def test_a_base64_looking_run_is_redacted_without_knowing_the_key(
    mock: respx.MockRouter, transport: HttpTransport
) -> None:
    foreign = base64.b64encode(b"someone-elses-key-1234567890:").decode()
    mock.post(URL).respond(502, text=f"upstream said: Bearer abc.def and {foreign} end")

    detail = transport.send(MESSAGES).detail

    assert detail.startswith("upstream said: Bearer ")
    assert "abc.def" not in detail
    assert foreign not in detail
    assert detail.endswith(" end")


def test_repr_hides_userinfo_in_the_url() -> None:
    transport = HttpTransport(write_key="KEY", endpoint="https://user:hunter2@x.example.test")
    try:
        assert "hunter2" not in repr(transport)
        assert "user" not in repr(transport)
        assert "x.example.test/v1/batch" in repr(transport)
    finally:
        transport.close()
