"""Verification with AMK: paid, not paid, mismatched, unreachable (with retries, then re-verified),
late and after-the-fact money. Nothing is lost and nothing is counted twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.dto import BillPayment, KhqrPayment, parse
from gateway.reverify import ReVerifier
from gateway.webhooks import VERIFY_PENDING, Incoming, WebhookService
from hub.adapters.amk.client import AmkClient
from hub.auth import Principal
from hub.domain.payment import PaymentStatus
from hub.domain.records import Payment, PaymentEvent
from hub.errors import NotFound, TransactionVerifyFailed, VerificationMismatch
from hub.keylock import KeyedLocks
from hub.service import ledger
from payhub.bootstrap import Container
from payhub.builders import SANDBOX_PREFIX, amk_config
from tests.conftest import bank_paid, bill_body, khqr_body, signed

VERIFY_PATH = "/amkpayway/v1/api/payment/payment-verify"
WHO = Principal("t", "customer")


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests on to the in-process sandbox and remembers their paths."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)

    @property
    def verifies(self) -> int:
        return sum(p.endswith(VERIFY_PATH) for p in self.paths)


@pytest.fixture
async def amk_wire(container: Container, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CountingTransport]:
    """The container's webhook service and re-verifier talk to AMK through a counting wire."""
    s = container.settings
    wire = CountingTransport(httpx.ASGITransport(app=container.app))
    async with httpx.AsyncClient(transport=wire, base_url=f"http://payhub.local{SANDBOX_PREFIX}") as http:
        amk = AmkClient(http, amk_config(s))
        monkeypatch.setattr(container.webhooks, "verifier", amk)
        monkeypatch.setattr(container.reverifier, "verifier", amk)
        yield wire


def bill(body: dict[str, Any]) -> Incoming:
    return WebhookService.bill(parse(BillPayment, body), body)


def khqr(body: dict[str, Any]) -> Incoming:
    return WebhookService.khqr(parse(KhqrPayment, body), body)


def later(container: Container, hours: float = 1) -> ReVerifier:
    """The container's re-verifier, living ``hours`` in the future (everything pending is due)."""
    return dataclasses.replace(container.reverifier, clock=lambda: datetime.now(UTC) + timedelta(hours=hours))


async def inquire(container: Container) -> int:
    data = await container.inquiry.inquire("P123456789", WHO, "127.0.0.1", "cid")
    return int(data["paymentId"])


async def payment(container: Container, payment_id: int) -> Payment:
    found = await container.store.payment(payment_id)
    assert found is not None
    return found


async def status_events(container: Container, payment_id: int) -> list[PaymentStatus]:
    return [e.status for e in await container.store.events_after(payment_id, 0)]


async def reviews(container: Container) -> list[dict[str, Any]]:
    async with container.store.transaction() as tx:
        return await tx.reviews()


async def count(container: Container, table: str, where: str = "1=1", *args: Any) -> int:
    async with container.store.transaction() as tx:
        return await tx.count(table, where, *args)


async def post_bill(client: httpx.AsyncClient, container: Container, body: dict[str, Any]) -> httpx.Response:
    raw, headers = signed(container, body)
    return await client.post("/AMK/payments", content=raw, headers=headers)


# --- AMK says paid ---


async def test_amk_paid_confirms_and_the_premium_is_settled(container: Container, client: httpx.AsyncClient) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    r = await post_bill(client, container, body)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["status"], data["paymentId"], data["transactionId"]) == (
        "CONFIRMED",
        payment_id,
        body["bankTransactionId"],
    )
    confirmed = await payment(container, payment_id)
    assert confirmed.status is PaymentStatus.CONFIRMED
    assert confirmed.transaction_id == body["bankTransactionId"] and confirmed.review_reason is None
    assert await status_events(container, payment_id) == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]
    await container.bus.drain()
    premium = await container.premiums.get(150001)
    assert premium is not None and premium.status == "PAID" and premium.paid_payment_id == payment_id
    assert await container.premiums.due("P123456789") is None
    with pytest.raises(NotFound):
        await container.inquiry.inquire("P123456789", WHO, "127.0.0.1", "cid")
    assert await reviews(container) == []


# --- AMK says not paid / differs ---


async def test_amk_not_paid_is_refused_recorded_for_review_and_not_lost(
    container: Container, client: httpx.AsyncClient
) -> None:
    payment_id = await inquire(container)
    body = bill_body()  # the sandbox bank has never heard of this transaction
    r = await post_bill(client, container, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "TRANSACTION_VERIFY_FAILED"
    assert (await payment(container, payment_id)).status is PaymentStatus.PENDING
    assert await status_events(container, payment_id) == [PaymentStatus.PENDING]
    assert await count(container, "payments") == 1
    assert len(await reviews(container)) == 1
    # The refusal is not remembered as the answer: once AMK knows the money, AMK's retry succeeds.
    bank_paid(container, body["bankTransactionId"])
    r = await post_bill(client, container, body)
    assert r.status_code == 200 and r.json()["data"]["status"] == "CONFIRMED"
    assert r.json()["data"]["paymentId"] == payment_id


async def test_amk_failed_status_is_not_paid(container: Container) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"], status="FAILED")
    with pytest.raises(TransactionVerifyFailed):
        await container.webhooks.handle(bill(body))
    assert (await payment(container, payment_id)).status is PaymentStatus.PENDING


async def test_amk_amount_differs_is_a_mismatch(container: Container, client: httpx.AsyncClient) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"], amount="140.00")
    r = await post_bill(client, container, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    assert (await payment(container, payment_id)).status is PaymentStatus.PENDING
    assert await status_events(container, payment_id) == [PaymentStatus.PENDING]
    assert await count(container, "webhook_receipts") == 0
    assert len(await reviews(container)) == 1


async def test_amk_currency_differs_is_a_mismatch(container: Container) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"], amount="150", currency="KHR")
    with pytest.raises(VerificationMismatch):
        await container.webhooks.handle(bill(body))
    assert (await payment(container, payment_id)).status is PaymentStatus.PENDING


@pytest.mark.parametrize(
    "change",
    [{"amount": "149.99"}, {"amount": "150", "currency": "KHR"}, {"policy": "P000000000"}],
    ids=["amount", "currency", "policy"],
)
async def test_webhook_differs_from_the_premium(
    container: Container, client: httpx.AsyncClient, change: dict[str, str]
) -> None:
    payment_id = await inquire(container)
    body = bill_body(**change)
    bank_paid(container, body["bankTransactionId"], amount=str(body["amount"]), currency=body["currency"])
    r = await post_bill(client, container, body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "PAYMENT_VERIFICATION_DATA_MISMATCHED"
    assert {d["field"] for d in error["details"]} >= set(change) - {"policy"}
    assert (await payment(container, payment_id)).status is PaymentStatus.PENDING
    flagged = await reviews(container)
    assert len(flagged) == 1 and "does not match" in flagged[0]["reason"]
    assert flagged[0]["payload"]["bankTransactionId"] == body["bankTransactionId"]


async def test_khqr_amount_differs_from_the_payment(container: Container) -> None:
    payment_id = await inquire(container)
    bank_paid(container, str(payment_id), amount="1.00")
    with pytest.raises(VerificationMismatch):
        await container.webhooks.handle(khqr(khqr_body(payment_id, amount="1.00")))
    assert (await payment(container, payment_id)).status is PaymentStatus.PENDING
    flagged = await reviews(container)
    assert len(flagged) == 1 and flagged[0]["paymentId"] == payment_id


# --- AMK unreachable ---


async def test_amk_unreachable_is_retried_recorded_and_reverified_once(
    container: Container, client: httpx.AsyncClient, amk_wire: CountingTransport
) -> None:
    # First re-verification a minute away: "not due yet" below must not depend on the machine's speed.
    container.webhooks.reverify_interval_s = 60
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    container.sandbox_state.verify_available = False

    r = await post_bill(client, container, body)
    assert r.status_code == 202, r.text
    assert r.json()["data"]["status"] == "PROCESSING"
    assert amk_wire.verifies == container.settings.amk_retry_attempts == 3
    receipt = await container.store.receipt(f"BILL:{body['bankTransactionId']}")
    assert receipt is not None and receipt.state == VERIFY_PENDING and receipt.payment_id == payment_id
    assert (await payment(container, payment_id)).status is PaymentStatus.PROCESSING
    # AMK retries its webhook meanwhile: the same answer, nothing new
    again = await post_bill(client, container, body)
    assert (again.status_code, again.json()["data"]) == (202, r.json()["data"])

    # Not due yet: the re-verifier leaves it alone (and does not ask AMK).
    asked = amk_wire.verifies
    assert await later(container, hours=-1).run_once() == 0  # a clock an hour back: never flaky under load
    assert amk_wire.verifies == asked

    # Still unreachable when due: stays pending, asked again later.
    assert await later(container).run_once() == 0
    still = await container.store.receipt(receipt.key)
    assert still is not None and still.state == VERIFY_PENDING and still.attempts == receipt.attempts + 1
    assert still.next_attempt_at is not None and receipt.next_attempt_at is not None
    assert still.next_attempt_at > receipt.next_attempt_at

    container.sandbox_state.verify_available = True
    assert await later(container, hours=2).run_once() == 1  # past the postponed attempt
    assert await later(container, hours=2).run_once() == 0
    assert await later(container, hours=48).run_once() == 0

    confirmed = await payment(container, payment_id)
    assert confirmed.status is PaymentStatus.CONFIRMED
    assert confirmed.transaction_id == body["bankTransactionId"]
    assert await status_events(container, payment_id) == [
        PaymentStatus.PENDING,
        PaymentStatus.PROCESSING,
        PaymentStatus.CONFIRMED,
    ]
    replay = await post_bill(client, container, body)
    assert replay.status_code == 200 and replay.json()["data"]["status"] == "CONFIRMED"
    assert replay.json()["data"]["paymentId"] == payment_id
    await container.bus.drain()
    premium = await container.premiums.get(150001)
    assert premium is not None and premium.status == "PAID" and premium.paid_payment_id == payment_id


async def test_racing_reverifiers_and_replays_confirm_once(container: Container, amk_wire: CountingTransport) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    container.sandbox_state.verify_available = False
    pending = await container.webhooks.handle(bill(body))
    assert (pending.status_code, pending.body["status"]) == (202, "PROCESSING")
    container.sandbox_state.verify_available = True

    def other_process() -> WebhookService:
        return dataclasses.replace(container.webhooks, _locks=KeyedLocks())

    results = await asyncio.gather(
        *(later(container).run_once() for _ in range(5)),
        *(other_process().handle(bill(dict(body))) for _ in range(5)),
    )
    settled, answers = results[:5], results[5:]
    assert sum(settled) == 1  # type: ignore[arg-type]
    # a replay answers either the recorded PROCESSING or the settled CONFIRMED, never anything else
    assert {a.body["status"] for a in answers} <= {"PROCESSING", "CONFIRMED"}  # type: ignore[union-attr]
    assert await status_events(container, payment_id) == [
        PaymentStatus.PENDING,
        PaymentStatus.PROCESSING,
        PaymentStatus.CONFIRMED,
    ]
    assert await count(container, "payments", "status = 'CONFIRMED'") == 1
    assert sum(await asyncio.gather(*(later(container).run_once() for _ in range(3)))) == 0
    final = await container.webhooks.handle(bill(body))
    assert (final.status_code, final.body["status"]) == (200, "CONFIRMED")


async def test_unreachable_then_amk_says_not_paid_fails_the_payment(container: Container) -> None:
    payment_id = await inquire(container)
    body = bill_body()  # AMK will not know it
    container.sandbox_state.verify_available = False
    assert (await container.webhooks.handle(bill(body))).status_code == 202
    container.sandbox_state.verify_available = True
    assert await later(container).run_once() == 1
    failed = await payment(container, payment_id)
    assert failed.status is PaymentStatus.FAILED and failed.review_reason
    replay = await container.webhooks.handle(bill(body))
    assert replay.status_code == 422
    assert replay.body["error"]["code"] == "TRANSACTION_VERIFY_FAILED"
    await container.bus.drain()
    premium = await container.premiums.get(150001)
    assert premium is not None and premium.status == "DUE"


# --- late and after-the-fact money ---


async def test_late_failed_khqr_after_confirmed_is_recorded_and_ignored(
    container: Container, client: httpx.AsyncClient
) -> None:
    payment_id = await inquire(container)
    bank_paid(container, str(payment_id))
    ok = await container.webhooks.handle(khqr(khqr_body(payment_id)))
    assert ok.body["status"] == "CONFIRMED"
    raw, headers = signed(container, khqr_body(payment_id, status="FAILED"))
    r = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
    assert (await payment(container, payment_id)).status is PaymentStatus.CONFIRMED
    assert await status_events(container, payment_id) == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]
    async with container.store.transaction() as tx:
        ignored = await tx.events_of_type(payment_id, ledger.IGNORED)
    assert len(ignored) == 1 and ignored[0].data["attempted"] == "FAILED"
    again = await client.post("/AMK/khqr", content=raw, headers=headers)
    assert again.json()["data"] == r.json()["data"]
    async with container.store.transaction() as tx:
        assert len(await tx.events_of_type(payment_id, ledger.IGNORED)) == 1


async def test_khqr_success_after_expired_confirms_for_review(container: Container) -> None:
    payment_id = await inquire(container)
    async with container.store.transaction() as tx:
        locked = await tx.payment(payment_id, lock=True)
        assert locked is not None
        await ledger.transition(tx, locked, PaymentStatus.EXPIRED, datetime.now(UTC))
    bank_paid(container, str(payment_id))
    answer = await container.webhooks.handle(khqr(khqr_body(payment_id)))
    assert (answer.status_code, answer.body["status"]) == (200, "CONFIRMED")
    assert "EXPIRED" in answer.body["review"]
    confirmed = await payment(container, payment_id)
    assert confirmed.status is PaymentStatus.CONFIRMED and "EXPIRED" in (confirmed.review_reason or "")
    assert await status_events(container, payment_id) == [
        PaymentStatus.PENDING,
        PaymentStatus.EXPIRED,
        PaymentStatus.CONFIRMED,
    ]
    flagged = await reviews(container)
    assert [r["paymentId"] for r in flagged] == [payment_id]
    await container.bus.drain()
    premium = await container.premiums.get(150001)
    assert premium is not None and premium.status == "PAID"


async def test_bill_for_an_already_paid_premium_is_accepted_and_flagged(container: Container) -> None:
    first_body = bill_body()
    bank_paid(container, first_body["bankTransactionId"])
    first = await container.webhooks.handle(bill(first_body))
    await container.bus.drain()
    second_body = bill_body()
    bank_paid(container, second_body["bankTransactionId"])
    second = await container.webhooks.handle(bill(second_body))
    await container.bus.drain()
    assert (second.status_code, second.body["status"]) == (200, "CONFIRMED")
    assert second.body["paymentId"] != first.body["paymentId"]
    assert str(first.body["paymentId"]) in second.body["review"]
    b = await payment(container, second.body["paymentId"])
    assert b.status is PaymentStatus.CONFIRMED and b.transaction_id == second_body["bankTransactionId"]
    assert b.review_reason
    assert [r["paymentId"] for r in await reviews(container)] == [b.id]
    assert await count(container, "payments", "status = 'CONFIRMED'") == 2
    premium = await container.premiums.get(150001)
    assert premium is not None and premium.paid_payment_id == first.body["paymentId"]
    async with container.store.transaction() as tx:
        assert len(await tx.events_after(b.id, 0, types=(PaymentEvent.STATUS,))) == 2


async def test_second_bank_transaction_while_the_first_is_processing_is_flagged(
    container: Container,
) -> None:
    payment_id = await inquire(container)
    first_body, second_body = bill_body(), bill_body()
    bank_paid(container, first_body["bankTransactionId"])
    bank_paid(container, second_body["bankTransactionId"])
    container.sandbox_state.verify_available = False
    pending = await container.webhooks.handle(bill(first_body))
    assert (pending.body["paymentId"], pending.body["status"]) == (payment_id, "PROCESSING")
    container.sandbox_state.verify_available = True
    second = await container.webhooks.handle(bill(second_body))
    assert second.status_code == 200 and second.body["status"] == "CONFIRMED"
    assert await later(container).run_once() == 1
    # Two bank transactions paid one premium: whatever the payments look like, a person is told.
    flagged = await reviews(container)
    assert len(flagged) == 1, flagged
    assert first_body["bankTransactionId"] in flagged[0]["reason"] + str(flagged[0]["payload"])
    assert second_body["bankTransactionId"] in flagged[0]["reason"] + str(flagged[0]["payload"])
    assert await count(container, "payment_events", "status = 'CONFIRMED' AND type = $1", PaymentEvent.STATUS) == 1


async def test_khqr_money_for_a_payment_confirmed_by_a_bill_is_flagged(container: Container) -> None:
    payment_id = await inquire(container)
    body = bill_body()
    bank_paid(container, body["bankTransactionId"])
    assert (await container.webhooks.handle(bill(body))).body["paymentId"] == payment_id
    bank_paid(container, str(payment_id))
    answer = await container.webhooks.handle(khqr(khqr_body(payment_id)))
    assert answer.status_code == 200 and answer.body["status"] == "CONFIRMED"
    flagged = await reviews(container)
    assert [r["paymentId"] for r in flagged] == [payment_id]
    assert "double payment" in flagged[0]["reason"]
    assert await status_events(container, payment_id) == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]
