"""Issue 7 §6: /metrics is not anonymous, X-Forwarded-For counts only from trusted proxies, IP allow-lists
guard AMK's webhooks and the admin endpoints in production, SSE answers carry no-transform."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, running, sqlite_process

STRONG = "Zq8#vR2!mK5@wX9$pL3%tN7^yB1&cF4*"
METRICS_TOKEN = STRONG + "-metrics"


async def test_metrics_needs_an_admin_or_the_metrics_token(tmp_path: Path) -> None:
    async with sqlite_process(tmp_path, metrics_token=METRICS_TOKEN) as (c, client):
        anonymous = await client.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
        assert (await client.get("/metrics", headers=auth_header(c, "customer"))).status_code == 403
        wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
        assert wrong.status_code == 401
        for headers in (auth_header(c, "admin"), {"Authorization": f"Bearer {METRICS_TOKEN}"}):
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 200 and "payhub_webhooks_total" in r.text


async def _inquire_from(client: httpx.AsyncClient, c: Container, forwarded_for: str) -> int:
    headers = {**auth_header(c, sub=f"user-{forwarded_for}"), "X-Forwarded-For": forwarded_for}
    r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=headers)
    return r.status_code


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path: Path) -> None:
    # IP limit 4/min (3 per 30 s): a client rotating X-Forwarded-For still hits its socket address's limit.
    async with sqlite_process(tmp_path / "a", rate_ip_per_min=4) as (c, client):
        codes = [await _inquire_from(client, c, f"203.0.113.{i}") for i in range(4)]
        assert codes == [200, 200, 200, 429]
    # Behind a trusted proxy (the test client's peer is 127.0.0.1) each forwarded client has its own limit.
    async with sqlite_process(tmp_path / "b", rate_ip_per_min=4, trusted_proxies=("127.0.0.0/8",)) as (c, client):
        codes = [await _inquire_from(client, c, f"203.0.113.{i}") for i in range(4)]
        assert codes == [200, 200, 200, 200]
    with sqlite3.connect(tmp_path / "b" / "payhub.db") as db:  # the inquiry log records the forwarded client
        assert db.execute("SELECT client_ip FROM inquiries ORDER BY id DESC LIMIT 1").fetchone() == ("203.0.113.3",)


def production(tmp_path: Path, **env: str) -> Settings:
    base = {
        "PAYHUB_MODE": "production",
        "PAYHUB_DATABASE_URL": f"sqlite:///{tmp_path}/prod.db",
        "PAYHUB_JWT_SECRET": STRONG + "-jwt",
        "PAYHUB_SUBSCRIBE_SECRET": STRONG + "-subscribe",
        "PAYHUB_SERVICE_TOKEN_SECRET": STRONG + "-service",
        "PAYHUB_AMK_WEBHOOK_SECRET": STRONG + "-webhook",
        "PAYHUB_AMK_BASE_URL": "http://127.0.0.1:9/amk",
        "PAYHUB_AMK_VERIFY_URL": "http://127.0.0.1:9/amk/verify",
        "PAYHUB_AMK_SECRET_KEY": STRONG + "-verify",
        "PAYHUB_AMK_MERCHANT_ID": "123456789012345",
        "PAYHUB_AMK_STORE_ID": "123456789012346",
        "PAYHUB_AMK_TERMINAL_ID": "12345678",
        "PAYHUB_AMK_USERNAME": "insurer-partner",
        "PAYHUB_AMK_PASSWORD": "Pw-4-the-bank!",
    }
    return Settings.from_env({**base, **env})


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [("POST", "/AMK/payments", "amk"), ("POST", "/AMK/khqr", "amk"), ("GET", "/admin/reviews", "admin")],
)
async def test_allow_lists_refuse_other_clients_in_production(
    tmp_path: Path, method: str, path: str, role: str
) -> None:
    env = {"PAYHUB_WEBHOOK_ALLOWED_IPS": "10.20.0.0/16", "PAYHUB_ADMIN_ALLOWED_IPS": "10.30.0.7"}
    async with running(production(tmp_path, PAYHUB_TRUSTED_PROXIES="127.0.0.1", **env)) as c:
        app = c.app
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            headers = auth_header(c, role)
            r = await client.request(method, path, headers=headers, content=b"{}")
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "FORBIDDEN"
            assert r.headers["x-correlation-id"] == r.json()["error"]["correlationId"]
            allowed = "10.20.3.4" if role == "amk" else "10.30.0.7"
            passed = await client.request(method, path, headers={**headers, "X-Forwarded-For": allowed}, content=b"{}")
            assert passed.status_code != 403, passed.text  # past the list: the route's own checks decide
            # an inquiry is not a listed operation
            r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))
            assert r.status_code == 404


async def test_allow_lists_are_off_in_sandbox_mode(tmp_path: Path) -> None:
    lists: dict[str, Any] = {"webhook_allowed_ips": ("10.20.0.0/16",), "admin_allowed_ips": ("10.30.0.7",)}
    async with sqlite_process(tmp_path, **lists) as (c, client):
        assert (await client.get("/admin/reviews", headers=auth_header(c, "admin"))).status_code == 200
        r = await client.post(
            "/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", "method": "BILL", "duplicates": 0}
        )
        assert r.status_code == 200, r.text


async def test_sse_answers_say_no_transform(container: Container, live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        r = await http.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(container))
        data = r.json()["data"]
        url = f"/api/payments/{data['paymentId']}/events"
        async with http.stream("GET", url, headers={"Authorization": f"Bearer {data['subscribeToken']}"}) as sse:
            assert sse.status_code == 200
            directives = {d.strip() for d in sse.headers["cache-control"].split(",")}
            assert {"no-transform", "no-store"} <= directives


@pytest.mark.parametrize(
    ("forwarded_for", "allowed"),
    [
        ("10.20.3.4", True),
        ("::ffff:10.20.3.4", True),  # the same IPv4 client, as a dual-stack proxy writes it
        ("[::ffff:10.20.3.4]:51234", True),
        ("::ffff:a14:304", True),  # 10.20.3.4 again, in hex
        ("::ffff:10.21.3.4", False),
        ("10.21.3.4", False),
        ("2001:db8::10.20.3.4", False),  # not an IPv4-mapped address
    ],
)
async def test_an_ipv4_client_is_the_same_client_written_as_ipv6(
    tmp_path: Path, forwarded_for: str, allowed: bool
) -> None:
    # The peer itself is the IPv4-mapped loopback (a dual-stack socket): still the trusted proxy.
    settings = production(tmp_path, PAYHUB_TRUSTED_PROXIES="127.0.0.1", PAYHUB_WEBHOOK_ALLOWED_IPS="10.20.0.0/16")
    async with running(settings) as c:
        assert c.app is not None
        transport = httpx.ASGITransport(app=c.app, client=("::ffff:127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {**auth_header(c, "amk"), "X-Forwarded-For": forwarded_for}
            r = await client.post("/AMK/khqr", headers=headers, content=b"{}")
            assert (r.status_code != 403) is allowed, r.text
