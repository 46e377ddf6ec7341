"""AMK QR client against a fake AMK (httpx.MockTransport): single-flight sign-in, token expiry,
re-login on 401, retries with backoff, the circuit breaker, PNG rendering."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import simplejson as json

from hub.domain.khqr.image import render_png
from hub.domain.money import Currency
from hub.errors import AmkUnavailable, AmkUnknownError
from hub.resilience.breaker import CircuitBreaker, CircuitOpen
from khqr.amk_qr import AmkAuthFailed, AmkQrClient, QrRequest

QR = "00020101021230..."  # the client does not decode; the KHQR service does
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUEST = QrRequest("42", "P123456789", Decimal("150.00"), Currency.USD, datetime(2026, 11, 27, 12, 30, tzinfo=UTC))


class FakeAmk:
    """Plays AMK's sign-in and QR generator; every knob a test needs."""

    def __init__(self) -> None:
        self.sign_ins = 0
        self.sign_in_status = 200
        self.ttl = 3600
        self.valid: set[str] = set()
        self.qr_calls = 0
        self.qr_statuses: list[int] = []  # forced answers, consumed in order; then 200
        self.qr_image = True
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.005)  # a round trip: lets concurrent callers pile up
        if request.url.path == "/auth/sign-in":
            self.sign_ins += 1
            if self.sign_in_status != 200:
                return httpx.Response(self.sign_in_status, json={"code": "NO"})
            token = f"token-{self.sign_ins}"
            self.valid.add(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": self.ttl})
        assert request.url.path == "/qr/generator"
        self.qr_calls += 1
        self.bodies.append(json.loads(request.content))
        if self.qr_statuses:
            return httpx.Response(self.qr_statuses.pop(0), json={"code": "ERR"})
        if request.headers.get("authorization", "")[7:] not in self.valid:
            return httpx.Response(401, json={"code": "UNAUTHORIZED"})
        data = {"qrString": QR, **({"qrImage": "aW1hZ2U="} if self.qr_image else {})}
        return httpx.Response(200, json={"code": "00", "data": data})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def amk() -> FakeAmk:
    return FakeAmk()


@pytest.fixture
async def http(amk: FakeAmk) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(amk), base_url="http://amk.test") as c:
        yield c


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(
    http: httpx.AsyncClient, sleeps: list[float], clock: Clock | None = None, **breaker: Any
) -> AmkQrClient:
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AmkQrClient(
        http,
        username="u",
        password="p",
        breaker=CircuitBreaker("amk-qr-test", **{"min_calls": 2, "failure_ratio": 0.5, "open_s": 30, **breaker}),
        retry_attempts=3,
        retry_initial_s=1.0,
        retry_max_s=10.0,
        retry_jitter=0.0,
        refresh_margin_s=60,
        clock=clock or Clock(),
        sleep=fake_sleep,
    )


async def test_fifty_concurrent_requests_sign_in_once(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    client = make_client(http, sleeps)
    results = await asyncio.gather(*(client.generate(REQUEST) for _ in range(50)))
    assert amk.sign_ins == 1 and client.sign_ins == 1
    assert amk.qr_calls == 50 and all(r.qr_string == QR for r in results)


async def test_token_cached_until_shortly_before_expiry(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    clock = Clock()
    client = make_client(http, sleeps, clock)
    await client.generate(REQUEST)
    assert amk.sign_ins == 1
    clock.now += 3600 - 60 - 1  # just inside the refresh margin's edge: still cached
    await client.generate(REQUEST)
    assert amk.sign_ins == 1
    clock.now += 2  # within 60 s of expiry: refreshed, once, even under concurrency
    await asyncio.gather(*(client.generate(REQUEST) for _ in range(50)))
    assert amk.sign_ins == 2
    bearer = {b for b in amk.valid}
    assert bearer == {"token-1", "token-2"}


async def test_short_lived_token_refreshed_at_half_its_life(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    amk.ttl = 60  # margin 60 would leave nothing: the client refreshes at half life instead
    clock = Clock()
    client = make_client(http, sleeps, clock)
    await client.generate(REQUEST)
    clock.now += 29
    await client.generate(REQUEST)
    assert amk.sign_ins == 1
    clock.now += 2
    await client.generate(REQUEST)
    assert amk.sign_ins == 2


async def test_401_signs_in_again_once_and_succeeds(amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]) -> None:
    client = make_client(http, sleeps)
    await client.generate(REQUEST)
    amk.valid.clear()  # AMK revoked the token before it expired
    result = await asyncio.gather(*(client.generate(REQUEST) for _ in range(10)))
    assert all(r.qr_string == QR for r in result)
    assert amk.sign_ins == 2, "one re-login for every caller that saw the 401"
    assert sleeps == [], "a 401 is not a retry with backoff"


async def test_persistent_401_fails_after_one_relogin(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    client = make_client(http, sleeps)
    amk.qr_statuses = [401, 401]
    with pytest.raises(AmkUnknownError):
        await client.generate(REQUEST)
    assert amk.sign_ins == 2 and amk.qr_calls == 2


async def test_sign_in_refused_or_down(amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]) -> None:
    amk.sign_in_status = 401
    with pytest.raises(AmkAuthFailed):
        await make_client(http, sleeps).generate(REQUEST)
    assert amk.sign_ins == 1 and amk.qr_calls == 0, "bad credentials are not retried"
    amk.sign_ins, amk.sign_in_status = 0, 503
    with pytest.raises(AmkUnavailable):
        await make_client(http, sleeps).generate(REQUEST)
    assert amk.sign_ins == 3, "an unavailable sign-in is retried"


async def test_5xx_is_retried_with_backoff_then_succeeds(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    client = make_client(http, sleeps)
    amk.qr_statuses = [503, 502]
    result = await client.generate(REQUEST)
    assert result.qr_string == QR
    assert amk.qr_calls == 3 and sleeps == [1.0, 2.0]


async def test_5xx_exhausts_retries_then_the_breaker_opens(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    client = make_client(http, sleeps)
    amk.qr_statuses = [503] * 6
    for _ in range(2):
        with pytest.raises(AmkUnavailable):
            await client.generate(REQUEST)
    assert amk.qr_calls == 6, "three attempts per call"
    with pytest.raises(CircuitOpen) as opened:
        await client.generate(REQUEST)
    assert amk.qr_calls == 6, "an open breaker does not call AMK"
    assert opened.value.status_code == 503 and (opened.value.retry_after or 0) >= 1


async def test_4xx_is_neither_retried_nor_a_breaker_failure(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    client = make_client(http, sleeps)
    amk.qr_statuses = [400, 400, 400]
    for _ in range(3):
        with pytest.raises(AmkUnknownError):
            await client.generate(REQUEST)
    assert amk.qr_calls == 3 and sleeps == []
    assert (await client.generate(REQUEST)).qr_string == QR, "the breaker stayed closed"


async def test_network_errors_are_retried(http: httpx.AsyncClient, sleeps: list[float]) -> None:
    calls = 0

    async def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.path == "/auth/sign-in":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        if calls < 4:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"data": {"qrString": QR, "qrImage": "eA=="}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky), base_url="http://amk.test") as c:
        result = await make_client(c, sleeps).generate(REQUEST)
    assert result.qr_string == QR and len(sleeps) == 2


async def test_request_body_and_png_rendered_when_amk_sends_only_the_string(
    amk: FakeAmk, http: httpx.AsyncClient, sleeps: list[float]
) -> None:
    amk.qr_image = False
    result = await make_client(http, sleeps).generate(REQUEST)
    assert base64.b64decode(result.image_png_b64).startswith(PNG_MAGIC)
    assert result.image_png_b64 == render_png(QR)
    assert amk.bodies == [
        {
            "invoiceNumber": "42",
            "billNumber": "P123456789",
            "amount": "150.00",
            "currency": "USD",
            "expiresAt": int(REQUEST.expires_at.timestamp() * 1000),
        }
    ]
    amk.qr_image = True
    assert (await make_client(http, sleeps).generate(REQUEST)).image_png_b64 == "aW1hZ2U=", "AMK's image is kept"
