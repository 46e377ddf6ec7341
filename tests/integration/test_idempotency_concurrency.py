"""Idempotency of AMK webhooks under concurrency, decided by the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.dto import BillPayment, KhqrPayment, parse
from gateway.webhooks import Answer, Incoming, WebhookService
from hub.auth import Principal
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.errors import DuplicatePayment
from hub.fraud.verdict import Attempt, Verdict
from hub.keylock import KeyedLocks
from hub.ports import StoreTx
from payhub.bootstrap import Container
from tests.conftest import bank_paid, bill_body, khqr_body, signed

N = 50
TABLES = ("payments", "payment_events", "webhook_receipts", "reviews")


def bill_incoming(body: dict[str, Any]) -> Incoming:
    return WebhookService.bill(parse(BillPayment, body), body)


def khqr_incoming(body: dict[str, Any]) -> Incoming:
    return WebhookService.khqr(parse(KhqrPayment, body), body)


def isolated(c: Container) -> WebhookService:
    """A webhook service sharing nothing in memory with the others: as if in another process."""
    return dataclasses.replace(c.webhooks, _locks=KeyedLocks())


async def snapshot(c: Container) -> dict[str, Any]:
    async with c.store.transaction() as tx:
        counts = {t: await tx.count(t) for t in TABLES}
        statuses = [
            (p.id, p.status, p.transaction_id)
            for pid in range(1, counts["payments"] + 1)
            if (p := await tx.payment(pid)) is not None
        ]
        premium = await tx.premium(150001)
    return {"counts": counts, "payments": statuses, "premium": premium}


async def confirmed_counts(c: Container, payment_id: int) -> tuple[int, int]:
    """(CONFIRMED payment rows of premium 150001, CONFIRMED status events of that payment)."""
    async with c.store.transaction() as tx:
        rows = await tx.count("payments", "premium_id = $1 AND status = 'CONFIRMED'", 150001)
        events = await tx.count(
            "payment_events",
            "payment_id = $1 AND type = $2 AND status = 'CONFIRMED'",
            payment_id,
            PaymentEvent.STATUS,
        )
    return rows, events


async def open_khqr_payment(c: Container) -> int:
    data = await c.inquiry.inquire("P123456789", Principal("t", "customer"), "127.0.0.1", "cid")
    payment_id = int(data["paymentId"])
    bank_paid(c, str(payment_id))
    return payment_id


def screens(c: Container) -> list[Attempt]:
    """The notices the fraud rules screen from now on, in order (a spy on ``screen_money``)."""
    seen: list[Attempt] = []
    real = c.fraud.screen_money

    async def spy(attempt: Attempt, tx: StoreTx | None = None) -> Verdict:
        seen.append(attempt)
        return await real(attempt, tx)

    c.fraud.screen_money = spy  # type: ignore[method-assign]
    return seen


def assert_one_answer(answers: list[Answer]) -> Answer:
    first = answers[0]
    assert first.status_code == 200 and first.body["status"] == "CONFIRMED"
    assert all(a == first for a in answers)
    return first


# --- bill webhooks ---


async def test_concurrent_identical_bill_webhooks_over_http(container: Container, client: httpx.AsyncClient) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    raw, headers = signed(container, body)
    responses = await asyncio.gather(*(client.post("/AMK/payments", content=raw, headers=headers) for _ in range(N)))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses if r.status_code != 200]
    datas = [r.json()["data"] for r in responses]
    assert all(d == datas[0] for d in datas)
    assert datas[0]["status"] == "CONFIRMED"
    assert await confirmed_counts(container, datas[0]["paymentId"]) == (1, 1)
    snap = await snapshot(container)
    assert snap["counts"]["payments"] == 1 and snap["counts"]["webhook_receipts"] == 1


@pytest.mark.parametrize("shared_locks", [True, False], ids=["one-service", "service-per-call"])
async def test_concurrent_identical_bill_webhooks(container: Container, shared_locks: bool) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    services = [container.webhooks if shared_locks else isolated(container) for _ in range(N)]
    screened = screens(container)
    answers = await asyncio.gather(*(s.handle(bill_incoming(dict(body))) for s in services))
    first = assert_one_answer(list(answers))
    payment_id = first.body["paymentId"]
    # The fraud rules saw the notice once: a copy is counted in no velocity window (each count there
    # could flag the policy's next, honest payment).
    assert [a.amount for a in screened] == [Decimal(str(body["amount"]))]
    assert await confirmed_counts(container, payment_id) == (1, 1)
    snap = await snapshot(container)
    assert snap["counts"]["payments"] == 1
    assert snap["counts"]["webhook_receipts"] == 1
    async with container.store.transaction() as tx:
        keys = [r["key"] for r in await tx.reviews(limit=1000)]
        statuses = [e.status for e in await tx.events_after(payment_id, 0)]
    # Losers of the race are replays, not double payments, and are never screened: no review of any kind
    # (a ``fraud:`` one included) is opened, as the fraud rules see only the receipt's first delivery.
    assert keys == []
    assert snap["counts"]["reviews"] == 0
    assert statuses == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]


async def test_bill_replay_after_completion_returns_the_original_answer(container: Container) -> None:
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    first = await container.webhooks.handle(bill_incoming(body))
    await container.bus.drain()
    before = await snapshot(container)
    for service in (container.webhooks, isolated(container)):
        assert await service.handle(bill_incoming(dict(body))) == first
    await container.bus.drain()
    assert await snapshot(container) == before


@pytest.mark.parametrize(
    "change", [{"amount": "151.00"}, {"currency": "KHR", "amount": "150"}], ids=["amount", "currency"]
)
async def test_bill_same_key_different_content_is_409_and_changes_nothing(
    container: Container, client: httpx.AsyncClient, change: dict[str, str]
) -> None:
    body = bill_body(tx="AMKDUPLICATE1")
    bank_paid(container, body["bankTransactionId"])
    first = await container.webhooks.handle(bill_incoming(body))
    await container.bus.drain()
    before = await snapshot(container)
    conflicting = bill_body(tx="AMKDUPLICATE1", **change)
    with pytest.raises(DuplicatePayment):
        await container.webhooks.handle(bill_incoming(conflicting))
    raw, headers = signed(container, conflicting)
    r = await client.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 409
    assert r.json()["success"] is False and r.json()["error"]["code"] == "DUPLICATE_PAYMENT"
    await container.bus.drain()
    assert await snapshot(container) == before
    assert await container.webhooks.handle(bill_incoming(body)) == first  # the original still replays


# --- KHQR webhooks ---


@pytest.mark.parametrize("shared_locks", [True, False], ids=["one-service", "service-per-call"])
async def test_concurrent_identical_khqr_success_webhooks(container: Container, shared_locks: bool) -> None:
    payment_id = await open_khqr_payment(container)
    body = khqr_body(payment_id)
    services = [container.webhooks if shared_locks else isolated(container) for _ in range(N)]
    answers = await asyncio.gather(*(s.handle(khqr_incoming(dict(body))) for s in services))
    first = assert_one_answer(list(answers))
    assert first.body["paymentId"] == payment_id
    assert await confirmed_counts(container, payment_id) == (1, 1)
    snap = await snapshot(container)
    assert snap["counts"]["payments"] == 1 and snap["counts"]["webhook_receipts"] == 1
    async with container.store.transaction() as tx:
        statuses = [e.status for e in await tx.events_after(payment_id, 0)]
    assert statuses == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]


async def test_concurrent_identical_khqr_webhooks_over_http(container: Container, client: httpx.AsyncClient) -> None:
    payment_id = await open_khqr_payment(container)
    raw, headers = signed(container, khqr_body(payment_id))
    responses = await asyncio.gather(*(client.post("/AMK/khqr", content=raw, headers=headers) for _ in range(N)))
    assert {r.status_code for r in responses} == {200}
    assert all(r.json()["data"] == responses[0].json()["data"] for r in responses)
    assert responses[0].json()["data"]["status"] == "CONFIRMED"
    assert await confirmed_counts(container, payment_id) == (1, 1)


async def test_khqr_replay_and_conflict(container: Container) -> None:
    payment_id = await open_khqr_payment(container)
    body = khqr_body(payment_id)
    first = await container.webhooks.handle(khqr_incoming(body))
    await container.bus.drain()
    before = await snapshot(container)
    assert await isolated(container).handle(khqr_incoming(dict(body))) == first
    with pytest.raises(DuplicatePayment):
        await container.webhooks.handle(khqr_incoming(khqr_body(payment_id, amount="149.99")))
    with pytest.raises(DuplicatePayment):
        await isolated(container).handle(khqr_incoming(khqr_body(payment_id, amount="150", currency="KHR")))
    await container.bus.drain()
    assert await snapshot(container) == before
    assert await confirmed_counts(container, payment_id) == (1, 1)
