"""The demo page's live status through /static/payhub.js, in headless Chromium against ``payhub run``:
the server drops the stream and the page resumes with nothing missed; SSE refused → WebSocket;
SSE and WebSocket refused → long-poll; nothing is requested once the payment is settled.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Route, WebSocketRoute, expect

from payhub_client import PayHubClient, PaymentStatus
from tests.e2e.client_policies import import_policies
from tests.e2e.conftest import Phone
from tests.e2e.payhub_process import Server, start_server
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.browser

EVENTS = "**/api/payments/*/events*"
WS = re.compile(r"/ws/payments")
SOURCE = (Path(__file__).resolve().parents[2] / "clients" / "js" / "payhub.js").read_text(encoding="utf-8")
POLICIES = [(180000 + i, f"P18000000{i}", "Sok Dara", "45.00", "USD") for i in range(1, 6)]


class HoldingProxy(TcpProxy):
    """A loopback proxy that can drop every connection and then hold new ones (accepted, not yet
    forwarded) until released: a push node restarting behind a load balancer."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.open = asyncio.Event()
        self.open.set()

    async def drop_and_hold(self) -> None:
        self.open.clear()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        self._writers.clear()

    def release(self) -> None:
        self.open.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.open.wait()
        await super()._accept(reader, writer)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    workdir = tmp_path_factory.mktemp("transports")
    s = start_server(workdir, PAYHUB_REVERIFY_INTERVAL_S="1")
    try:
        import_policies(s, workdir, POLICIES)
        yield s  # type: ignore[misc]
    finally:
        s.stop()


async def show_qr(page: Page, url: str, policy: str) -> None:
    await page.goto(f"{url}/demo/")
    await page.evaluate("window.__marker = 'no reload'")
    await expect(page.locator("#lookup")).to_be_enabled()
    await page.locator("#policy").fill(policy)
    await page.locator("#lookup").click()
    await page.locator("#pay-khqr").click()
    await expect(page.locator("#qr-image")).to_be_visible()


async def state(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.__payhub.state")
    return result


async def control(server: Server, **switches: object) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        assert (await http.post("/sandbox/amk/control", json=switches)).status_code == 200


async def pay(server: Server, payment_id: int, outcome: str = "SUCCESS") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.post(
            "/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR", "outcome": outcome}
        )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()["data"]["webhooks"][0]["attempts"][-1]["response"]["data"]
    return answer


async def log_ids(server: Server, payment_id: int) -> list[tuple[int, PaymentStatus]]:
    async with PayHubClient(server.url) as payhub:
        admin = server.token("admin")
        return [(e.id, e.status) async for e in payhub.events(payment_id, token=admin, last_event_id=0)]


def watch_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    return seen


async def nothing_after_the_end(page: Page, seen: list[str]) -> None:
    """Settled: the watch is closed and asks nothing more of the server."""
    await page.wait_for_function("window.__payhub.state.watchClosed")
    before = len(seen)
    await page.wait_for_timeout(1500)
    later = [u for u in seen[before:] if re.search(r"/events|/ws/|/khqr/sessions|/api/payments", u)]
    assert later == []


@pytest.mark.timeout(90)
async def test_server_drops_the_stream_and_the_page_resumes_with_nothing_missed(server: Server, phone: Phone) -> None:
    """While the page is cut off the payment goes PROCESSING (AMK unreachable) and then CONFIRMED (the
    re-verifier): reconnecting with Last-Event-ID, the page receives both, in order, once."""
    host, port = server.url.removeprefix("http://").split(":")
    proxy = HoldingProxy(host, int(port))
    await proxy.start()
    page = phone.page
    try:
        await show_qr(page, f"http://127.0.0.1:{proxy.port}", "P180000001")
        await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        first = await state(page)
        assert first["transport"] == "sse" and len(first["received"]) == 1, first

        await proxy.drop_and_hold()  # every connection of the page is cut; new ones wait
        await expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
        await control(server, verifyAvailable=False)
        assert (await pay(server, first["paymentId"]))["status"] == "PROCESSING"
        await control(server, verifyAvailable=True)
        async with PayHubClient(server.url) as check:
            for _ in range(150):
                settled = await check.payment(first["paymentId"], token=server.token("admin"))
                if settled.status is PaymentStatus.CONFIRMED:
                    break
                await asyncio.sleep(0.1)
        assert settled.status is PaymentStatus.CONFIRMED
        await expect(page.locator("#status")).to_have_attribute("data-state", "PENDING")  # it cannot know yet
        proxy.release()

        await expect(page.locator("#status")).to_have_attribute("data-state", "PAID", timeout=20_000)
        await expect(page.locator("#transaction-id")).to_have_text(settled.transaction_id or "")
        await expect(page.locator("#latency")).to_contain_text("caught up after a reconnect")
        after = await state(page)
        log = await log_ids(server, first["paymentId"])
        assert [s for _, s in log] == [PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.CONFIRMED]
        assert after["received"] == [i for i, _ in log], (after, log)  # every event, in order, once
        assert after["transport"] == "sse" and after["resumed"] and after["streamOpens"] == 2, after
        assert await page.evaluate("window.__marker") == "no reload"
        assert not phone.page_errors, phone.page_errors
    finally:
        proxy.release()
        await proxy.cut()


async def test_sse_refused_falls_back_to_websocket(server: Server, phone: Phone) -> None:
    page = phone.page
    seen = watch_requests(page)

    async def refuse(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route(EVENTS, refuse)
    await show_qr(page, server.url, "P180000002")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=15_000)
    s = await state(page)
    assert s["watchTransport"] == "ws" and s["fallbacks"] == 1 and s["transport"] == "ws", s

    answer = await pay(server, s["paymentId"])
    await expect(page.locator("#status")).to_have_attribute("data-state", "PAID")
    await expect(page.locator("#transaction-id")).to_have_text(answer["transactionId"])
    await expect(page.locator("#latency")).to_contain_text("over WebSocket")
    assert [u for u in seen if "/events" in u], "SSE was tried first"
    await nothing_after_the_end(page, seen)
    assert not phone.page_errors, phone.page_errors


async def test_sse_and_websocket_refused_fall_back_to_long_poll(server: Server, phone: Phone) -> None:
    page = phone.page
    seen = watch_requests(page)
    sockets: list[str] = []

    async def refuse(route: Route) -> None:
        await route.abort("connectionrefused")

    async def refuse_ws(ws: WebSocketRoute) -> None:
        sockets.append(ws.url)
        await ws.close(code=1011, reason="refused by the test")

    await page.route(EVENTS, refuse)
    await page.route_web_socket(WS, refuse_ws)
    await show_qr(page, server.url, "P180000003")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "polling", timeout=20_000)
    s = await state(page)
    assert s["watchTransport"] == "poll" and s["fallbacks"] == 2 and sockets, s

    await pay(server, s["paymentId"], outcome="FAILED")
    await expect(page.locator("#status")).to_have_attribute("data-state", "FAILED", timeout=5000)
    await expect(page.locator("#latency")).to_contain_text("checked by polling")
    assert any("/khqr/sessions/" in u and "wait=" in u for u in seen)
    await nothing_after_the_end(page, seen)
    assert not phone.page_errors, phone.page_errors


async def test_module_is_served_for_other_origins(server: Server) -> None:
    """The insurer's own pages import it cross-origin: CORS, a JavaScript type, revalidation."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        js = await http.get("/static/payhub.js", headers={"Origin": "https://app.insurer.example"})
        types = await http.get("/static/payhub.d.ts")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert js.headers["access-control-allow-origin"] == "*" and js.headers["cache-control"] == "no-cache"
    assert js.text == SOURCE
    assert types.status_code == 200 and "export interface PaymentStatusEvent" in types.text
