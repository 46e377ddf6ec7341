"""A paid premium is never offered again, whichever number the cache holds it under."""

from __future__ import annotations

import httpx

from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, signed


async def test_paid_premium_cached_under_its_application_number_is_not_offered(
    container: Container, client: httpx.AsyncClient
) -> None:
    headers = auth_header(container)
    r = await client.get("/AMK/payments", params={"query": "A10000001"}, headers=headers)
    assert r.status_code == 200, r.text  # now cached under the application number
    assert r.json()["data"]["policyNumber"] == "P555000111"

    body = bill_body(150003, "P555000111", "75.50")
    bank_paid(container, body["bankTransactionId"], "75.50")
    raw, signed_headers = signed(container, body)
    paid = await client.post("/AMK/payments", content=raw, headers=signed_headers)
    assert paid.json()["data"]["status"] == "CONFIRMED"

    # Before and after the integration service settles it, neither number offers it again.
    for query in ("A10000001", "P555000111"):
        r = await client.get("/AMK/payments", params={"query": query}, headers=headers)
        assert r.status_code == 404, (query, r.text)
    await container.bus.drain()
    for query in ("A10000001", "P555000111"):
        r = await client.get("/AMK/payments", params={"query": query}, headers=headers)
        assert r.status_code == 404, (query, r.text)
