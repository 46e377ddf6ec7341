"""Webhook handling as a use case: ``WebhookService`` over the in-memory store and fake AMK.

No database, no HTTP: each test runs in milliseconds. The HTTP suites (tests/integration) cover
the same paths through the real stores; these pin the use case's rules on the port alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.dto import BillPayment, KhqrPayment, parse
from gateway.webhooks import WebhookService
from hub.adapters.store.memory import MemoryStore
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.errors import DuplicatePayment, NotFound, TransactionVerifyFailed, VerificationMismatch
from hub.service import ledger
from tests.unit.fakes import NOW, Clock, FakeAmk, FakePremiums, RecordingPublisher, premium

MERCHANT = "AMK000001"


class World:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.amk = FakeAmk()
        self.premiums = FakePremiums(premium())
        self.bus = RecordingPublisher()
        self.clock = Clock()
        self.confirmed: list[int] = []

        async def on_confirmed(payment: Any) -> None:
            self.confirmed.append(payment.id)

        self.service = WebhookService(
            self.store,
            self.amk,
            self.premiums,
            self.bus,
            merchant_id=MERCHANT,
            reverify_interval_s=30.0,
            on_confirmed=on_confirmed,
            clock=self.clock,
        )

    async def count(self, table: str) -> int:
        async with self.store.transaction() as tx:
            return await tx.count(table)


def bill(tx_id: str = "TX1", amount: str = "150.00", **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": 7,
        "policyNumber": "P000000007",
        "amount": amount,
        "currency": "USD",
        "bankTransactionId": tx_id,
        "payer": "Jane Roe",
        "paidDate": "20261130100000",
    }
    return {**raw, **changes}


async def send_bill(world: World, raw: dict[str, Any]) -> Any:
    return await world.service.handle(WebhookService.bill(parse(BillPayment, raw), raw))


async def test_a_verified_bill_payment_confirms_and_publishes_in_order() -> None:
    world = World()
    world.amk.pays("TX1", "150.00")
    answer = await send_bill(world, bill())
    assert answer.status_code == 200
    assert answer.body["status"] == "CONFIRMED" and answer.body["transactionId"] == "TX1"
    payment = await world.store.payment(answer.body["paymentId"])
    assert payment is not None
    assert (payment.status, payment.method, payment.transaction_id) == (
        PaymentStatus.CONFIRMED,
        PaymentMethod.BILL,
        "TX1",
    )
    assert [e.status for e in world.bus.events] == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]
    assert world.confirmed == [payment.id]
    receipt = await world.store.receipt("BILL:TX1")
    assert receipt is not None and receipt.state == "DONE" and receipt.response_body == answer.body


async def test_a_replay_gets_the_first_answer_and_changes_nothing() -> None:
    world = World()
    world.amk.pays("TX1", "150.00")
    first = await send_bill(world, bill())
    published = len(world.bus.events)
    again = await send_bill(world, bill())
    assert (again.status_code, again.body) == (first.status_code, first.body)
    assert len(world.bus.events) == published and world.amk.asked == ["TX1"]
    with pytest.raises(DuplicatePayment):  # the same key with other content is refused
        await send_bill(world, bill(amount="151.00"))
    assert await world.count("payments") == 1 and await world.count("webhook_receipts") == 1


async def test_amk_down_records_processing_for_re_verification() -> None:
    world = World()
    world.amk.down = True
    answer = await send_bill(world, bill())
    assert answer.status_code == 202 and answer.body["status"] == "PROCESSING"
    receipt = await world.store.receipt("BILL:TX1")
    assert receipt is not None
    assert (receipt.state, receipt.attempts, receipt.next_attempt_at) == (
        "VERIFY_PENDING",
        1,
        NOW + timedelta(seconds=30),
    )
    async with world.store.transaction() as tx:
        assert await tx.due_verifications(NOW + timedelta(seconds=30)) == [receipt]
    assert world.confirmed == []


async def test_money_amk_does_not_confirm_is_refused_and_flagged() -> None:
    world = World()  # AMK knows nothing of TX1
    with pytest.raises(TransactionVerifyFailed):
        await send_bill(world, bill())
    assert await world.count("payments") == 0 and await world.count("webhook_receipts") == 0
    async with world.store.transaction() as tx:
        reviews = await tx.reviews()
    assert len(reviews) == 1 and reviews[0]["payload"]["bankTransactionId"] == "TX1"
    assert world.bus.events == []


async def test_a_bill_that_does_not_match_the_premium_is_refused_before_asking_amk() -> None:
    world = World()
    world.amk.pays("TX1", "99.00")
    with pytest.raises(VerificationMismatch) as info:
        await send_bill(world, bill(amount="99.00"))
    assert info.value.details == [{"field": "amount", "expected": "150.00", "received": "99.00"}]
    assert world.amk.asked == [] and await world.count("payments") == 0
    assert await world.count("reviews") == 1


async def test_an_unknown_premium_is_not_found_and_flagged() -> None:
    world = World()
    with pytest.raises(NotFound):
        await send_bill(world, bill(id=8))
    assert await world.count("reviews") == 1 and await world.count("payments") == 0


async def test_a_failed_khqr_payment_fails_the_open_payment() -> None:
    world = World()
    async with world.store.transaction() as tx:
        payment, _ = await ledger.open_payment(tx, premium(), PaymentMethod.KHQR, NOW)
    raw = {
        "invoice_number": str(payment.id),
        "status": "FAILED",
        "merchant_number": MERCHANT,
        "paid_amount": "150.00",
        "currency": "USD",
        "paid_datetime": "2026-11-30 10:00:00.000000",
    }
    answer = await world.service.handle(WebhookService.khqr(parse(KhqrPayment, raw), raw))
    assert answer.status_code == 200 and answer.body["status"] == "FAILED"
    assert world.amk.asked == []  # a failure is not verified: it moves no money
    got = await world.store.payment(payment.id)
    assert got is not None and got.status is PaymentStatus.FAILED
    assert [e.status for e in world.bus.events] == [PaymentStatus.FAILED]
