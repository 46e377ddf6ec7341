"""``GET /AMK/payments``: auth, query rules, the spec DTO plus stream access, logging, the circuit
breaker around the integration service, and the per-user rate limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import simplejson as json

from hub.adapters.integration import IntegrationClient
from hub.domain.records import Premium
from hub.errors import ServiceUnavailable
from hub.resilience.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from payhub.bootstrap import Container
from tests.conftest import auth_header, sqlite_process

PATH = "/AMK/payments"
UNCACHED = ("P987654321", "P555000111", "P444000222")


_process = sqlite_process


@pytest.fixture
async def proc(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with _process(tmp_path) as pair:
        yield pair


async def _inquiries(c: Container) -> int:
    async with c.store.transaction() as tx:
        return await tx.count("inquiries")


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers.get("x-correlation-id")
    body = r.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert {"message", "details", "correlationId", "timestamp"} <= error.keys()
    return error


# --------------------------------------------------------------------------- auth


async def test_no_token_is_401(proc: tuple[Container, httpx.AsyncClient]) -> None:
    _, client = proc
    _error(await client.get(PATH, params={"query": "P123456789"}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("value", ["Bearer garbage", "Bearer a.b.c", "Bearer ", "Token abc"])
async def test_garbage_token_is_401(proc: tuple[Container, httpx.AsyncClient], value: str) -> None:
    _, client = proc
    r = await client.get(PATH, params={"query": "P123456789"}, headers={"Authorization": value})
    _error(r, 401, "UNAUTHORIZED")


async def test_expired_token_is_401(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    expired = c.auth.issue("tester", "customer", ttl_s=-10)
    r = await client.get(PATH, params={"query": "P123456789"}, headers={"Authorization": f"Bearer {expired}"})
    error = _error(r, 401, "UNAUTHORIZED")
    assert "expired" in error["message"].lower()


async def test_token_signed_with_another_key_is_401(proc: tuple[Container, httpx.AsyncClient]) -> None:
    _, client = proc
    now = int(time.time())
    forged = jwt.encode(
        {"sub": "mallory", "role": "customer", "iat": now, "exp": now + 60},
        "an-attackers-key-of-thirty-two-bytes!",
        algorithm="HS256",
    )
    r = await client.get(PATH, params={"query": "P123456789"}, headers={"Authorization": f"Bearer {forged}"})
    _error(r, 401, "UNAUTHORIZED")


async def test_unsigned_alg_none_token_is_401(proc: tuple[Container, httpx.AsyncClient]) -> None:
    _, client = proc
    now = int(time.time())
    unsigned = jwt.encode({"sub": "m", "role": "admin", "exp": now + 60}, "", algorithm="none")
    r = await client.get(PATH, params={"query": "P123456789"}, headers={"Authorization": f"Bearer {unsigned}"})
    _error(r, 401, "UNAUTHORIZED")


async def test_subscribe_token_is_not_a_customer_token(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    r = await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c))
    subscribe = r.json()["data"]["subscribeToken"]
    r = await client.get(PATH, params={"query": "P123456789"}, headers={"Authorization": f"Bearer {subscribe}"})
    _error(r, 403, "FORBIDDEN")


# --------------------------------------------------------------------------- query


@pytest.mark.parametrize("query", ["", "P1234567890", "P12-345", "P123 456", "P12345678%", "ÉÉÉ"])
async def test_bad_query_is_400_naming_query(proc: tuple[Container, httpx.AsyncClient], query: str) -> None:
    c, client = proc
    r = await client.get(PATH, params={"query": query}, headers=auth_header(c))
    error = _error(r, 400, "BAD_REQUEST")
    assert "query" in [d["field"] for d in error["details"]]


async def test_missing_query_is_400(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    error = _error(await client.get(PATH, headers=auth_header(c)), 400, "BAD_REQUEST")
    assert "query" in [d["field"] for d in error["details"]]


async def test_unknown_policy_is_404(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    r = await client.get(PATH, params={"query": "P000000000"}, headers=auth_header(c))
    _error(r, 404, "RESOURCE_NOT_FOUND")


async def test_found_returns_spec_dto_and_stream_access(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    r = await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    assert r.headers.get("x-correlation-id")
    envelope = json.loads(r.content, use_decimal=True)
    assert envelope["success"] is True
    data = envelope["data"]
    assert {k: data[k] for k in ("id", "policyNumber", "payer", "currency", "dueDate")} == {
        "id": 150001,
        "policyNumber": "P123456789",
        "payer": "John Doe",
        "currency": "USD",
        "dueDate": "2026-12-15",
    }
    # amount is a JSON number written with the currency's two decimals, not a string, not 150.0
    assert isinstance(data["amount"], Decimal) and str(data["amount"]) == "150.00"
    assert b'"amount":150.00' in r.content
    pid = data["paymentId"]
    assert isinstance(pid, int)
    assert data["eventsUrl"] == f"/api/payments/{pid}/events"
    claims = jwt.decode(data["subscribeToken"], options={"verify_signature": False})
    assert claims["pid"] == pid
    who = await c.auth.verify(data["subscribeToken"])
    assert who.may_watch(pid) and not who.may_watch(pid + 1)


async def test_application_number_finds_the_premium(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    r = await client.get(PATH, params={"query": "A10000001"}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["policyNumber"] == "P555000111"


async def test_khr_amount_has_no_decimals(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    r = await client.get(PATH, params={"query": "P987654321"}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    assert b'"amount":600000,' in r.content


async def test_asking_twice_returns_the_same_payment(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    first = await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c, sub="a"))
    second = await client.get(PATH, params={"query": "p123456789"}, headers=auth_header(c, sub="b"))
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["data"]["paymentId"] == second.json()["data"]["paymentId"]
    async with c.store.transaction() as tx:
        assert await tx.count("payments") == 1


async def test_each_inquiry_is_logged(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    start = await _inquiries(c)
    await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c))
    assert await _inquiries(c) == start + 1
    await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c))  # cache hit
    assert await _inquiries(c) == start + 2
    await client.get(PATH, params={"query": "P000000000"}, headers=auth_header(c))  # not found
    assert await _inquiries(c) == start + 3
    async with c.store.transaction() as tx:
        assert await tx.count("inquiries", "outcome = $1", "found") == 2
        assert await tx.count("inquiries", "outcome = $1", "not_found") == 1


# --------------------------------------------------------------------------- circuit breaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyIntegration(IntegrationClient):
    """The real client (over the in-process transport) that fails on demand and counts calls."""

    def __init__(self, real: IntegrationClient) -> None:
        self._real = real
        self.failing = False
        self.calls = 0

    async def due_premium(self, query: str) -> Premium:
        self.calls += 1
        if self.failing:
            raise ServiceUnavailable("integration service down (test)")
        return await self._real.due_premium(query)

    async def premium(self, premium_id: int) -> Premium:
        self.calls += 1
        if self.failing:
            raise ServiceUnavailable("integration service down (test)")
        return await self._real.premium(premium_id)


async def test_breaker_opens_serves_cache_half_opens_and_closes(
    proc: tuple[Container, httpx.AsyncClient],
) -> None:
    c, client = proc
    clock = FakeClock()
    breaker = CircuitBreaker("integration", clock=clock)
    flaky = FlakyIntegration(c.inquiry.integration)
    c.inquiry.breaker = breaker
    c.inquiry.integration = flaky
    headers = auth_header(c)

    async def ask(query: str) -> httpx.Response:
        return await client.get(PATH, params={"query": query}, headers=headers)

    # Warm the cache with one policy (one success in the breaker's window).
    r = await ask("P123456789")
    assert r.status_code == 200, r.text
    cached_payment = r.json()["data"]["paymentId"]
    assert flaky.calls == 1

    # The integration service fails: 3 failures of 4 calls (> 50 %) open the breaker.
    flaky.failing = True
    for n in range(3):
        assert breaker.state == CLOSED
        error = _error(await ask("P987654321"), 503, "SERVICE_UNAVAILABLE")
        assert error["retryAfter"] >= 1
        assert flaky.calls == 2 + n
    assert breaker.state == OPEN

    # Open: the cached policy is still answered, without calling the integration service.
    r = await ask("P123456789")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["paymentId"] == cached_payment
    # An uncached one fails fast with a retry hint in the body and the header.
    r = await ask("P987654321")
    error = _error(r, 503, "SERVICE_UNAVAILABLE")
    assert error["retryAfter"] == 30
    assert r.headers["retry-after"] == "30"
    assert flaky.calls == 4

    clock.now += 20
    r = await ask("P987654321")
    assert _error(r, 503, "SERVICE_UNAVAILABLE")["retryAfter"] == 10
    assert r.headers["retry-after"] == "10"
    assert flaky.calls == 4

    # After 30 s it half-opens; three successful trial calls close it.
    clock.now += 10
    assert breaker.state == HALF_OPEN
    flaky.failing = False
    for n, query in enumerate(UNCACHED):
        assert breaker.state == HALF_OPEN
        r = await ask(query)
        assert r.status_code == 200, r.text
        assert flaky.calls == 5 + n
    assert breaker.state == CLOSED


async def test_breaker_half_open_failure_reopens(proc: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = proc
    clock = FakeClock()
    breaker = CircuitBreaker("integration", clock=clock)
    flaky = FlakyIntegration(c.inquiry.integration)
    c.inquiry.breaker, c.inquiry.integration = breaker, flaky
    headers = auth_header(c)
    flaky.failing = True
    for _ in range(4):
        await client.get(PATH, params={"query": "P987654321"}, headers=headers)
    assert breaker.state == OPEN
    clock.now += 30
    assert breaker.state == HALF_OPEN
    r = await client.get(PATH, params={"query": "P987654321"}, headers=headers)
    _error(r, 503, "SERVICE_UNAVAILABLE")
    assert breaker.state == OPEN
    assert r.headers["retry-after"] == "30"


async def test_not_found_does_not_trip_the_breaker(proc: tuple[Container, httpx.AsyncClient]) -> None:
    """A 404 is the integration service answering: it must not count as a failure."""
    c, client = proc
    breaker = CircuitBreaker("integration", clock=FakeClock())
    c.inquiry.breaker = breaker
    for _ in range(6):
        r = await client.get(PATH, params={"query": "P000000000"}, headers=auth_header(c))
        _error(r, 404, "RESOURCE_NOT_FOUND")
    assert breaker.state == CLOSED


# --------------------------------------------------------------------------- rate limits


async def test_user_rate_limit_gives_429_with_retry_after(tmp_path: Path) -> None:
    async with _process(tmp_path, rate_user_per_min=4, rate_ip_per_min=1000) as (c, client):
        alice = auth_header(c, sub="alice")
        for n in range(3):  # burst: 150 % of 4 per minute for 30 s = 3 per 30 s (issue 7 §5)
            r = await client.get(PATH, params={"query": "P123456789"}, headers=alice)
            assert r.status_code == 200, f"request {n + 1}: {r.text}"
        r = await client.get(PATH, params={"query": "P123456789"}, headers=alice)
        error = _error(r, 429, "RATE_LIMIT_EXCEEDED")
        assert isinstance(error["retryAfter"], int) and 1 <= error["retryAfter"] <= 30
        assert r.headers["retry-after"] == str(error["retryAfter"])
        # Another user from the same address still passes.
        r = await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c, sub="bob"))
        assert r.status_code == 200, r.text
        # A refused request is not served: still refused.
        r = await client.get(PATH, params={"query": "P123456789"}, headers=alice)
        assert r.status_code == 429


async def test_ip_rate_limit_applies_across_users(tmp_path: Path) -> None:
    async with _process(tmp_path, rate_user_per_min=100, rate_ip_per_min=2) as (c, client):
        for n in range(2):  # burst: 150 % of 2 per minute for 30 s = 2 per 30 s
            r = await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c, sub=f"u{n}"))
            assert r.status_code == 200, r.text
        r = await client.get(PATH, params={"query": "P123456789"}, headers=auth_header(c, sub="fresh"))
        error = _error(r, 429, "RATE_LIMIT_EXCEEDED")
        assert r.headers["retry-after"] == str(error["retryAfter"])
