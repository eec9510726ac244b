"""The collector's web view in a real headless browser: Debian's chromium, driven by Playwright.

Playwright's own browser download is never used: it launches the chromium that
``.ci/run`` installs (``apt-get install chromium``). A machine without it skips
this module, saying so.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from b2b_events import Client
from b2b_events.collector import Collector, running

CHROMIUM = Path("/usr/bin/chromium")
KEY = "view-key"
WAIT_MS = 20_000  # how long a poll may take to show something on a loaded machine

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Debian chromium at {CHROMIUM}: .ci/run installs it (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running(write_key=KEY) as server:
        yield server


@pytest.fixture
def page(browser: Browser, collector: Collector) -> Iterator[Page]:
    context = browser.new_context(
        http_credentials={"username": KEY, "password": ""},
        viewport={"width": 1280, "height": 800},
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def rows(page: Page) -> list[str]:
    return [row.inner_text() for row in page.locator("#messages tbody tr").all()]


def test_sent_messages_appear_live_and_filter_and_open(
    collector: Collector, page: Page, tmp_path: Path
) -> None:
    with Client(write_key=KEY, endpoint=collector.url, flush_interval=0.05) as client:
        client.track.signed_in(user_id="u_1", group_id="acct_1")
        signed_up = client.track.signed_up(user_id="u_2", group_id="acct_2", type="organic")
        assert client.flush(timeout=10)
    invalid = {"type": "track", "event": "Invite Sent", "userId": "u_1", "messageId": "bad"}
    body = {"batch": [invalid], "writeKey": KEY}
    assert httpx.post(collector.url + "/v1/batch", json=body).status_code == 200
    assert httpx.post(collector.url + "/v1/batch", json={"batch": []}).status_code == 401

    loaded = page.goto(collector.view_url)
    assert loaded is not None
    assert loaded.status == 200
    messages = page.locator("#messages tbody tr")
    expect(messages).to_have_count(3, timeout=WAIT_MS)
    assert "Invite Sent" in rows(page)[0]  # newest first
    expect(page.locator("#total")).to_have_text("3")
    expect(page.locator("#refused tbody tr")).to_have_count(1)
    assert "401" in page.locator("#refused tbody tr").inner_text()
    assert "missing or wrong write key" in page.locator("#refused tbody tr").inner_text()
    counts = page.locator("#counts tbody tr")
    expect(counts).to_have_count(3)
    assert counts.nth(2).inner_text().split() == ["Invite", "Sent", "1", "0", "1"]

    # Live: what arrives after the page loaded shows up without a reload.
    with Client(write_key=KEY, endpoint=collector.url, flush_interval=0.05) as client:
        client.track.signed_out(user_id="u_1", group_id="acct_1")
        assert client.flush(timeout=10)
    expect(messages).to_have_count(4, timeout=WAIT_MS)
    assert "Signed Out" in rows(page)[0]

    # Filters: user, group, validity, and an event by a click on its count.
    page.fill("#filter-user", "u_2")
    expect(messages).to_have_count(1, timeout=WAIT_MS)
    assert "Signed Up" in rows(page)[0]
    page.click("#filter-clear")
    page.fill("#filter-group", "acct_1")
    expect(messages).to_have_count(2, timeout=WAIT_MS)
    page.click("#filter-clear")
    page.select_option("#filter-valid", "false")
    expect(messages).to_have_count(1, timeout=WAIT_MS)
    assert "context.groupId: required" in rows(page)[0]
    page.click("#filter-clear")
    expect(messages).to_have_count(4, timeout=WAIT_MS)
    page.locator("#counts tbody tr", has_text="Signed In").click()
    expect(messages).to_have_count(1, timeout=WAIT_MS)
    assert "Signed In" in rows(page)[0]
    page.click("#filter-clear")

    # A click shows the message's full JSON, with what the collector added.
    expect(messages).to_have_count(4, timeout=WAIT_MS)
    messages.filter(has_text="Signed Up").click()
    expect(page.locator("#detail")).to_be_visible()
    shown = json.loads(page.locator("#detail-json").inner_text())
    assert shown["message"] == signed_up.to_wire()
    assert shown["sentAt"] is not None
    assert shown["timestamp"] is not None
    assert shown["violations"] == []

    shot = page.screenshot(path=str(tmp_path / "view.png"), full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", shot[16:24])  # the IHDR chunk
    assert width == 1280
    assert height >= 800


def test_without_the_write_key_the_browser_is_refused(
    browser: Browser, collector: Collector
) -> None:
    context = browser.new_context()  # no credentials: headless, it cannot ask for them
    try:
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            context.new_page().goto(collector.view_url)
    finally:
        context.close()


def test_older_messages_are_a_click_away_and_that_page_stays_put(
    collector: Collector, page: Page
) -> None:
    def send(first: int, count: int) -> None:
        batch = [
            {"type": "identify", "userId": f"u_{n}", "messageId": f"m-{n}"}
            for n in range(first, first + count)
        ]
        body = {"batch": batch, "writeKey": KEY}
        assert httpx.post(collector.url + "/v1/batch", json=body).status_code == 200

    def first_user() -> str:
        return page.locator("#messages tbody tr").first.locator("td").nth(3).inner_text()

    send(0, 450)
    page.goto(collector.view_url)
    messages = page.locator("#messages tbody tr")
    shown = page.locator("#shown")
    expect(shown).to_have_text("Newest first: 1-200 of 450 matching.", timeout=WAIT_MS)
    expect(messages).to_have_count(200)
    assert first_user() == "u_449"
    expect(page.locator("#page-newer")).to_be_disabled()

    page.click("#page-older")
    expect(shown).to_contain_text("201-400 of 450 matching", timeout=WAIT_MS)
    assert first_user() == "u_249"
    send(450, 10)  # arrives while the older page is open
    expect(shown).to_contain_text("211-410 of 460 matching", timeout=WAIT_MS)
    assert first_user() == "u_249"  # the same messages, not shifted
    expect(page.locator("#total")).to_have_text("460")

    page.click("#page-older")
    expect(shown).to_contain_text("411-460 of 460 matching", timeout=WAIT_MS)
    expect(messages).to_have_count(50)
    expect(messages.last).to_contain_text("u_0")
    expect(page.locator("#page-older")).to_be_disabled()

    page.click("#page-newest")
    expect(shown).to_have_text("Newest first: 1-200 of 460 matching.", timeout=WAIT_MS)
    assert first_user() == "u_459"
    page.fill("#filter-user", "u_7")  # a filter starts again from the newest
    expect(shown).to_have_text("Newest first: 1-1 of 1 matching (460 stored).", timeout=WAIT_MS)
    page.fill("#filter-user", "nobody")
    expect(shown).to_have_text("Nothing matches these filters.", timeout=WAIT_MS)
    expect(page.locator("#messages-empty")).to_be_hidden()
