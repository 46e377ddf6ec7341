"""The README's back-office tour, replayed: its shell block runs as printed (only the address changes
to the test server's), then the console step is done in headless Chromium, as the README says.

Also checks ``GET /admin/events/stream`` over real HTTP: admin only, ``Last-Event-ID`` resumes from the log.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.payhub_process import PAYHUB, Server, start_server

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_script() -> str:
    text = README.read_text()
    section = text[text.index("## Back office: the operations console") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README's back-office tour has no sh block"
    return match.group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("console-tour"), PAYHUB_RECONCILE_DAILY="false")
    try:
        yield s
    finally:
        s.stop()


async def run_tour(server: Server, workdir: Path) -> tuple[str, str]:
    """Runs the block with bash -e; returns (AMK transaction id, the admin token it printed)."""
    script = tour_script().replace("http://127.0.0.1:8000", server.url)
    env = {
        **server.env,
        "PATH": f"{PAYHUB.parent}:{os.environ['PATH']}",
        "PAYHUB_AMK_BASE_URL": f"{server.url}/sandbox/amk",  # make run's default is :8000
        "PAYHUB_REPORTS_DIR": str(workdir / "reports"),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    tx = lines[0].removeprefix("paid: ")
    assert re.fullmatch(r"\S+", tx) and tx != "null", done.stdout
    assert "reconciliation of" in done.stdout and "amount_mismatch" in done.stdout, done.stdout
    return tx, lines[-1]


@pytest.mark.browser
async def test_readme_back_office_tour(server: Server, browser: Browser, tmp_path: Path) -> None:
    tx, token = await run_tour(server, tmp_path)
    key = f"reconcile:amount_mismatch:BILL:{tx}"
    admin = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.get(f"{server.url}/admin/reviews", params={"kind": "reconcile"}, headers=admin)
    reviews = r.json()["data"]
    (review,) = [r for r in reviews if r["key"] == key]
    assert review["state"] == "OPEN"

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        await page.goto(f"{server.url}/ops/")
        await page.locator("#token").fill(token)
        await page.locator("#signin-submit").click()
        await page.locator('#recon-rows tr[data-status="COMPLETED"] [data-testid=open-run]').first.click()
        mismatch = page.locator(f'#mismatch-rows tr[data-key="BILL:{tx}"]')
        await expect(mismatch).to_have_attribute("data-outcome", "amount_mismatch")
        await mismatch.locator("[data-testid=mismatch-review]").click()
        await expect(page.locator("#review-detail")).to_have_attribute("data-state", "OPEN")
        await expect(page.locator("#review-case")).to_contain_text("600,000 KHR")
        await page.locator("#ra-note").fill("AMK confirmed 600,000 KHR; their statement is wrong")
        await page.locator("#ra-outcome").select_option("dismissed")
        await page.locator("#ra-resolve").click()
        await expect(page.locator("#review-detail")).to_have_attribute("data-state", "RESOLVED")
        await expect(page.locator('#review-history li[data-action="resolve"]')).to_contain_text("by ops-alice")
    finally:
        await context.close()
    async with httpx.AsyncClient(timeout=20) as client:
        shown = (await client.get(f"{server.url}/admin/reviews/{review['id']}", headers=admin)).json()["data"]
    assert shown["review"]["state"] == "RESOLVED" and shown["review"]["outcome"] == "dismissed"


Frames = list[tuple[int, dict[str, object]]]


def sse_frames(server: Server, headers: dict[str, str | bytes], done: Callable[[Frames], bool]) -> Frames:
    """The admin stream's payment.status frames, (id, data), read until ``done(frames)``."""
    frames: list[tuple[int, dict[str, object]]] = []
    with httpx.stream("GET", f"{server.url}/admin/events/stream", headers=headers, timeout=15) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in r.iter_lines():
            if line == "":
                if block.get("event") == "payment.status":
                    frames.append((int(block["id"]), json.loads(block["data"])))
                    if done(frames):
                        return frames
                block = {}
            elif not line.startswith(":") and ":" in line:
                name, _, value = line.partition(":")
                block[name] = value.lstrip(" ")
    return frames


def test_admin_stream_is_admin_only_and_resumes_from_the_log(server: Server) -> None:
    url = f"{server.url}/admin/events/stream"
    assert httpx.get(url, timeout=10).status_code == 401
    customer = {"Authorization": f"Bearer {server.token('customer', 'c9')}"}
    r = httpx.get(url, headers=customer, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    admin = {"Authorization": f"Bearer {server.token('admin', 'ops')}"}
    for bad in ("-1", "1e3", "99999999999999999999", "²".encode()):
        r = httpx.get(url, headers={**admin, "Last-Event-ID": bad}, timeout=10)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["details"][0]["field"] == "lastEventId"
    paid = httpx.post(
        f"{server.url}/sandbox/amk/simulate/pay", json={"billNumber": "P555000111", "method": "BILL"}, timeout=20
    ).json()["data"]["webhooks"][-1]["attempts"][-1]["response"]["data"]

    def confirmed(frames: Frames) -> bool:
        return any(d["paymentId"] == paid["paymentId"] and d["status"] == "CONFIRMED" for _, d in frames)

    everything = sse_frames(server, {**admin, "Last-Event-ID": "0"}, confirmed)  # the whole log
    ids = [i for i, _ in everything]
    assert ids == sorted(set(ids)) and len(ids) >= 2
    resumed = sse_frames(server, {**admin, "Last-Event-ID": str(ids[-2])}, lambda f: len(f) == 1)
    assert [i for i, _ in resumed] == [ids[-1]]  # only what came after the cursor
