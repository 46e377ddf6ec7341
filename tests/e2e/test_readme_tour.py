"""The README's two-minute curl tour, against a real ``payhub run`` process over real HTTP.

Get a token, inquire P123456789, pay it through the sandbox's ``simulate/pay`` (with duplicate
webhooks), see it CONFIRMED, and see the premium no longer offered; then the same with KHQR.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.constants import PAYMENT_ID_FLOOR
from payhub.bootstrap import open_store
from tests.e2e.payhub_process import Server, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("tour"))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def answers(simulated: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway's final answer to each webhook the sandbox bank sent."""
    return [w["attempts"][-1] for w in simulated["webhooks"]]


def test_bill_tour(server: Server, http: httpx.Client) -> None:
    customer = server.token("customer")

    r = http.get("/AMK/payments", params={"query": "P123456789"}, headers=bearer(customer))
    assert r.status_code == 200, r.text
    assert r.headers.get("x-correlation-id")
    premium = r.json()["data"]
    assert (premium["id"], premium["payer"], premium["currency"]) == (150001, "John Doe", "USD")
    assert b'"amount":150.00' in r.content
    payment_id = premium["paymentId"]
    assert payment_id == PAYMENT_ID_FLOOR  # the README's step 3 reads /api/payments/1000000000000
    assert premium["eventsUrl"] == f"/api/payments/{payment_id}/events"

    r = http.post("/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", "method": "BILL", "duplicates": 2})
    assert r.status_code == 200, r.text
    sent = answers(r.json()["data"])
    assert len(sent) == 3, r.text
    for answer in sent:
        assert answer["status"] == 200, answer
        assert answer["response"]["data"]["status"] == "CONFIRMED"
        assert answer["response"]["data"]["paymentId"] == payment_id
    assert len({a["response"]["data"]["transactionId"] for a in sent}) == 1

    admin = server.token("admin", "ops")
    r = http.get(f"/api/payments/{payment_id}", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
    assert r.json()["data"]["method"] == "BILL"

    # The premium is paid: the biller lookup no longer offers it.
    r = http.get("/AMK/payments", params={"query": "P123456789"}, headers=bearer(customer))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"

    # Three webhooks, one payment, one CONFIRMED event (read from the server's own database).
    assert asyncio.run(_payments_and_confirmations(server.database_url, 150001, payment_id)) == (1, 1)

    # 5. The receipt went to the sandbox: push, email and the partner webhook, once each.
    deadline = time.monotonic() + 10
    while True:
        r = http.get("/sandbox/notifications", params={"paymentId": payment_id, "format": "json"})
        assert r.status_code == 200, r.text
        records = r.json()["data"]
        if len(records) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(x["channel"] for x in records) == ["email", "push", "webhook"]
    [receipt] = [x for x in records if x["channel"] == "email"]
    assert receipt["recipient"] == "john.doe@example.com"
    assert receipt["subject"] == "Receipt: premium paid for policy P123456789"
    assert "Amount paid:     150.00 USD" in receipt["text"]
    page = http.get("/sandbox/notifications")
    assert page.headers["content-type"].startswith("text/html") and "Receipt: premium paid" in page.text


async def _payments_and_confirmations(url: str, premium_id: int, payment_id: int) -> tuple[int, int]:
    async with open_store(url, migrate=False) as store, store.transaction() as tx:
        payments = await tx.count("payments", "premium_id = $1", premium_id)
        confirmed = await tx.count("payment_events", "payment_id = $1 AND status = $2", payment_id, "CONFIRMED")
    return payments, confirmed


def test_khqr_tour(server: Server, http: httpx.Client) -> None:
    customer = server.token("customer")
    r = http.get("/AMK/payments", params={"query": "P987654321"}, headers=bearer(customer))
    assert r.status_code == 200, r.text
    premium = r.json()["data"]
    assert premium["currency"] == "KHR"
    assert b'"amount":600000,' in r.content
    payment_id = premium["paymentId"]

    r = http.post("/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR"})
    assert r.status_code == 200, r.text
    [answer] = answers(r.json()["data"])
    assert answer["status"] == 200, answer
    assert answer["response"]["data"]["status"] == "CONFIRMED"
    assert answer["response"]["data"]["paymentId"] == payment_id

    # The subscribe token of the inquiry may read its own payment, and only that one.
    watch = bearer(premium["subscribeToken"])
    r = http.get(f"/api/payments/{payment_id}", headers=watch)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
    assert r.json()["data"]["method"] == "KHQR"
    assert http.get(f"/api/payments/{payment_id + 1000}", headers=watch).status_code == 403

    r = http.get("/AMK/payments", params={"query": "P987654321"}, headers=bearer(customer))
    assert r.status_code == 404, r.text


def test_probes_and_index(server: Server, http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    r = http.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["database"] == "sqlite"
    assert http.get("/").json()["data"]["mode"] == "sandbox"


def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        assert server.process.poll() is None
    finally:
        code = server.stop()
    # uvicorn re-raises the captured SIGTERM once it has shut down, as process managers expect.
    assert code in (0, -signal.SIGTERM), server.output()
    assert "PayHub (sandbox mode) on" in server.output()
    assert "Finished server process" in server.output()  # graceful, not killed
