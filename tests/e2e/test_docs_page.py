"""``/docs`` in a real browser (headless Chromium): both documents readable, no script, nothing broken."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import DemoServer

pytestmark = pytest.mark.browser


async def test_the_docs_page_shows_every_operation_and_channel(demo_server: DemoServer, browser: Browser) -> None:
    async with httpx.AsyncClient(base_url=demo_server.url) as http:
        openapi = (await http.get("/openapi.json")).json()
        asyncapi = (await http.get("/asyncapi.json")).json()
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = await page.goto(f"{demo_server.url}/docs")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in (response.headers.get("content-security-policy") or "")
    await expect(page).to_have_title("PayHub API")
    operations = sum(len(methods) for methods in openapi["paths"].values())
    assert await page.locator("main article[id^='op-']").count() == operations
    assert await page.locator("main article[id^='ch-']").count() == len(asyncapi["channels"])
    assert await page.locator("script").count() == 0
    # The navigation jumps to an operation; its error codes and the request example are there.
    await page.click("nav a[href='#op-post-AMK-payments']")
    webhook = page.locator("#op-post-AMK-payments")
    await expect(webhook).to_be_in_viewport()
    await expect(webhook).to_contain_text("DUPLICATE_PAYMENT")
    await expect(webhook).to_contain_text("amkSignature")
    await webhook.locator("summary", has_text="Example request").click()
    await expect(webhook.locator("pre").first).to_contain_text('"bankTransactionId": "AMK202510070001"')
    # A schema link leads to the schema's table.
    await page.click("#op-get-AMK-payments a[href='#o-schema-PremiumInquiry']")
    await expect(page.locator("#o-schema-PremiumInquiry")).to_contain_text("subscribeToken")
    await page.screenshot(path=str(Path(demo_server.log.parent) / "docs.png"), full_page=False)
    assert problems == []
    await context.close()
