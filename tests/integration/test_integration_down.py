"""Integration service down during a bill webhook: 503, nothing recorded, the bank's notice kept,
and AMK's retry after the service returns lands exactly once (SQLite and PostgreSQL).

Issue 7 §5. The choice (documented in README and docs/operations.md): rely on AMK's retry of a
503 with Retry-After, never record money that could not be matched against its premium.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.webhooks import HELD_INTEGRATION_DOWN
from hub.adapters.integration import IntegrationClient
from hub.auth import Principal
from hub.domain.payment import PaymentStatus
from payhub.bootstrap import Container
from tests.conftest import bank_paid, bill_body, make_settings, running, signed

WHO = Principal("t", "customer")


@pytest.fixture
async def proc(db_url: str) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with running(make_settings(db_url, breaker_open_s=0.05, breaker_min_calls=2)) as c:
        app = c.app
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield c, client


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("integration service down", request=request)


async def test_bill_webhook_while_integration_is_down_is_retried_and_lands_once(
    proc: tuple[Container, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    c, client = proc
    payment_id = int((await c.inquiry.inquire("P123456789", WHO, "127.0.0.1", "cid"))["paymentId"])
    body = bill_body()
    bank_paid(c, body["bankTransactionId"])
    raw, headers = signed(c, body)
    working = c.inquiry.integration
    async with httpx.AsyncClient(transport=httpx.MockTransport(_refused), base_url="http://down") as down:
        monkeypatch.setattr(c.inquiry, "integration", IntegrationClient(down))
        for _ in range(4):  # AMK retries during the outage (the breaker opens on the way)
            r = await client.post("/AMK/payments", content=raw, headers=headers)
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "SERVICE_UNAVAILABLE" and error["retryAfter"] >= 1
            assert r.headers["Retry-After"] == str(error["retryAfter"])
    async with c.store.transaction() as tx:
        assert await tx.count("webhook_receipts") == 0  # nothing recorded as paid
        held = [f for f in await tx.reviews() if f["reason"] == HELD_INTEGRATION_DOWN]
    assert len(held) == 1 and held[0]["payload"]["bankTransactionId"] == body["bankTransactionId"]
    found = await c.store.payment(payment_id)
    assert found is not None and found.status is PaymentStatus.PENDING

    monkeypatch.setattr(c.inquiry, "integration", working)
    await asyncio.sleep(0.1)  # the breaker lets calls through again (half-open)
    answers = [await client.post("/AMK/payments", content=raw, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.json()["data"]["paymentId"] for a in answers} == {payment_id}
    assert {a.json()["data"]["status"] for a in answers} == {"CONFIRMED"}
    events = await c.store.events_after(payment_id, 0)
    assert [e.status for e in events] == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]
    async with c.store.transaction() as tx:
        assert await tx.count("payments", "status = 'CONFIRMED'") == 1
        assert await tx.count("webhook_receipts") == 1
    await c.bus.drain()
    premium = await c.premiums.get(150001)
    assert premium is not None and premium.status == "PAID" and premium.paid_payment_id == payment_id


PREMIUM = {
    "id": 150001,
    "policyNumber": "P123456789",
    "payer": "John Doe",
    "amount": "150.00",
    "currency": "USD",
    "dueDate": "2026-12-01",
}


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"success": True, "data": {**PREMIUM, "id": 150002}}, id="another-premium"),
        pytest.param({"success": True, "data": {**PREMIUM, "id": "150001x"}}, id="id-not-a-number"),
        pytest.param({"success": True, "data": {**PREMIUM, "id": True}}, id="id-bool"),
        pytest.param({"success": True, "data": {**PREMIUM, "policyNumber": None}}, id="policy-null"),
        pytest.param({"success": True, "data": {**PREMIUM, "policyNumber": 123456789}}, id="policy-number"),
        pytest.param({"success": True, "data": {**PREMIUM, "payer": None}}, id="payer-null"),
        pytest.param({"success": True, "data": {**PREMIUM, "currency": "XYZ"}}, id="currency"),
        pytest.param({"success": True, "data": [PREMIUM]}, id="data-list"),
        pytest.param("<html>200 but a login page</html>", id="html"),
    ],
)
async def test_bill_webhook_while_integration_answers_garbage_is_retried_never_misplaced(
    proc: tuple[Container, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch, answer: object
) -> None:
    """An unusable premium is the service's fault: 503 (AMK retries), nothing recorded, never money on
    another premium or a 4xx that would end AMK's retries."""
    c, client = proc
    payment_id = int((await c.inquiry.inquire("P123456789", WHO, "127.0.0.1", "cid"))["paymentId"])
    body = bill_body()
    bank_paid(c, body["bankTransactionId"])
    raw, headers = signed(c, body)

    def garbage(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, str):
            return httpx.Response(200, text=answer)
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(garbage), base_url="http://garbage") as bad:
        monkeypatch.setattr(c.inquiry, "integration", IntegrationClient(bad))
        r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 503, r.text
    async with c.store.transaction() as tx:
        assert await tx.count("webhook_receipts") == 0
        assert await tx.count("payments") == 1
    found = await c.store.payment(payment_id)
    assert found is not None and found.status is PaymentStatus.PENDING
