"""The operations console (/ops/) driven by headless Chromium against a real ``payhub run``.

An operator signs in with an admin token, watches a payment appear live, opens it (its case file and
notifications), finds it by AMK transaction id and by policy, reconciles a day whose sandbox statement
was altered, opens the mismatch's review and resolves it (its history shows the move), and adds then
removes a blocklist entry. Hostile text (a payer name, a note, a reason) is shown as text, never run.
Screenshots for the docs (docs/ops-*.png) are rewritten only with PAYHUB_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from backoffice.reconcile.days import local_day
from tests.e2e.conftest import Phone
from tests.e2e.payhub_process import PAYHUB, Server, start_server

pytestmark = pytest.mark.browser

DOCS = (
    Path(__file__).resolve().parents[2] / "docs"
    if os.environ.get("PAYHUB_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="payhub-ops-screenshots-"))
)
HOSTILE_PAYER = '<img src=x onerror="window.__xss=1">Eve "Mallory" & Co'
HOSTILE_NOTE = "<script>window.__xss=2</script> checked with AMK: refund ticket R-42 & done"
HOSTILE_REASON = '<b onmouseover="window.__xss=3">chargeback</b> ring'
HOSTILE_POLICY = "X000000001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("ops")
    # A premium whose payer name is markup: the console must show it as text.
    (workdir / "hostile.csv").write_text(
        "id,policy_number,application_number,payer,amount,currency,due_date\n"
        f'190001,{HOSTILE_POLICY},,"{HOSTILE_PAYER.replace(chr(34), chr(34) * 2)}",42.00,USD,2026-12-31\n'
    )
    s = start_server(workdir, PAYHUB_RECONCILE_DAILY="false")
    try:
        done = subprocess.run(
            [str(PAYHUB), "policies", "import", "hostile.csv"],
            env=s.env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        yield s
    finally:
        s.stop()


@pytest.fixture
async def desk(browser: Browser) -> AsyncIterator[Phone]:
    """A desktop-sized page (the console is an office tool) with its console errors collected."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Phnom_Penh", accept_downloads=True
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    holder = Phone(page)
    page.on("console", lambda m: holder.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: holder.page_errors.append(str(e)))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.requested = requested  # type: ignore[attr-defined]
    try:
        yield holder
    finally:
        await context.close()


async def http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as client:
        return await client.request(method, url, **kwargs)


async def read_text(path: Path) -> str:
    return await asyncio.to_thread(path.read_text)


async def pay(server: Server, policy: str) -> dict[str, Any]:
    r = await http("POST", f"{server.url}/sandbox/amk/simulate/pay", json={"billNumber": policy, "method": "BILL"})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()["data"]["webhooks"][-1]["attempts"][-1]["response"]["data"]
    assert answer["status"] == "CONFIRMED", answer
    return answer


async def sign_in(page: Page, server: Server, sub: str = "ops-alice") -> str:
    token = server.token("admin", sub)
    await page.goto(f"{server.url}/ops/")
    await page.locator("#token").fill(token)
    await page.locator("#signin-submit").click()
    await expect(page.locator("#console")).to_be_visible()
    await expect(page.locator("#who")).to_have_text(f"signed in as {sub}")
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    return token


async def assert_clean(holder: Phone, token: str) -> None:
    page = holder.page
    assert await page.evaluate("window.__xss") is None, "hostile markup ran"
    assert holder.page_errors == [], holder.page_errors
    assert holder.console_errors == [], holder.console_errors
    urls: list[str] = page.requested  # type: ignore[attr-defined]
    assert urls and not any(token in u for u in urls), "the token went into a URL"


async def test_sign_in_is_required_and_a_bad_token_is_refused(server: Server, desk: Phone) -> None:
    page = desk.page
    r = await http("GET", f"{server.url}/ops/")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    await page.goto(f"{server.url}/ops/")
    await expect(page.locator("#console")).to_be_hidden()
    await page.locator("#token").fill("not-a-token")
    await page.locator("#signin-submit").click()
    await expect(page.locator("#notice")).to_contain_text("sign in again")
    await expect(page.locator("#console")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0
    customer = server.token("customer", "c1")
    await page.locator("#token").fill(customer)
    await page.locator("#signin-submit").click()
    await expect(page.locator("#notice")).to_contain_text("FORBIDDEN")
    await expect(page.locator("#console")).to_be_hidden()


async def test_live_payment_case_file_and_search(server: Server, desk: Phone) -> None:
    page = desk.page
    token = await sign_in(page, server)
    paid = await pay(server, HOSTILE_POLICY)
    payment_id = paid["paymentId"]

    row = page.locator(f'#live-rows tr[data-payment="{payment_id}"]').first
    await expect(row).to_contain_text("CONFIRMED")
    await expect(row).to_contain_text(paid["transactionId"])
    await expect(row).to_contain_text("42.00 USD")
    assert await row.get_attribute("data-event") not in (None, "—")  # from the live feed, not the list
    DOCS.mkdir(exist_ok=True)
    await page.locator("#live").screenshot(path=DOCS / "ops-live.png", animations="disabled")

    await row.locator("[data-testid=live-payment]").click()
    await expect(page.locator("#payment-detail")).to_be_visible()
    await expect(page.locator("[data-testid=case-payer]")).to_have_text(HOSTILE_PAYER)
    assert await page.locator("#payment-case img").count() == 0
    await expect(page.locator("#payment-case")).to_contain_text("Event log")
    await expect(page.locator("#payment-case")).to_contain_text("Webhooks from AMK")
    await expect(page.locator("[data-testid=notifications]")).to_be_visible()

    await page.locator("#s-tx").fill(paid["transactionId"])
    await page.locator("#search-form button[type=submit]").click()
    await expect(page.locator("#search-rows tr")).to_have_count(1)
    await expect(page.locator("#search-rows tr").first).to_have_attribute("data-payment", str(payment_id))
    await expect(page.locator("#search-rows")).to_contain_text(HOSTILE_PAYER)

    await page.locator("#s-tx").fill("")
    await page.locator("#s-policy").fill("P123456789")
    await page.locator("#search-form button[type=submit]").click()
    await expect(page.locator("#search-rows")).to_contain_text("No payment matches.")  # never paid here
    await page.locator("#s-policy").fill(HOSTILE_POLICY)
    await page.locator("#search-form button[type=submit]").click()
    await expect(page.locator(f'#search-rows tr[data-payment="{payment_id}"]')).to_have_count(1)
    await page.locator("#search").screenshot(path=DOCS / "ops-search.png", animations="disabled")
    await assert_clean(desk, token)


async def test_reconcile_an_altered_statement_and_resolve_its_review(server: Server, desk: Phone) -> None:
    page = desk.page
    paid = await pay(server, "P987654321")
    altered = {"statement": {"alter": [{"txId": paid["transactionId"], "amount": "700000", "currency": "KHR"}]}}
    r = await http("POST", f"{server.url}/sandbox/amk/control", json=altered)
    assert r.status_code == 200, r.text
    token = await sign_in(page, server, "ops-bob")

    await page.locator("#recon-date").fill(local_day(datetime.now(UTC)).isoformat())
    await page.locator("#recon-form button[type=submit]").click()
    await expect(page.locator("#run-detail")).to_have_attribute("data-status", "COMPLETED")
    mismatch = page.locator(f'#mismatch-rows tr[data-key="BILL:{paid["transactionId"]}"]')
    await expect(mismatch).to_have_attribute("data-outcome", "amount_mismatch")
    await expect(page.locator("#run-summary")).to_contain_text("amount_mismatch 1")
    async with page.expect_download() as info:
        await page.locator("#run-csv").click()
    csv_text = await read_text(Path(await (await info.value).path()))
    assert paid["transactionId"] in csv_text and "amount_mismatch" in csv_text
    async with page.expect_download() as info:
        await page.locator("#run-json").click()
    assert paid["transactionId"] in await read_text(Path(await (await info.value).path()))
    await page.locator("#recon").screenshot(path=DOCS / "ops-reconciliation.png", animations="disabled")

    await mismatch.locator("[data-testid=mismatch-review]").click()
    await expect(page.locator("#review-detail")).to_have_attribute("data-state", "OPEN")
    await expect(page.locator("#review-history li")).to_have_count(1)
    await expect(page.locator("#ra-reopen")).to_be_disabled()

    await page.locator("#ra-resolve").click()  # without a note: refused by the page, nothing sent
    await expect(page.locator("#notice")).to_contain_text("Write a note")
    await page.locator("#ra-note").fill(HOSTILE_NOTE)
    await page.locator("#ra-outcome").select_option("refund_required")
    await page.locator("#ra-resolve").click()
    await expect(page.locator("#review-detail")).to_have_attribute("data-state", "RESOLVED")
    resolved = page.locator('#review-history li[data-action="resolve"]')
    await expect(resolved).to_contain_text("OPEN → RESOLVED (refund_required) by ops-bob")
    await expect(resolved.locator(".note")).to_have_text(HOSTILE_NOTE)
    assert await page.locator("#review-history script").count() == 0
    await page.locator("#reviews").screenshot(path=DOCS / "ops-review.png", animations="disabled")

    await page.locator("#ra-note").fill("the bank corrected its statement")
    await page.locator("#ra-reopen").click()
    await expect(page.locator("#review-detail")).to_have_attribute("data-state", "OPEN")
    await expect(page.locator("#review-history li")).to_have_count(3)
    # What the page showed is what the API holds.
    review_id = (await page.locator("#review-title").inner_text()).split()[1].lstrip("#")
    r = await http("GET", f"{server.url}/admin/reviews/{review_id}", headers={"Authorization": f"Bearer {token}"})
    history = r.json()["data"]["history"]
    assert [h["action"] for h in history] == ["open", "resolve", "reopen"]
    assert history[1]["note"] == HOSTILE_NOTE and history[1]["actor"] == "ops-bob"
    await assert_clean(desk, token)


async def test_blocklist_add_and_remove(server: Server, desk: Phone) -> None:
    page = desk.page
    token = await sign_in(page, server, "ops-carol")
    await page.locator("#bl-kind").select_option("policy")
    await page.locator("#bl-value").fill("P555000111")
    await page.locator("#bl-reason").fill(HOSTILE_REASON)
    await page.locator("#bl-expires").fill("2031-01-02T03:04")
    await page.locator("#block-form button[type=submit]").click()
    row = page.locator('#block-rows tr[data-value="P555000111"]')
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(HOSTILE_REASON)
    await expect(row).to_contain_text("ops-carol")
    assert await page.locator("#block-rows b").count() == 0
    entries = (await http("GET", f"{server.url}/admin/blocklist", headers={"Authorization": f"Bearer {token}"})).json()[
        "data"
    ]
    (entry,) = [e for e in entries if e["value"] == "P555000111"]
    assert entry["reason"] == HOSTILE_REASON and entry["expiresAt"].startswith("2031-01-01T20:04")  # 03:04 +07
    await page.locator("#blocklist").screenshot(path=DOCS / "ops-blocklist.png", animations="disabled")

    await row.locator("[data-testid=remove-entry]").click()
    await expect(row).to_have_count(0)
    entries = (await http("GET", f"{server.url}/admin/blocklist", headers={"Authorization": f"Bearer {token}"})).json()[
        "data"
    ]
    assert not [e for e in entries if e["value"] == "P555000111"]
    await assert_clean(desk, token)
