"""The analytics dashboard (/ops/analytics/) in headless Chromium against a real ``payhub run``.

The operator signs in with an admin token and sees the figures; a customer asks for a KHQR (an open
payment appears) and the sandbox bank pays it (the transaction, its volume and its hour appear), live,
without a reload and on one stream. A token that is not an admin's is refused; ``#token=`` signs in
and leaves the address bar. Screenshots go to docs/ only with PAYHUB_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from hub.domain.analytics import PHNOM_PENH, hour_label
from tests.e2e.conftest import DemoServer, start_demo_server

pytestmark = pytest.mark.browser

DOCS = (
    Path(__file__).resolve().parents[2] / "docs"
    if os.environ.get("PAYHUB_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="payhub-screenshots-"))
)
MARKER = "window.__marker"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``payhub run`` of its own (no payment yet), streams refreshed at most every half second."""
    server = start_demo_server(tmp_path_factory.mktemp("ops"), PAYHUB_ANALYTICS_STREAM_INTERVAL_S="0.5")
    try:
        yield server
    finally:
        server.stop()


REFUSED = "Failed to load resource: the server responded with a status of 403 (Forbidden)"
EXPECTED_ERRORS: dict[str, set[str]] = {"test_a_token_that_is_not_an_admins_is_refused": {REFUSED}}


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A desktop-sized page; the test fails on a console error or an uncaught exception it did not expect."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="Asia/Phnom_Penh")
    context.set_default_timeout(10_000)
    p = await context.new_page()
    errors: list[str] = []
    p.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield p
        expected = EXPECTED_ERRORS.get(request.node.originalname, set())
        assert set(errors) <= expected, errors
    finally:
        await context.close()


async def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.__analytics.state")
    return result


async def sign_in(page: Page, server: DemoServer, token: str) -> None:
    await page.goto(f"{server.url}/ops/analytics/")
    await page.evaluate(f"{MARKER} = 'no reload'")
    await expect(page.locator("#sign-in")).to_be_visible()
    await page.locator("#token").fill(token)
    await page.locator("#sign-in-button").click()


async def test_the_dashboard_updates_live_when_a_payment_is_made(ops_server: DemoServer, page: Page) -> None:
    await sign_in(page, ops_server, ops_server.token("admin", "ops-analyst"))
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#transactions")).to_have_text("0")
    await expect(page.locator("#active")).to_have_text("0")
    await expect(page.locator("#volume-usd")).to_have_text("0.00 USD")
    await expect(page.locator("#volume-khr")).to_have_text("0 KHR")
    await expect(page.locator("#success-rate")).to_have_text("—")
    await expect(page.locator("#methods-empty")).to_be_visible()
    await expect(page.locator("#hours .hour")).to_have_count(24)
    assert await page.evaluate("window.sessionStorage.getItem('payhub.ops.token')") is not None

    # A customer asks for a QR: one open payment, shown live.
    customer = {"Authorization": f"Bearer {ops_server.token('customer', 'payer')}"}
    async with httpx.AsyncClient(base_url=ops_server.url, timeout=20) as http:
        qr = await http.get(
            "/khqr",
            params={"bankCode": json.dumps({"id": "AMK", "bank": "AMK"}), "billNumber": "P123456789"},
            headers=customer,
        )
        assert qr.status_code == 200, qr.text
        payment_id = qr.json()["data"]["paymentId"]
        await expect(page.locator("#active")).to_have_text("1")
        await expect(page.locator("#transactions")).to_have_text("0")

        # The bank pays it: the transaction, its volume, its method and its hour appear.
        paid = await http.post(
            "/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR", "outcome": "SUCCESS"}
        )
        assert paid.status_code == 200, paid.text
    await expect(page.locator("#transactions")).to_have_text("1")
    await expect(page.locator("#active")).to_have_text("0")
    await expect(page.locator("#volume-usd")).to_have_text("150.00 USD")
    await expect(page.locator("#success-rate")).to_have_text("100.0 %")
    await expect(page.locator("#outcomes")).to_have_text("1 confirmed, 0 failed, 0 expired")
    await expect(page.locator("#processing")).to_have_text(re.compile(r"^\d+\.\d s$"))
    await expect(page.locator("#methods li")).to_have_count(1)
    await expect(page.locator("#methods li")).to_have_text("KHQR · 1 · 100.0 %")
    hour = datetime.now(UTC).astimezone(PHNOM_PENH).hour
    peak = page.locator("#hours .hour.peak")
    await expect(peak).to_have_count(1)
    shown_hour = int(await peak.get_attribute("data-hour") or -1)
    assert shown_hour in (hour, (hour - 1) % 24), (shown_hour, hour)  # (the hour may have just turned)
    await expect(peak).to_have_attribute("data-count", "1")
    await expect(page.locator("#peak-hours")).to_have_text(hour_label(shown_hour))

    assert await page.evaluate(MARKER) == "no reload"
    s = await state(page)
    assert (s["connection"], s["streamOpens"]) == ("live", 1), s
    assert s["snapshots"] >= 3, s
    DOCS.mkdir(exist_ok=True)
    await page.screenshot(path=DOCS / "analytics-dashboard.png", full_page=True, animations="disabled")

    # Another range: the stream is re-opened for it and the payment of today is still there.
    await page.locator("#range").select_option("today")
    await expect(page.locator("#range-text")).to_have_text(re.compile(r"^Today \(Phnom Penh\): "))
    await page.wait_for_function("window.__analytics.state.streamOpens === 2")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#transactions")).to_have_text(re.compile(r"^[01]$"))  # 0 right after midnight


async def test_a_token_that_is_not_an_admins_is_refused(ops_server: DemoServer, page: Page) -> None:
    await sign_in(page, ops_server, ops_server.token("customer", "nosy"))
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#notice")).to_have_text(re.compile("not an admin token"))
    await expect(page.locator("#connection")).to_have_attribute("data-state", "signed-out")
    assert await page.evaluate("window.sessionStorage.getItem('payhub.ops.token')") is None


async def test_a_token_in_the_fragment_signs_in_and_leaves_the_address_bar(ops_server: DemoServer, page: Page) -> None:
    admin = ops_server.token("admin", "ops-link")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(f"{ops_server.url}/ops/analytics#token={admin}")  # no slash: redirected, fragment kept
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    assert await page.evaluate("window.location.hash") == ""
    assert not any(admin in url for url in requests), requests  # never in a URL sent anywhere
    await page.locator("#sign-out").click()
    await expect(page.locator("#sign-in")).to_be_visible()
    assert await page.evaluate("window.sessionStorage.getItem('payhub.ops.token')") is None
