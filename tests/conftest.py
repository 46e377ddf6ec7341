"""Shared fixtures: real SQLite and PostgreSQL stores, a wired container, signed webhooks, live HTTP.

PostgreSQL tests use the local server (database ``test``), each in a schema of its own that is
dropped afterwards. With ``CI=true`` they fail instead of skipping when the server is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import simplejson as json
import uvicorn
from starlette.applications import Starlette

from hub.adapters.amk.signature import signature_header
from hub.adapters.store.memory import MemoryStore
from hub.adapters.store.sql import SqlStore
from hub.ports import Store
from hub.secrets_policy import SANDBOX_WEBHOOK_SECRET
from hub.settings import Settings
from payhub.app import container_of, create_app
from payhub.bootstrap import Container, open_store

PG_BASE = os.environ.get("PAYHUB_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"


def _pg_available() -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(PG_BASE)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=3):
            return True
    except OSError:
        return False


_PG_STATE: dict[str, bool] = {}


def require_postgres() -> None:
    if "ok" not in _PG_STATE:
        _PG_STATE["ok"] = _pg_available()
    if not _PG_STATE["ok"]:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable at {PG_BASE} (CI=true: not skipping)")
        pytest.skip("PostgreSQL unreachable")


@contextlib.asynccontextmanager
async def fresh_pg_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        con = await asyncpg.connect(PG_BASE)
        try:
            await con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await con.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """Every backend of the store port: a test using this runs once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/payhub.db"
    else:
        async with fresh_pg_schema() as url:
            yield url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    """Every implementation of the store port."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        async with open_store(f"sqlite:///{tmp_path}/payhub.db") as s:
            yield s
        return
    async with fresh_pg_schema() as url, open_store(url) as s:
        yield s


@pytest.fixture
async def sql_store(db_url: str) -> AsyncIterator[SqlStore]:
    """The SQL stores only (SQLite and PostgreSQL)."""
    async with open_store(db_url) as s:
        yield s


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Sandbox settings with fast retries, for tests."""
    base: dict[str, Any] = {
        "database_url": db_url,
        "amk_retry_initial_s": 0.01,
        "amk_retry_max_s": 0.05,
        "reverify_interval_s": 0.05,
        "db_pool_min": 1,
        "db_pool_max": 10,
    }
    base.update(overrides)
    return Settings.from_env({}, **base)


@pytest.fixture
def settings_factory(db_url: str) -> Callable[..., Settings]:
    return lambda **overrides: make_settings(db_url, **overrides)


def process(settings: Settings, **adapters: Any) -> Container:
    """The container of a process's app as ``create_app`` builds it, not opened yet (``async with`` it)."""
    return container_of(create_app(settings, background=False, **adapters))


@contextlib.asynccontextmanager
async def running(settings: Settings, *, background: bool = False, **adapters: Any) -> AsyncIterator[Container]:
    """A process's app with its lifespan running (what an ASGI server does); yields its container."""
    app = create_app(settings, background=background, **adapters)
    async with app.router.lifespan_context(app):
        yield container_of(app)


@pytest.fixture
async def container(db_url: str) -> AsyncIterator[Container]:
    """A fully wired process (sandbox mode, demo data seeded), background loops not started."""
    async with running(make_settings(db_url)) as c:
        yield c


@contextlib.asynccontextmanager
async def sqlite_process(tmp_path: Any, **overrides: Any) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    """A wired process on SQLite (for tests about HTTP, not storage) and an in-process client to it."""
    async with running(make_settings(f"sqlite:///{tmp_path}/payhub.db", **overrides)) as c:
        assert c.app is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://testserver") as client:
            yield c, client


async def table_counts(c: Container, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows per table: what a refused request must leave unchanged."""
    async with c.store.transaction() as tx:
        return {t: await tx.count(t) for t in tables}


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client talking to the container's app in-process (ASGI)."""
    assert container.app is not None
    transport = httpx.ASGITransport(app=container.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """uvicorn serving an app on a loopback port, inside the test's event loop."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="off", log_config=None, ws_ping_interval=None
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or self._task.done():
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)


@pytest.fixture
async def live(container: Container) -> AsyncIterator[LiveServer]:
    assert container.app is not None
    async with LiveServer(container.app) as server:
        yield server


def token(c: Container, role: str = "customer", sub: str = "tester") -> str:
    return c.auth.issue(sub, role, 600)


def auth_header(c: Container, role: str = "customer", sub: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(c, role, sub)}"}


def signed(
    c: Container,
    body: dict[str, Any] | bytes,
    *,
    secret: str = SANDBOX_WEBHOOK_SECRET,
    ts: int | None = None,
    role: str = "amk",
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and the headers AMK would send with it."""
    raw = body if isinstance(body, bytes) else json.dumps(body, use_decimal=True).encode()
    stamp = int(time.time()) if ts is None else ts
    headers = {
        **auth_header(c, role, "amk-bank"),
        "Content-Type": "application/json",
        "X-AMK-Timestamp": str(stamp),
        "X-AMK-Signature": signature_header([secret], stamp, raw),
    }
    return raw, headers


def bill_body(
    premium_id: int = 150001,
    policy: str = "P123456789",
    amount: str = "150.00",
    currency: str = "USD",
    tx: str | None = None,
) -> dict[str, Any]:
    return {
        "id": premium_id,
        "policyNumber": policy,
        "amount": json.loads(amount, use_decimal=True),
        "currency": currency,
        "bankTransactionId": tx or f"AMK{uuid.uuid4().hex[:12].upper()}",
        "payer": "John Doe",
        "paidDate": "20261127120000",
    }


def khqr_body(
    invoice: int,
    status: str = "SUCCESS",
    amount: str = "150.00",
    currency: str = "USD",
    merchant: str = "000000000000001",
) -> dict[str, Any]:
    return {
        "invoice_number": str(invoice),
        "status": status,
        "merchant_number": merchant,
        "paid_amount": json.loads(amount, use_decimal=True),
        "currency": currency,
        "paid_datetime": "2026-11-27 12:00:00.123456",
    }


def bank_paid(c: Container, tx_id: str, amount: str = "150.00", currency: str = "USD", status: str = "PAID") -> None:
    """Tell the sandbox bank it holds this transaction, so AMK's payment-verify confirms it."""
    from decimal import Decimal

    from sandbox.state import Transaction

    c.sandbox_state.record(Transaction(tx_id, status, Decimal(amount), currency))
