"""``RequestInfo`` from an ASGI scope, and the context a request gives its events."""

from __future__ import annotations

from typing import Any

import pytest

from b2b_events.integrations import RequestInfo, request_context
from b2b_events.integrations._asgi import asgi_request


def http_scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"app.example.com")],
        "client": ("198.51.100.4", 50000),
        "server": ("10.0.0.2", 443),
    }
    scope.update(overrides)
    return scope


def test_the_url_keeps_the_path_as_requested_with_its_query() -> None:
    request = asgi_request(http_scope(query_string=b"plan=pro&x=%C3%A9"))

    assert request.path == "/a%20b"
    assert request.url == "https://app.example.com/a%20b?plan=pro&x=%C3%A9"
    assert request.client_ip == "198.51.100.4"


@pytest.mark.parametrize(
    ("server", "host"),
    [(("10.0.0.2", 443), "10.0.0.2"), (("10.0.0.2", 8443), "10.0.0.2:8443")],
)
def test_without_host_header_or_raw_path_the_server_and_path_make_the_url(
    server: tuple[str, int], host: str
) -> None:
    request = asgi_request(
        http_scope(headers=[], raw_path=None, server=server, root_path="/api", path="/r\u00e9")
    )

    assert request.url == f"https://{host}/api/r%C3%A9"


def test_without_host_header_or_server_the_host_is_localhost() -> None:
    request = asgi_request(http_scope(headers=[], server=None, scheme="http"))

    assert request.url == "http://localhost/a%20b"


def test_repeated_headers_are_joined_and_cookies_parsed() -> None:
    request = asgi_request(
        http_scope(
            headers=[
                (b"Accept", b"text/html"),
                (b"accept", b"*/*"),
                (b"cookie", b"a=1"),
                (b"cookie", b"b=2; junk; a=3"),
            ]
        )
    )

    assert request.headers["accept"] == "text/html, */*"
    assert request.cookies == {"a": "1", "b": "2"}


def info(headers: dict[str, str], *, query: str = "") -> RequestInfo:
    return RequestInfo(
        method="GET",
        url="https://app.example.com/a" + (f"?{query}" if query else ""),
        path="/a",
        query_string=query,
        headers=headers,
        client_ip=None,
        raw={},
    )


def test_a_bare_request_gives_only_the_page() -> None:
    assert request_context(info({})) == {"page": {"path": "/a", "url": "https://app.example.com/a"}}


@pytest.mark.parametrize(
    ("accept_language", "locale"),
    [("en-US,en;q=0.9", "en-US"), ("*, de;q=0.5", "de"), ("*", None), (" ; q=1", None)],
)
def test_the_locale_is_the_first_language_accepted(
    accept_language: str, locale: str | None
) -> None:
    context = request_context(info({"accept-language": accept_language}))

    assert context.get("locale") == locale
