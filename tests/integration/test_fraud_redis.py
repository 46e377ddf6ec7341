"""The fraud rules' state in Redis, as in production: shared by every process, and when Redis is down,
kept per process (logged, exported) without ever failing open silently or refusing a bank's money."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from hub.fraud.windows import VelocityWindows
from hub.json_codec import dumps
from payhub.bootstrap import Container
from tests.conftest import auth_header, bank_paid, bill_body, make_settings, running, signed
from tests.redis_server import PrivateRedis, require_shared_redis

RULES = [
    {"kind": "velocity", "name": "inquiry-customer", "surfaces": ["inquiry"], "subject": "customer", "limit": 2,
     "window_s": 600},
    {"kind": "velocity", "name": "webhook-policy", "surfaces": ["webhook"], "subject": "policy", "limit": 1,
     "window_s": 600},
]  # fmt: skip


async def inquiry(
    c: Container, client: httpx.AsyncClient, sub: str = "alice", query: str = "P123456789"
) -> httpx.Response:
    return await client.get("/AMK/payments", params={"query": query}, headers=auth_header(c, sub=sub))


async def test_two_processes_share_one_customers_window(tmp_path: Path) -> None:
    url = await require_shared_redis()
    prefix = f"payhub:test:fraud:{uuid.uuid4().hex}"
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", fraud_rules=dumps(RULES))
    async with (
        VelocityWindows(url, key_prefix=prefix) as windows_a,
        VelocityWindows(url, key_prefix=prefix) as windows_b,
        running(settings, fraud_windows=windows_a) as a,
        running(settings, fraud_windows=windows_b) as b,
    ):
        try:
            assert a.app is not None and b.app is not None
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=a.app), base_url="http://a") as client_a,
                httpx.AsyncClient(transport=httpx.ASGITransport(app=b.app), base_url="http://b") as client_b,
            ):
                assert (await inquiry(a, client_a)).status_code == 200
                assert (await inquiry(b, client_b)).status_code == 200
                third = await inquiry(a, client_a)
                assert third.status_code == 403 and third.json()["error"]["code"] == "FRAUD_DETECTED"
                fourth = await inquiry(b, client_b)
                assert fourth.status_code == 403
                assert not windows_a.degraded and not windows_b.degraded
        finally:
            await windows_a.reset()


async def test_redis_down_keeps_counting_per_process_and_never_refuses_money(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", fraud_rules=dumps(RULES))
    try:
        async with (
            VelocityWindows(redis_server.url, retry_shared_s=3600) as windows,
            running(settings, fraud_windows=windows) as c,
        ):
            assert c.app is not None
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://t") as client:
                assert (await inquiry(c, client)).status_code == 200
                redis_server.stop()
                # Not failing open: the process counts alone (it has forgotten the one counted in Redis).
                assert (await inquiry(c, client)).status_code == 200
                assert (await inquiry(c, client)).status_code == 200
                assert (await inquiry(c, client)).status_code == 403
                alerts = [r for r in caplog.records if r.getMessage().startswith("ALERT fraud velocity storage")]
                assert len(alerts) == 1  # once per outage
                metrics = (await client.get("/metrics", headers=auth_header(c, "admin"))).text
                assert "payhub_fraud_state_degraded 1.0" in metrics
                for n in range(3):  # a bank's money, with the webhook rule firing from the second on
                    body = bill_body(tx=f"DOWN{n}")
                    bank_paid(c, body["bankTransactionId"])
                    raw, headers = signed(c, body)
                    r = await client.post("/AMK/payments", content=raw, headers=headers)
                    assert r.status_code == 200, r.text
                async with c.store.transaction() as tx:
                    flagged = [x for x in await tx.reviews() if x["key"].startswith("fraud:webhook:")]
                assert len(flagged) == 2

                await redis_server.start()  # same port: shared again
                windows.storage.retry_shared_now()  # skip the retry pause instead of sleeping through it
                assert (await inquiry(c, client, sub="bob", query="P555000111")).status_code == 200
                assert not windows.degraded
    finally:
        redis_server.stop()
