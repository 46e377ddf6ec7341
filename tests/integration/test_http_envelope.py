"""The response envelope and ``X-Correlation-ID`` on every answer, including 404, 405 and 500;
liveness and readiness probes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.errors import ServiceUnavailable
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, make_settings, running

ERROR_KEYS = {"code", "message", "details", "correlationId", "timestamp"}


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    """SQLite only: these tests are about HTTP, not storage (overrides conftest's two-backend one)."""
    async with running(make_settings(f"sqlite:///{tmp_path}/env.db")) as c:
        yield c


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    assert container.app is not None
    transport = httpx.ASGITransport(app=container.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _envelope(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    cid = r.headers.get("x-correlation-id")
    assert cid
    body = r.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert ERROR_KEYS <= set(error), error
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["correlationId"] == cid
    stamp = datetime.fromisoformat(error["timestamp"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None
    return error


async def test_unknown_path_is_404_envelope(client: httpx.AsyncClient) -> None:
    error = _envelope(await client.get("/no/such/thing"), 404, "RESOURCE_NOT_FOUND")
    assert error["details"] == {"path": "/no/such/thing"}


async def test_unknown_payment_is_404_envelope(container: Container, client: httpx.AsyncClient) -> None:
    r = await client.get("/api/payments/999999", headers=auth_header(container, "admin"))
    _envelope(r, 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/AMK/payments"), ("PUT", "/AMK/khqr")])
async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path)
    _envelope(r, 405, "METHOD_NOT_ALLOWED")


async def test_405_lists_the_allowed_methods(client: httpx.AsyncClient) -> None:
    """RFC 9110 §15.5.6: a 405 response must carry ``Allow``."""
    r = await client.delete("/AMK/payments")
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers.get("allow", "").split(",")}
    assert {"GET", "POST"} <= allowed


@pytest.fixture
def boom(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(container.inquiry, "inquire", explode)


@pytest.mark.usefixtures("boom")
async def test_unhandled_exception_is_500_envelope(container: Container, client: httpx.AsyncClient) -> None:
    r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(container))
    _envelope(r, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in r.text  # nothing of the exception leaks to the client


@pytest.mark.usefixtures("boom")
async def test_unhandled_exception_over_real_http(container: Container) -> None:
    assert container.app is not None
    async with LiveServer(container.app) as server, httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get(
            "/AMK/payments",
            params={"query": "P123456789"},
            headers={**auth_header(container), "X-Correlation-ID": "trace-500"},
        )
        error = _envelope(r, 500, "INTERNAL_ERROR")
        assert error["correlationId"] == "trace-500"
        # The server survives it.
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize("cid", ["abc-123", "trace.id:42_x", "A" * 64])
async def test_valid_incoming_correlation_id_is_echoed(client: httpx.AsyncClient, cid: str) -> None:
    r = await client.get("/no/such/thing", headers={"X-Correlation-ID": cid})
    assert r.headers["x-correlation-id"] == cid
    assert _envelope(r, 404, "RESOURCE_NOT_FOUND")["correlationId"] == cid
    ok = await client.get("/healthz", headers={"X-Correlation-ID": cid})
    assert ok.headers["x-correlation-id"] == cid


@pytest.mark.parametrize("cid", ["has space", "A" * 65, "new\\nline", "<script>", ""])
async def test_invalid_incoming_correlation_id_is_replaced(client: httpx.AsyncClient, cid: str) -> None:
    r = await client.get("/no/such/thing", headers={"X-Correlation-ID": cid})
    echoed = r.headers["x-correlation-id"]
    assert echoed and echoed != cid
    assert re.fullmatch(r"[A-Za-z0-9._:\-]{1,64}", echoed)
    assert _envelope(r, 404, "RESOURCE_NOT_FOUND")["correlationId"] == echoed


async def test_generated_correlation_ids_differ(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["x-correlation-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_one_correlation_id_header_only(client: httpx.AsyncClient) -> None:
    r = await client.get("/no/such/thing", headers={"X-Correlation-ID": "one"})
    assert r.headers.get_list("x-correlation-id") == ["one"]


async def test_success_envelope(container: Container, client: httpx.AsyncClient) -> None:
    r = await client.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(container))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"success", "data"} and body["success"] is True
    assert r.headers.get("x-correlation-id")


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"success": True, "data": {"status": "alive"}}
    assert r.headers.get("x-correlation-id")


async def test_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "ready"
    assert r.headers.get("x-correlation-id")


async def test_readyz_503_when_database_unreachable(
    container: Container, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down() -> None:
        raise ServiceUnavailable("database down (test)")

    monkeypatch.setattr(container.store, "ping", down)
    _envelope(await client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
    # Liveness does not depend on the database.
    assert (await client.get("/healthz")).status_code == 200
