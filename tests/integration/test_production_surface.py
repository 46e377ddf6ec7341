"""In production mode the sandbox and the demo's token helper do not exist."""

from __future__ import annotations

from pathlib import Path

import httpx

from hub.settings import Settings
from tests.conftest import running

SECRET = "a-production-secret-of-at-least-32-bytes!"


def production(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "PAYHUB_MODE": "production",
            "PAYHUB_DATABASE_URL": f"sqlite:///{tmp_path}/prod.db",
            "PAYHUB_JWT_SECRET": SECRET,
            "PAYHUB_SUBSCRIBE_SECRET": SECRET + "-subscribe",
            "PAYHUB_AMK_WEBHOOK_SECRET": SECRET + "-webhook",
            "PAYHUB_AMK_BASE_URL": "http://127.0.0.1:9/amk",
            "PAYHUB_AMK_VERIFY_URL": "http://127.0.0.1:9/amk/verify",
            "PAYHUB_AMK_SECRET_KEY": SECRET + "-verify",
            "PAYHUB_AMK_MERCHANT_ID": "m",
            "PAYHUB_AMK_STORE_ID": "s",
            "PAYHUB_AMK_TERMINAL_ID": "t",
            "PAYHUB_AMK_USERNAME": "insurer-partner",
            "PAYHUB_AMK_PASSWORD": "Pw-4-the-bank!",
            "PAYHUB_SERVICE_TOKEN_SECRET": SECRET + "-service",
        }
    )


async def test_no_sandbox_and_no_demo_token_in_production(tmp_path: Path) -> None:
    async with running(production(tmp_path)) as c:
        app = c.app
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/demo/api/token")).status_code in (404, 405)
            config = await client.get("/demo/api/config")
            assert config.json()["data"]["sandbox"] is False
            for path in ("/sandbox/amk/simulate/pay", "/sandbox/amk/auth/sign-in", "/sandbox/amk/control"):
                r = await client.post(path, json={})
                assert r.status_code == 404, (path, r.text)
            # no demo data is seeded in production
            token = c.auth.issue("someone", "customer", 60)
            r = await client.get(
                "/AMK/payments", params={"query": "P123456789"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 404, r.text
