"""The demo checkout page (/demo/) driven by headless Chromium against a real ``payhub run``.

A customer enters a policy number, sees the premium, asks for a KHQR, watches the countdown, and the
page flips to PAID live over SSE: without a reload, and after a QR expired and a new one was issued.
(Drops, resume and the transport fallbacks of its status client: tests/e2e/test_demo_transports.py.)
Screenshots for the docs are taken on a phone-sized viewport.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import DemoServer, Phone

pytestmark = pytest.mark.browser

# The README's screenshots are rewritten only on request (PAYHUB_UPDATE_SCREENSHOTS=1), so a test run
# leaves the checkout clean; otherwise they go to a temporary folder, still proving the page renders.
DOCS = (
    Path(__file__).resolve().parents[2] / "docs"
    if os.environ.get("PAYHUB_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="payhub-screenshots-"))
)
MARKER = "window.__marker"


async def open_demo(page: Page, server: DemoServer) -> None:
    await page.goto(f"{server.url}/demo/")
    await page.evaluate(f"{MARKER} = 'no reload'")  # gone if the page ever reloads
    await expect(page.locator("#lookup")).to_be_enabled()


async def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.__payhub.state")
    return result


async def look_up(page: Page, policy: str) -> None:
    await page.locator("#policy").fill(policy)
    await page.locator("#lookup").click()
    await expect(page.locator("#premium")).to_be_visible()


async def show_qr(page: Page) -> None:
    """Click "Pay with KHQR" and wait for a loaded QR image and a live stream."""
    await page.locator("#pay-khqr").click()
    await expect(page.locator("#qr-image")).to_be_visible()
    await page.wait_for_function(
        "() => { const i = document.getElementById('qr-image'); return i.complete && i.naturalWidth > 0 }"
    )
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#status")).to_have_attribute("data-state", "PENDING")


async def countdown_seconds(page: Page) -> int:
    value = await page.locator("#countdown").get_attribute("data-seconds")
    assert value is not None and value.isdigit(), value
    return int(value)


async def assert_counting_down(page: Page) -> int:
    """The countdown shows mm:ss and goes down by itself; returns the first reading."""
    text = await page.locator("#countdown").inner_text()
    assert re.fullmatch(r"\d\d:\d\d", text), text
    first = await countdown_seconds(page)
    await page.wait_for_function(
        f"() => Number(document.getElementById('countdown').dataset.seconds) < {first}", timeout=3000
    )
    assert await page.locator("#countdown").inner_text() != text
    return first


async def test_pay_with_khqr_live(demo_server: DemoServer, phone: Phone) -> None:
    page = phone.page
    await open_demo(page, demo_server)
    await expect(page.locator("#mode-badge")).to_be_visible()

    await look_up(page, "P123456789")
    await expect(page.locator("#premium-amount")).to_have_text("150.00 USD")
    await expect(page.locator("#premium-payer")).to_have_text("John Doe")
    await expect(page.locator("#premium-policy")).to_have_text("P123456789")
    await expect(page.locator("#premium-due")).to_have_text("15 Dec 2026")
    assert await page.evaluate("document.activeElement.id") == "h-premium"

    await show_qr(page)
    assert await page.evaluate("document.activeElement.id") == "h-payment"
    await expect(page.locator("#qr-amount-text")).to_have_text("150.00 USD")
    await expect(page.locator("#qr-policy")).to_have_text("P123456789")
    await expect(page.locator("#qr-image")).to_have_attribute("src", re.compile(r"^data:image/png;base64,iVBOR"))
    await expect(page.locator("#qr-image")).to_have_attribute("alt", re.compile("150.00 USD.*P123456789"))
    first = await assert_counting_down(page)
    assert 1790 <= first <= 1800, first
    await expect(page.locator("#simulate")).to_be_visible()
    await expect(page.locator("#simulate-fail")).to_be_visible()

    DOCS.mkdir(exist_ok=True)
    await page.screenshot(path=DOCS / "demo-screenshot.png", full_page=True, animations="disabled")

    clicked = time.monotonic()
    await page.locator("#simulate").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "PAID")
    shown_after = time.monotonic() - clicked
    await expect(page.locator("#result-title")).to_have_text("Payment received")
    await expect(page.locator("#result")).to_have_attribute("data-state", "PAID")
    await expect(page.locator("#transaction-id")).to_have_text(re.compile(r"\S+"))
    await expect(page.locator("#receipt-amount")).to_have_text("150.00 USD")
    await expect(page.locator("#qr-image")).to_be_hidden()
    await expect(page.locator("#latency")).to_have_text(re.compile(r"^Updated (\d+ ms|under 1 ms) after payment$"))
    assert await page.evaluate("document.activeElement.id") == "result-title"
    # Sandbox: what the notifier sent about this payment, once per channel.
    await expect(page.locator("#notices-list li")).to_have_count(3)
    email = page.locator('#notices-list li[data-channel="email"]')
    await expect(email.locator("strong")).to_have_text("Email → john.doe@example.com")
    await expect(email.locator("span")).to_have_text("Receipt: premium paid for policy P123456789")
    await expect(page.locator('#notices-list li[data-channel="push"]')).to_contain_text("sandbox-device-john-doe")
    await expect(page.locator('#notices-list li[data-channel="webhook"]')).to_contain_text("Standard Webhooks, id msg_")

    assert await page.evaluate(MARKER) == "no reload"
    s = await state(page)
    assert (s["transport"], s["streamOpens"], s["terminal"]) == ("sse", 1, True), s
    assert shown_after < 5, shown_after
    assert not phone.page_errors, phone.page_errors
    assert not phone.console_errors, phone.console_errors

    await page.screenshot(path=DOCS / "demo-paid.png", full_page=True, animations="disabled")


@pytest.mark.timeout(90)
async def test_expired_qr_then_new_qr(short_ttl_server: DemoServer, phone: Phone) -> None:
    page = phone.page
    await open_demo(page, short_ttl_server)
    await look_up(page, "P123456789")
    await show_qr(page)
    first = await state(page)
    assert await assert_counting_down(page) <= 5
    old_src = await page.locator("#qr-image").get_attribute("src")

    await expect(page.locator("#status")).to_have_attribute("data-state", "EXPIRED", timeout=10_000)
    await expect(page.locator("#result-title")).to_have_text("QR code expired")
    await expect(page.locator("#qr-image")).to_be_hidden()
    new_qr = page.locator("#new-qr")
    await expect(new_qr).to_be_visible()
    assert await page.evaluate("document.activeElement.id") == "result-title"
    expired = await state(page)
    assert expired["expiredBy"] in ("countdown", "server"), expired
    # The server's own EXPIRED event arrives too and ends the stream.
    await page.wait_for_function("window.__payhub.state.terminal", timeout=5000)

    await new_qr.click()
    await page.wait_for_function(
        f"window.__payhub.state.sessionId && window.__payhub.state.sessionId !== {first['sessionId']!r}"
    )
    await expect(page.locator("#qr-image")).to_be_visible()
    await page.wait_for_function("document.getElementById('qr-image').naturalWidth > 0")
    assert await page.locator("#qr-image").get_attribute("src") != old_src
    await expect(page.locator("#status")).to_have_attribute("data-state", "PENDING")
    assert 3 <= await countdown_seconds(page) <= 5
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    fresh = await state(page)
    assert fresh["paymentId"] != first["paymentId"], fresh
    assert not fresh["terminal"] and not fresh["expiredLocally"], fresh

    # The new QR's stream is live: paying it shows PAID.
    await page.locator("#simulate").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "PAID")
    await expect(page.locator("#transaction-id")).to_have_text(re.compile(r"\S+"))
    assert await page.evaluate(MARKER) == "no reload"


async def test_failed_payment_then_try_again(demo_server: DemoServer, phone: Phone) -> None:
    page = phone.page
    await open_demo(page, demo_server)
    await look_up(page, "P555000111")
    await show_qr(page)
    first = await state(page)

    await page.locator("#simulate-fail").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "FAILED")
    await expect(page.locator("#result-title")).to_have_text("Payment failed")
    await expect(page.locator("#new-qr")).to_be_hidden()
    try_again = page.locator("#try-again")
    await expect(try_again).to_be_visible()

    await try_again.click()
    await page.wait_for_function(
        f"window.__payhub.state.sessionId && window.__payhub.state.sessionId !== {first['sessionId']!r}"
    )
    await expect(page.locator("#qr-image")).to_be_visible()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#status")).to_have_attribute("data-state", "PENDING")
    fresh = await state(page)
    assert fresh["paymentId"] != first["paymentId"], fresh

    await page.locator("#simulate").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "PAID")
    await expect(page.locator("#receipt-amount")).to_have_text("75.50 USD")
    assert await page.evaluate(MARKER) == "no reload"
    assert not phone.page_errors, phone.page_errors


async def test_keyboard_validation_and_friendly_errors(short_ttl_server: DemoServer, phone: Phone) -> None:
    page = phone.page
    await open_demo(page, short_ttl_server)
    lookups: list[str] = []
    page.on("request", lambda r: lookups.append(r.url) if "/AMK/payments" in r.url else None)

    await page.locator("#policy").focus()
    await page.keyboard.type("P12 34!")
    await page.keyboard.press("Enter")
    error = page.locator("#policy-error")
    await expect(error).to_have_text(re.compile("letters and digits only"))
    await expect(page.locator("#policy")).to_have_attribute("aria-invalid", "true")
    assert await page.evaluate("document.activeElement.id") == "policy"
    assert lookups == []  # rejected before asking the server

    await page.locator("#policy").fill("")
    await page.keyboard.type("P000000000")
    await page.keyboard.press("Enter")
    await expect(error).to_have_text(re.compile("No premium is due for policy P000000000"))
    await expect(error).to_contain_text("Reference: req-")
    assert len(lookups) == 1

    await page.locator("#policy").fill("")
    await page.keyboard.type("p555000111")  # lower case is fine
    await page.keyboard.press("Enter")
    await expect(page.locator("#premium-amount")).to_have_text("75.50 USD")
    await expect(page.locator("#policy-error")).to_be_hidden()
    await expect(page.locator("#policy")).not_to_have_attribute("aria-invalid", "true")
    assert not phone.page_errors, phone.page_errors


async def test_production_page_asks_for_the_insurers_login(demo_server: DemoServer, phone: Phone) -> None:
    """Outside sandbox mode there is no demo token: the page says it needs the insurer's login."""
    page = phone.page
    await page.route(
        "**/demo/api/config",
        lambda route: route.fulfill(json={"success": True, "data": {"sandbox": False, "sessionTtlSeconds": 1800}}),
    )
    await page.goto(f"{demo_server.url}/demo/")
    await expect(page.locator("#notice")).to_contain_text("insurer")
    await expect(page.locator("#lookup")).to_be_disabled()
    await expect(page.locator("#policy")).to_be_disabled()
    await expect(page.locator("#mode-badge")).to_be_hidden()
    assert not phone.page_errors, phone.page_errors
