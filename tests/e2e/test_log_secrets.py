"""Issue 7 §6: no token, password or secret in any log line. A real ``payhub run`` with its own secrets
(and a database URL with a password) serves real traffic: inquiries, KHQR (AMK sign-in), SSE and a
WebSocket with ``?token=`` in the URL, signed webhooks from the sandbox bank, /metrics; then every line it
wrote is searched for every secret and token used. Also: X-Forwarded-For from an untrusted peer is not
believed (the inquiry log records the socket peer)."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import PG_BASE, fresh_pg_schema
from tests.e2e.payhub_process import start_server


def _secret(name: str) -> str:
    return f"{name}-{secrets.token_urlsafe(24)}"


async def _pg_user() -> str:
    con = await asyncpg.connect(PG_BASE)
    try:
        return str(await con.fetchval("SELECT current_user"))
    finally:
        await con.close()


def _with_password(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user)}:{quote(password, safe='')}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.postgres
async def test_no_secret_or_token_in_any_log_line(tmp_path: Path) -> None:
    used = {
        "PAYHUB_JWT_SECRET": _secret("jwt"),
        "PAYHUB_SUBSCRIBE_SECRET": _secret("sub"),
        "PAYHUB_SERVICE_TOKEN_SECRET": _secret("svc"),
        "PAYHUB_AMK_WEBHOOK_SECRET": _secret("hook"),
        "PAYHUB_AMK_SECRET_KEY": _secret("amkkey"),
        "PAYHUB_AMK_PASSWORD": _secret("amkpw"),
        "PAYHUB_METRICS_TOKEN": _secret("metrics"),
    }
    db_password = _secret("pgpw")
    async with fresh_pg_schema() as pg_url:
        database_url = _with_password(pg_url, await _pg_user(), db_password)
        server = start_server(tmp_path, PAYHUB_DATABASE_URL=database_url, PAYHUB_LOG_LEVEL="DEBUG", **used)
        tokens: list[str] = []
        try:
            customer, admin = server.token("customer"), server.token("admin", "ops")
            tokens += [customer, admin]
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                bearer = {"Authorization": f"Bearer {customer}"}
                r = await http.get(
                    "/AMK/payments",
                    params={"query": "P123456789"},
                    headers={**bearer, "X-Forwarded-For": "198.51.100.7"},
                )
                assert r.status_code == 200, r.text
                bill = r.json()["data"]
                tokens.append(bill["subscribeToken"])
                r = await http.get(
                    "/khqr",
                    params={"bankCode": '{"id":"AMK","bank":"AMK"}', "billNumber": "P987654321"},
                    headers=bearer,
                )
                assert r.status_code == 200, r.text
                qr = r.json()["data"]
                tokens.append(qr["subscribeToken"])

                # SSE with the token in the URL, as EventSource does
                events = f"/api/payments/{qr['paymentId']}/events?token={qr['subscribeToken']}"
                async with http.stream("GET", events) as sse:
                    assert sse.status_code == 200
                    async for line in sse.aiter_lines():
                        if line.startswith("data:"):
                            break
                # a WebSocket whose URL carries a token (uvicorn logs the URL of every handshake)
                ws_url = server.url.replace("http", "ws", 1) + f"/ws/payments?token={bill['subscribeToken']}"
                async with connect(ws_url) as ws:
                    await ws.send(
                        json.dumps(
                            {"type": "subscribe", "paymentId": bill["paymentId"], "token": bill["subscribeToken"]}
                        )
                    )
                    assert json.loads(await ws.recv())["type"] == "SUBSCRIBED"

                # the sandbox bank signs its webhooks with the webhook secret; AMK verify uses the secret key
                r = await http.post(
                    "/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", "method": "BILL", "duplicates": 1}
                )
                assert r.status_code == 200, r.text
                r = await http.post("/sandbox/amk/simulate/pay", json={"paymentId": qr["paymentId"], "method": "KHQR"})
                assert r.status_code == 200, r.text
                metrics_token = used["PAYHUB_METRICS_TOKEN"]
                assert (await http.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})).is_success
                # refused (the header only), and its token masked in the access log all the same
                assert (await http.get(f"/metrics?token={metrics_token}")).status_code == 401
                assert (await http.get("/admin/reviews", headers={"Authorization": f"Bearer {admin}"})).is_success
                # a refused token is not logged either
                assert (
                    await http.get("/admin/reviews", headers={"Authorization": f"Bearer {admin}x"})
                ).status_code == 401
            await asyncio.sleep(0.2)  # let the last log lines reach the file
        finally:
            server.stop()

        con = await asyncpg.connect(pg_url.split("?")[0])
        try:
            schema = pg_url.split("schema=")[1]
            ips = await con.fetch(f'SELECT client_ip FROM "{schema}".inquiries')
        finally:
            await con.close()
    assert {row[0] for row in ips} == {"127.0.0.1"}  # X-Forwarded-For from an untrusted peer is ignored

    lines = server.log.read_text(errors="replace").splitlines()
    assert len(lines) > 20, lines
    assert any("WebSocket /ws/payments" in line for line in lines), "the handshake line was logged"
    assert any("database" in line and "***" in line for line in lines), "the banner masks the password"
    for line in lines:
        if line.startswith("{"):
            json.loads(line)  # redaction keeps every line valid JSON
    needles = {**used, "database password": db_password, **{f"token {i}": t for i, t in enumerate(tokens)}}
    for name, needle in needles.items():
        leaked = [line for line in lines if needle in line]
        assert not leaked, f"{name} appears in the log:\n" + "\n".join(leaked[:3])
