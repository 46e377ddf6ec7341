"""Quick flow check: inquiry, bill webhook, replay; one test per backend."""

from __future__ import annotations

import httpx

from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, signed


async def test_inquiry_then_bill_webhook_confirms(container: Container, client: httpx.AsyncClient) -> None:
    r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(container))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["id"] == 150001 and data["amount"] == 150.0
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    raw, headers = signed(container, body)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
    again = await client.post("/AMK/payments", content=raw, headers=headers)
    assert again.json() == r.json()
