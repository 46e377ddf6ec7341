"""Issue 7 §5: with PAYHUB_REDIS_URL set and Redis down, AMK's webhooks are still answered (not 503):
the rate limiter falls back to a per-process limit, raises an ALERT and says so in /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.constants import PAYMENT_ID_FLOOR
from tests.conftest import auth_header, bank_paid, bill_body, make_settings, running, signed
from tests.redis_server import PrivateRedis


async def test_webhook_is_answered_while_redis_is_down(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", redis_url=redis_server.url)
    try:
        async with running(settings) as c:
            app = c.app
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                redis_server.stop()
                body = bill_body()
                bank_paid(c, body["bankTransactionId"])
                raw, headers = signed(c, body)
                r = await client.post("/AMK/payments", content=raw, headers=headers)
                # The limiter let it through (the fan-out to Redis after the commit is another matter):
                # the bank's money is recorded. A signed notice does not even ask the limiter.
                assert "Rate-limit storage" not in r.text
                paid = await client.get(f"/api/payments/{PAYMENT_ID_FLOOR}", headers=auth_header(c, "admin"))
                assert paid.json()["data"]["status"] == "CONFIRMED", paid.text
                # A limited request (an unsigned webhook) is limited per process, not refused with 503.
                unsigned = await client.post("/AMK/payments", content=raw, headers=auth_header(c, "amk"))
                assert unsigned.status_code == 401, unsigned.text
                assert any(
                    rec.getMessage().startswith("ALERT rate-limit storage unavailable") for rec in caplog.records
                )
                metrics = (await client.get("/metrics", headers=auth_header(c, "admin"))).text
                assert "payhub_ratelimit_degraded 1.0" in metrics
                assert "payhub_ratelimit_fallbacks 1.0" in metrics  # the unsigned one (look-ups are not limited)

                await redis_server.start()  # same port: shared limits again
                c.limiter.storage.retry_shared_now()  # skip the re-try pause instead of sleeping through it
                r = await client.post("/AMK/payments", content=raw, headers=headers)  # AMK's retry
                assert r.status_code == 200, r.text
                assert r.json()["data"]["status"] == "CONFIRMED"
                unsigned = await client.post("/AMK/payments", content=raw, headers=auth_header(c, "amk"))
                assert unsigned.status_code == 401, unsigned.text
                assert not c.limiter.degraded
    finally:
        redis_server.stop()
