"""The demo page in Khmer and English: every text in both languages, the toggle, the ``lang``
attribute, remembered choice, amounts formatted the same way, and a Khmer font actually used.

The text tables are read from web-demo/strings.js with Node.js; the page is driven in headless
Chromium against a real ``payhub run``. ``PAYHUB_UPDATE_SCREENSHOTS=1`` rewrites docs/demo-khmer.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.client_policies import import_policies
from tests.e2e.conftest import PHONE, Phone
from tests.e2e.payhub_process import Server, start_server

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "web-demo"
DOCS = (
    ROOT / "docs" if os.environ.get("PAYHUB_UPDATE_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp(prefix="payhub-km-"))
)
KHMER = re.compile("[\u1780-\u17ff]")
# Texts that are the same in both languages on purpose: only parameters, or units and codes.
SAME_IN_BOTH = {"error.server", "duration.ms"}


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node not found (CI=true: not skipping)")
        pytest.skip("node not found")
    return found


@pytest.fixture(scope="module")
def tables() -> dict[str, Any]:
    done = subprocess.run(
        [node(), str(ROOT / "tests" / "clients_js" / "strings.mjs")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("khmer")
    s = start_server(workdir)
    try:
        import_policies(
            s,
            workdir,
            [
                (190001, "P190000001", "Sok Dara", "1234.50", "USD"),
                (190002, "P190000002", "Lim Bopha", "4500000", "KHR"),
            ],
        )
        yield s
    finally:
        s.stop()


def test_every_text_exists_in_both_languages(tables: dict[str, Any]) -> None:
    en, km = tables["STRINGS"]["en"], tables["STRINGS"]["km"]
    assert en.keys() == km.keys()
    for key in en:
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", km[key])), key
        if key not in SAME_IN_BOTH:
            assert KHMER.search(km[key]) and km[key] != en[key], key
            assert not KHMER.search(en[key]), key
    assert len(tables["MONTHS"]["km"]) == 12 and all(KHMER.search(m) for m in tables["MONTHS"]["km"])

    # Every key the page uses is in the tables: data-i18n in the HTML, t('…') in the code, and the
    # keys the code builds from a status or connection state.
    html = (DEMO / "index.html").read_text(encoding="utf-8")
    code = (DEMO / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n="([\w.]+)"', html)) | set(re.findall(r"\bt\('([\w.]+)'[,)]", code))
    for state in ("PENDING", "PROCESSING", "PAID", "FAILED", "EXPIRED"):
        used.add(f"status.{state}")
    for state in ("PAID", "FAILED", "EXPIRED"):
        used |= {f"result.{state}.title"} | ({f"result.{state}.text"} if state != "PAID" else set())
    used |= {f"conn.{s}" for s in ("connecting", "live", "reconnecting", "polling")}
    used |= {f"notices.{c}" for c in ("push", "sms", "email", "webhook")}
    used |= {f"latency.{s}" for s in ("CONFIRMED", "FAILED", "EXPIRED", "PROCESSING", "other", "poll", "ws", "resume")}
    assert used - en.keys() == set()
    # …and no text of the page is left out of the tables (static text without data-i18n).
    body = re.sub(r"<(script|style|svg)[^>]*>.*?</\1>", "", html, flags=re.S)
    for element in re.finditer(r"<(\w+)([^>]*)>([^<]+)<", body):
        text = element.group(3).strip()
        if text and text not in {"P", "PayHub", "KHQR", "--:--", "ភាសាខ្មែរ"}:
            assert "data-i18n" in element.group(2), f"untranslated: {text!r}"


def require_khmer_font() -> None:
    fc = shutil.which("fc-list")
    listed = subprocess.run([fc, ":lang=km", "family"], capture_output=True, text=True).stdout if fc else ""
    if not listed.strip():
        message = "no Khmer font installed (make browser installs Debian's fonts-khmeros)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true: not skipping")
        pytest.skip(message)


async def khmer_font_of(page: Page, selector: str) -> list[str]:
    """The platform fonts Chromium really drew the element's text with (DevTools protocol)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument")
    node = await cdp.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector})
    fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
    return [f["familyName"] for f in fonts["fonts"] if f["glyphCount"] > 0]


async def flow(page: Page, url: str, policy: str) -> None:
    await expect(page.locator("#lookup")).to_be_enabled()
    await page.locator("#policy").fill(policy)
    await page.locator("#lookup").click()
    await expect(page.locator("#premium")).to_be_visible()


async def test_khmer_page_end_to_end_and_the_toggle(server: Server, phone: Phone, tables: dict[str, Any]) -> None:
    km, en = tables["STRINGS"]["km"], tables["STRINGS"]["en"]
    page = phone.page
    await page.goto(f"{server.url}/demo/?lang=km")
    await expect(page.locator("html")).to_have_attribute("lang", "km")
    assert await page.title() == km["doc.title"]
    await expect(page.locator("#h-lookup")).to_have_text(km["lookup.title"])
    toggle = page.locator("#lang-toggle")
    await expect(toggle).to_have_text("English")
    await expect(toggle).to_have_attribute("lang", "en")

    require_khmer_font()
    fonts = await khmer_font_of(page, "#h-lookup")
    assert any("Khmer" in f for f in fonts), fonts  # drawn with a Khmer font of the CSS stack, not boxes

    await flow(page, server.url, "P190000001")
    await expect(page.locator("#premium-amount")).to_have_text("1,234.50 USD")  # the house's format, in Khmer too
    await expect(page.locator("#premium-due")).to_have_text(f"31 {tables['MONTHS']['km'][0]} 2027")
    await page.locator("#pay-khqr").click()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("#status")).to_have_text(km["status.PENDING"])
    await expect(page.locator("#connection")).to_have_text(km["conn.live"])
    await expect(page.locator("#qr-image")).to_have_attribute("alt", re.compile("1,234.50 USD.*P190000001"))
    await page.screenshot(path=DOCS / "demo-khmer.png", full_page=True, animations="disabled")

    await page.locator("#simulate").click()
    await expect(page.locator("#status")).to_have_text(km["status.PAID"])
    await expect(page.locator("#result-title")).to_have_text(km["result.PAID.title"])
    await expect(page.locator("#result-text")).to_have_text(km["result.PAID.text"].replace("{payer}", "Sok Dara"))
    await expect(page.locator("#receipt-amount")).to_have_text("1,234.50 USD")
    await expect(page.locator("#latency")).to_contain_text(km["latency.CONFIRMED"])

    # Switching language re-renders what is on screen, keeps the state, and is remembered.
    await toggle.click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#result-title")).to_have_text(en["result.PAID.title"])
    await expect(page.locator("#status")).to_have_text(en["status.PAID"])
    await expect(page.locator("#latency")).to_contain_text("after payment")
    await expect(toggle).to_have_text("ភាសាខ្មែរ")
    await expect(toggle).to_have_attribute("lang", "km")
    assert await page.evaluate("window.__payhub.state.status") == "PAID"
    await page.goto(f"{server.url}/demo/")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.locator("#lang-toggle").click()
    await page.goto(f"{server.url}/demo/")
    await expect(page.locator("html")).to_have_attribute("lang", "km")
    assert not phone.page_errors, phone.page_errors


async def test_english_page_and_errors_in_both_languages(server: Server, phone: Phone, tables: dict[str, Any]) -> None:
    km, en = tables["STRINGS"]["km"], tables["STRINGS"]["en"]
    page = phone.page
    await page.goto(f"{server.url}/demo/")  # an en-US browser
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#h-lookup")).to_have_text(en["lookup.title"])
    await page.locator("#policy").fill("P12 34!")
    await page.locator("#lookup").click()
    await expect(page.locator("#policy-error")).to_have_text(en["policy.chars"])
    await page.locator("#lang-toggle").click()
    await expect(page.locator("#policy-error")).to_have_text(km["policy.chars"])  # errors on screen too
    await page.locator("#policy").fill("P000000000")
    await page.locator("#lookup").click()
    await expect(page.locator("#policy-error")).to_contain_text(
        km["error.notFound.lookup"].replace("{policy}", "P000000000")
    )
    await expect(page.locator("#policy-error")).to_contain_text(km["error.reference"].replace("{ref}", "req-"))

    await flow(page, server.url, "P190000002")
    await expect(page.locator("#premium-amount")).to_have_text("4,500,000 KHR")
    await page.locator("#lang-toggle").click()
    await expect(page.locator("#premium-amount")).to_have_text("4,500,000 KHR")
    await expect(page.locator("#premium-due")).to_have_text("31 Jan 2027")
    assert not phone.page_errors, phone.page_errors


async def test_a_khmer_browser_gets_khmer(server: Server, browser: Browser) -> None:
    context = await browser.new_context(viewport=PHONE, locale="km-KH")
    try:
        page = await context.new_page()
        await page.goto(f"{server.url}/demo/")
        await expect(page.locator("html")).to_have_attribute("lang", "km")
        async with httpx.AsyncClient(base_url=server.url) as http:
            css = (await http.get("/demo/style.css")).text
        assert re.search(r':root:lang\(km\)[^{]*\{[^}]*font-family:\s*"Noto Sans Khmer", "Khmer OS"', css)
    finally:
        await context.close()
