"""/metrics tells the on-call engineer what webhooks and inquiries are doing."""

from __future__ import annotations

import httpx

from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, signed


async def test_webhooks_and_inquiries_are_counted(container: Container, client: httpx.AsyncClient) -> None:
    await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(container))
    await client.get("/AMK/payments", params={"query": "NOPE000000"}, headers=auth_header(container))
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    raw, headers = signed(container, body)
    await client.post("/AMK/payments", content=raw, headers=headers)
    await client.post("/AMK/payments", content=b"{}", headers=headers)  # bad signature for this body

    text = (await client.get("/metrics", headers=auth_header(container, "admin"))).text
    assert 'payhub_inquiries_total{outcome="found"} 1.0' in text
    assert 'payhub_inquiries_total{outcome="resource_not_found"} 1.0' in text
    assert 'payhub_webhooks_total{kind="BILL",status="200"} 1.0' in text
    assert 'payhub_webhooks_total{kind="BILL",status="401"} 1.0' in text
    assert 'payhub_webhook_seconds_count{kind="BILL"} 2.0' in text
    assert 'payhub_push_subscribers{transport="sse"} 0.0' in text
