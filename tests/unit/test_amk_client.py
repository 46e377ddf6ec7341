"""AmkClient over httpx.MockTransport: the request it sends, retries with backoff, error mapping."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from hub.adapters.amk.client import AmkClient, AmkConfig
from hub.adapters.amk.hashing import VERIFY_FIELDS, hash_matches, verify_hash
from hub.domain.money import Currency
from hub.errors import AmkUnavailable, AmkUnknownError

CONFIG = AmkConfig(
    verify_url="https://amk.test/amkpayway/v1/api/payment/payment-verify",
    merchant_id="M001",
    store_id="S002",
    terminal_id="T003",
    secret_key="s3cret-key",
    retry_attempts=3,
    retry_initial_s=1.0,
    retry_max_s=10.0,
    retry_jitter=0.1,
)
NOW = 1_790_000_000.5  # seconds; AMK wants milliseconds
PAID = {"code": "00", "data": {"txId": "TX1", "status": "PAID", "amount": "150.00", "currency": "USD"}}


class Amk:
    """A scripted AMK: answers from ``replies`` in turn (the last one repeats), records requests."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def form(self, i: int = 0) -> dict[str, str]:
        return dict(parse_qsl(self.requests[i].content.decode(), keep_blank_values=True))


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Amk], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(amk: Amk) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(transport=httpx.MockTransport(amk)))
        return clients[-1]

    yield make
    for c in clients:
        await c.aclose()


def client(http: Callable[[Amk], httpx.AsyncClient], amk: Amk, **config: Any) -> AmkClient:
    return AmkClient(http(amk), replace(CONFIG, **config), clock=lambda: NOW, sleep=amk.sleep)


def reply(status: int, body: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, json=body, **kwargs) if body is not None else httpx.Response(status, **kwargs)


# --- the request ---


async def test_request_is_a_form_post_with_the_documented_hash(http: Any) -> None:
    amk = Amk(reply(200, PAID))
    verdict = await client(http, amk).verify_payment("TX1")
    assert len(amk.requests) == 1
    request = amk.requests[0]
    assert request.method == "POST"
    assert str(request.url) == CONFIG.verify_url
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = amk.form()
    assert form == {
        "merchantId": "M001",
        "storeId": "S002",
        "terminalId": "T003",
        "txId": "TX1",
        "timestamp": "1790000000500",
        "hash": form["hash"],
    }
    # Recomputed independently: HMAC-SHA512 over the values in the documented order, no separator.
    assert VERIFY_FIELDS == ("merchantId", "storeId", "terminalId", "txId", "timestamp")
    message = "M001" + "S002" + "T003" + "TX1" + "1790000000500"
    expected = hmac.new(b"s3cret-key", message.encode(), hashlib.sha512).hexdigest()
    assert form["hash"] == expected == verify_hash("s3cret-key", form)
    assert hash_matches("s3cret-key", form, expected.upper())
    assert not hash_matches("other-key", form, expected)
    assert verdict.paid and verdict.tx_id == "TX1"
    assert (verdict.amount, verdict.currency) == (Decimal("150.00"), Currency.USD)
    assert amk.sleeps == []


def test_hash_depends_on_the_field_order() -> None:
    fields = {"merchantId": "a", "storeId": "b", "terminalId": "c", "txId": "d", "timestamp": "1"}
    swapped = {**fields, "merchantId": "b", "storeId": "a"}
    assert verify_hash("k", fields) != verify_hash("k", swapped)
    assert len(verify_hash("k", fields)) == 128  # SHA-512 hex


async def test_status_is_normalized_and_amounts_are_decimals(http: Any) -> None:
    body = {"code": "00", "data": {"txId": "TX9", "status": "paid", "amount": 600000, "currency": "khr"}}
    verdict = await client(http, Amk(reply(200, body))).verify_payment("TX9")
    assert verdict.status == "PAID" and verdict.paid
    assert verdict.amount == Decimal("600000") and isinstance(verdict.amount, Decimal)
    assert verdict.currency is Currency.KHR
    unpaid = {"code": "00", "data": {"txId": "TX9", "status": "FAILED"}}
    verdict = await client(http, Amk(reply(200, unpaid))).verify_payment("TX9")
    assert (verdict.status, verdict.paid, verdict.amount, verdict.currency) == ("FAILED", False, None, None)


# --- retries ---


@pytest.mark.parametrize(
    "failure",
    [
        reply(500, {"code": "ERR"}),
        reply(502, text="bad gateway"),
        reply(503, {"code": "SERVER_UNAVAILABLE"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
    ],
    ids=["500", "502-html", "503", "connect", "timeout", "protocol"],
)
async def test_retriable_failures_are_retried_then_raise(http: Any, failure: Any) -> None:
    amk = Amk(failure)
    with pytest.raises(AmkUnavailable) as caught:
        await client(http, amk, retry_attempts=4).verify_payment("TX1")
    assert caught.value.retriable
    assert len(amk.requests) == 4
    assert len(amk.sleeps) == 3
    # every attempt is a fresh, correctly signed request
    assert all(amk.form(i)["txId"] == "TX1" for i in range(4))


async def test_success_after_failures_stops_retrying(http: Any) -> None:
    amk = Amk(httpx.ConnectError("refused"), reply(503, {}), reply(200, PAID))
    verdict = await client(http, amk, retry_attempts=5).verify_payment("TX1")
    assert verdict.paid
    assert len(amk.requests) == 3 and len(amk.sleeps) == 2


async def test_backoff_is_exponential_and_capped_without_jitter(http: Any) -> None:
    amk = Amk(reply(503, {}))
    with pytest.raises(AmkUnavailable):
        await client(http, amk, retry_attempts=7, retry_jitter=0.0).verify_payment("TX1")
    assert amk.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


async def test_backoff_jitter_stays_within_bounds(http: Any) -> None:
    bases = [1.0, 2.0, 4.0, 8.0, 10.0]
    seen: list[list[float]] = []
    for _ in range(20):
        amk = Amk(reply(503, {}))
        with pytest.raises(AmkUnavailable):
            await client(http, amk, retry_attempts=6).verify_payment("TX1")
        assert len(amk.sleeps) == len(bases)
        for delay, base in zip(amk.sleeps, bases, strict=True):
            assert base * 0.9 <= delay <= base * 1.1, (delay, base)
        seen.append(amk.sleeps)
    # jitter is applied: the delays are not all the bare exponential values, nor all the same
    assert any(s != bases for s in seen)
    assert len({tuple(s) for s in seen}) > 1


async def test_spec_defaults_give_three_attempts_from_one_to_ten_seconds(http: Any) -> None:
    amk = Amk(reply(500, {}))
    with pytest.raises(AmkUnavailable):
        await client(http, amk).verify_payment("TX1")
    assert len(amk.requests) == 3
    assert 0.9 <= amk.sleeps[0] <= 1.1 and 1.8 <= amk.sleeps[1] <= 2.2


# --- answers that are not retried ---


@pytest.mark.parametrize(
    "answer",
    [reply(404, {"code": "NOT_FOUND", "message": "No transaction TX1"}), reply(200, {"code": "NOT_FOUND"})],
    ids=["404", "200-NOT_FOUND"],
)
async def test_not_found_is_a_verdict_not_an_error(http: Any, answer: httpx.Response) -> None:
    amk = Amk(answer)
    verdict = await client(http, amk).verify_payment("TX1")
    assert (verdict.tx_id, verdict.status, verdict.paid) == ("TX1", "NOT_FOUND", False)
    assert len(amk.requests) == 1 and amk.sleeps == []


@pytest.mark.parametrize(
    "answer",
    [
        reply(400, {"code": "BAD_REQUEST", "message": "missing: hash"}),
        reply(401, {"code": "INVALID_HASH"}),
        reply(403, {"code": "MERCHANT_NOT_BIND"}),
        reply(200, {"code": "00"}),  # no data
        reply(200, text="<html>ok</html>"),  # not JSON
        reply(200, {"code": "00", "data": {"status": "PAID", "amount": "abc", "currency": "USD"}}),
        reply(200, {"code": "00", "data": {"status": "PAID", "amount": "1", "currency": "EUR"}}),
    ],
    ids=["400", "401", "403", "no-data", "not-json", "bad-amount", "bad-currency"],
)
async def test_refusals_and_unreadable_answers_are_not_retried(http: Any, answer: httpx.Response) -> None:
    amk = Amk(answer)
    with pytest.raises(AmkUnknownError) as caught:
        await client(http, amk).verify_payment("TX1")
    assert not caught.value.retriable
    assert len(amk.requests) == 1 and amk.sleeps == []
