"""``Client`` constructor: option checks, environment defaults, and a repr without secrets."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import respx

from b2b_events import Client, ConfigurationError, Response

# respx answers these clients: the HTTP requests are what the tests check.
pytestmark = pytest.mark.b2b_events(send=True)

ENV_KEY = "B2B_EVENTS_WRITE_KEY"
ENV_ENDPOINT = "B2B_EVENTS_ENDPOINT"
SECRET = "wk_SECRET_do_not_show"


class FakeTransport:
    """Accepts everything; counts sends and closes."""

    def __init__(self) -> None:
        self.sent: list[Sequence[bytes]] = []
        self.closed = 0

    def send(self, messages: Sequence[bytes]) -> Response:
        self.sent.append(messages)
        return Response(200)

    def close(self) -> None:
        self.closed += 1


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_ENDPOINT, raising=False)


# -- write key ----------------------------------------------------------------


def test_no_write_key_and_no_env_var_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=ENV_KEY):
        Client()


def test_an_empty_write_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="write key"):
        Client(write_key="")


def test_an_empty_write_key_env_var_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_KEY, "")

    with pytest.raises(ConfigurationError, match="write key"):
        Client()


def test_a_custom_transport_needs_no_write_key() -> None:
    transport = FakeTransport()

    with Client(transport=transport, sync=True) as client:
        client.track.event("Report Exported", user_id="u_1")

    assert len(transport.sent) == 1
    assert transport.closed == 1


def test_write_key_and_endpoint_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_KEY, SECRET)
    monkeypatch.setenv(ENV_ENDPOINT, "https://env.example.test/")

    with respx.mock:
        route = respx.post("https://env.example.test/v1/batch").respond(200)
        with Client(sync=True) as client:
            assert "https://env.example.test/" in repr(client)
            client.track.event("Report Exported", user_id="u_1")

    request = route.calls.last.request
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
    )
    assert json.loads(gzip.decompress(request.content))["writeKey"] == SECRET


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "env-key")
    monkeypatch.setenv(ENV_ENDPOINT, "https://env.example.test")

    with respx.mock:
        route = respx.post("https://arg.example.test/v1/batch").respond(200)
        with Client(write_key="arg-key", endpoint="https://arg.example.test", sync=True) as client:
            client.track.event("Report Exported", user_id="u_1")

    expected = "Basic " + base64.b64encode(b"arg-key:").decode()
    assert route.calls.last.request.headers["Authorization"] == expected


def test_endpoint_defaults_to_segment() -> None:
    with Client(write_key="k") as client:
        assert "https://api.segment.io" in repr(client)


def test_an_empty_endpoint_env_var_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ENDPOINT, "")

    with Client(write_key="k") as client:
        assert "https://api.segment.io" in repr(client)


# -- endpoint -----------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://x", "not a url", "   ", "http://", "https://", "api.segment.io", "file:///tmp/x"],
)
def test_an_endpoint_that_is_not_an_http_url_is_a_configuration_error(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        Client(write_key="k", endpoint=endpoint)


def test_a_bad_endpoint_from_the_environment_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_ENDPOINT, "ftp://x")

    with pytest.raises(ConfigurationError, match="endpoint"):
        Client(write_key="k")


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://localhost:8080",
        "https://events.eu1.segmentapis.com",
        "https://dataplane.example.test/",
    ],
)
def test_http_and_https_endpoints_are_accepted(endpoint: str) -> None:
    with Client(write_key="k", endpoint=endpoint) as client:
        assert endpoint in repr(client)


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("http://127.0.0.1:8088/v1/batch", "http://127.0.0.1:8088"),
        ("https://x.example.test/v1/batch/", "https://x.example.test"),
        ("https://x.example.test/segment/v1/batch", "https://x.example.test/segment"),
    ],
)
def test_an_endpoint_ending_in_v1_batch_is_refused_with_the_base_to_pass(
    endpoint: str, base: str
) -> None:
    with pytest.raises(ConfigurationError, match="without /v1/batch") as caught:
        Client(write_key="k", endpoint=endpoint)
    assert f"pass endpoint={base!r}" in str(caught.value)


def test_an_endpoint_ending_in_v1_batch_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_ENDPOINT, "http://127.0.0.1:8088/v1/batch")

    with pytest.raises(ConfigurationError, match=re.escape("'http://127.0.0.1:8088'")):
        Client(write_key="k")


# -- transport= excludes the HTTP options ---------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("endpoint", "https://x.example.test"),
        ("gzip", True),
        ("gzip", False),
        ("timeout", 3.0),
        ("connect_timeout", 1.0),
        ("proxy", "http://proxy.example.test:3128"),
    ],
)
def test_transport_with_an_http_option_is_a_configuration_error(name: str, value: Any) -> None:
    options: dict[str, Any] = {name: value}
    with pytest.raises(ConfigurationError, match=name):
        Client(transport=FakeTransport(), **options)


def test_transport_with_an_http_client_is_a_configuration_error() -> None:
    with httpx.Client() as http_client, pytest.raises(ConfigurationError, match="http_client"):
        Client(transport=FakeTransport(), http_client=http_client)


@pytest.mark.parametrize(
    ("option", "value"),
    [("proxy", "http://proxy.example.test:3128"), ("timeout", 3.0), ("connect_timeout", 1.0)],
)
def test_http_client_options_with_an_http_client_are_configuration_errors(
    option: str, value: Any
) -> None:
    """They would silently not apply to a client the caller built."""
    with (
        httpx.Client() as http_client,
        pytest.raises(ConfigurationError, match=f"{option} apply to the HTTP client we create"),
    ):
        Client(write_key="k", http_client=http_client, **{option: value})


def test_an_http_client_alone_is_accepted_and_left_open() -> None:
    with httpx.Client() as http_client:
        with Client(write_key="k", http_client=http_client):
            pass

        assert not http_client.is_closed


# -- ranges and choices ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"block_timeout": 1.0}, "block_timeout"),
        ({"block_timeout": 1.0, "overflow": "drop_oldest"}, "block_timeout"),
        ({"block_timeout": 0.0, "overflow": "block"}, "block_timeout"),
        ({"max_batch_events": 0}, "max_batch_events"),
        ({"max_batch_events": 2501}, "max_batch_events"),
        ({"max_retries": -1}, "max_retries"),
        ({"flush_interval": 0.0}, "flush_interval"),
        ({"flush_interval": -1.0}, "flush_interval"),
        ({"flush_interval": float("nan")}, "flush_interval"),
        ({"max_retry_time": 0.0}, "max_retry_time"),
        ({"max_retry_after": -5.0}, "max_retry_after"),
        ({"retry_backoff": 0.0}, "retry_backoff"),
        ({"shutdown_timeout": 0.0}, "shutdown_timeout"),
        ({"max_queue_events": 0}, "max_queue_events"),
        ({"max_queue_bytes": 1024}, "max_queue_bytes"),
        ({"overflow": "drop_everything"}, "overflow"),
        ({"overflow": "block_forever"}, "overflow"),
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"on_invalid": None}, "on_invalid"),
    ],
)
def test_out_of_range_options_are_configuration_errors(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Client(transport=FakeTransport(), **options)


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", 0.0), ("timeout", -1.0), ("connect_timeout", 0.0), ("connect_timeout", -2.0)],
)
def test_non_positive_http_timeouts_are_configuration_errors(name: str, value: float) -> None:
    options: dict[str, Any] = {name: value}
    with pytest.raises(ConfigurationError, match=name):
        Client(write_key="k", **options)


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch_events": 1},
        {"max_batch_events": 2500},
        {"max_retries": 0},
        {"overflow": "block"},
        {"overflow": "block", "block_timeout": 0.25},
        {"overflow": "drop_oldest"},
        {"on_invalid": "drop"},
        {"max_queue_events": 1, "max_queue_bytes": 32 * 1024},
    ],
)
def test_options_at_the_edge_of_their_range_are_accepted(options: dict[str, Any]) -> None:
    with Client(transport=FakeTransport(), **options) as client:
        assert not client.closed
    assert client.closed


@pytest.mark.parametrize(
    "options",
    [
        {"endpoint": "ftp://x"},
        {"max_batch_events": 0},
        {"overflow": "nope"},
        {"timeout": -1.0},
    ],
)
def test_configuration_errors_never_show_the_write_key(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client(write_key=SECRET, **options)

    assert SECRET not in str(caught.value)


# -- repr -----------------------------------------------------------------------


def test_repr_never_contains_the_write_key() -> None:
    with Client(write_key=SECRET, endpoint="https://x.example.test") as client:
        open_repr = repr(client)
    closed_repr = repr(client)

    assert SECRET not in open_repr
    assert SECRET not in closed_repr
    assert "https://x.example.test" in open_repr
    assert "open" in open_repr
    assert "closed" in closed_repr


def test_repr_from_the_environment_key_never_contains_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, SECRET)

    with Client() as client:
        assert SECRET not in repr(client)


def test_repr_with_a_custom_transport() -> None:
    with Client(transport=FakeTransport()) as client:
        assert "custom transport" in repr(client)


def test_repr_hides_userinfo_in_the_endpoint() -> None:
    with Client(write_key="k", endpoint="https://user:hunter2@x.example.test:8443") as client:
        shown = repr(client)
    assert "hunter2" not in shown
    assert "user" not in shown
    assert "x.example.test:8443" in shown


def test_a_bad_endpoint_error_hides_its_userinfo() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Client(write_key="k", endpoint="https://user:hunter2@x.example.test/v1/batch")
    assert "hunter2" not in str(caught.value)
