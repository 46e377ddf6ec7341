"""PostgreSQL unreachable: webhooks answer 503 SERVICE_UNAVAILABLE (AMK retries) and nothing is half-written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from payhub.bootstrap import Container
from tests.conftest import PG_BASE, bank_paid, bill_body, make_settings, require_postgres, running, signed
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
async def cut_off() -> AsyncIterator[tuple[Container, httpx.AsyncClient, TcpProxy, str]]:
    """A wired process whose PostgreSQL connections pass through a proxy the test can cut."""
    require_postgres()
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = f"postgresql://127.0.0.1:{proxy.port}/test?schema={schema}"
    try:
        async with running(make_settings(url, db_pool_min=1, db_pool_max=4)) as c:
            app = c.app
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                yield c, client, proxy, schema
    finally:
        await proxy.cut()
        con = await asyncpg.connect(PG_BASE)
        try:
            await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await con.close()


async def test_webhook_gets_503_while_the_database_is_unreachable_then_succeeds_once(
    cut_off: tuple[Container, httpx.AsyncClient, TcpProxy, str],
) -> None:
    c, client, proxy, schema = cut_off
    body = bill_body()
    bank_paid(c, body["bankTransactionId"])
    raw, headers = signed(c, body)

    await proxy.cut()
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE" and error["correlationId"]
    ready = await client.get("/readyz")
    assert ready.status_code == 503

    await proxy.start()  # PostgreSQL is back; AMK retries the same webhook
    con = await asyncpg.connect(PG_BASE, server_settings={"search_path": schema})
    try:
        assert await con.fetchval("SELECT count(*) FROM webhook_receipts") == 0  # nothing half-written
        assert await con.fetchval("SELECT count(*) FROM payments WHERE status = 'CONFIRMED'") == 0
        for _ in range(3):  # the pool may hand out connections that died with the cut: retried by AMK
            r = await client.post("/AMK/payments", content=raw, headers=headers)
            if r.status_code != 503:
                break
        assert r.status_code == 200, r.text
        assert r.json()["data"]["status"] == "CONFIRMED"
        again = await client.post("/AMK/payments", content=raw, headers=headers)
        assert again.json()["data"] == r.json()["data"]
        assert await con.fetchval("SELECT count(*) FROM payments WHERE status = 'CONFIRMED'") == 1
        assert await con.fetchval("SELECT count(*) FROM payment_events WHERE status = 'CONFIRMED'") == 1
    finally:
        await con.close()
