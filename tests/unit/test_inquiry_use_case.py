"""Premium inquiry as a use case (it opens the payment a stream is scoped to), on the in-memory store."""

from __future__ import annotations

import pytest

from gateway.inquiry import InquiryService
from hub.adapters.cache.memory import MemoryCache
from hub.adapters.store.memory import MemoryStore
from hub.auth import Authenticator, Principal
from hub.domain.payment import PaymentStatus
from hub.errors import NotFound
from hub.resilience.breaker import CircuitBreaker
from hub.service import ledger
from tests.unit.fakes import NOW, Clock, FakePremiums, RecordingPublisher, premium

WHO = Principal("amk-test", "amk")


def service(store: MemoryStore, bus: RecordingPublisher) -> InquiryService:
    return InquiryService(
        store,
        FakePremiums(premium()),
        MemoryCache(),
        CircuitBreaker("integration"),
        Authenticator(secret="s" * 32, subscribe_secret="t" * 32),
        bus,
        clock=Clock(),
    )


async def test_an_inquiry_opens_one_payment_and_logs_itself() -> None:
    store, bus = MemoryStore(), RecordingPublisher()
    inquiry = service(store, bus)
    first = await inquiry.inquire("P000000007", WHO, "127.0.0.1", "cid-1")
    again = await inquiry.inquire("p000000007", WHO, "127.0.0.1", "cid-2")
    assert first["id"] == 7 and first["amount"] == again["amount"]
    assert first["paymentId"] == again["paymentId"]  # one open payment per premium
    assert [e.status for e in bus.events] == [PaymentStatus.PENDING]  # its event, published once
    async with store.transaction() as tx:
        assert await tx.count("payments") == 1 and await tx.count("inquiries") == 2
    with pytest.raises(NotFound):
        await inquiry.inquire("P999999999", WHO, "127.0.0.1", "cid-3")
    async with store.transaction() as tx:
        assert await tx.count("inquiries") == 3  # a miss is logged too


async def test_a_premium_confirmed_here_is_never_offered_again() -> None:
    store, bus = MemoryStore(), RecordingPublisher()
    inquiry = service(store, bus)
    opened = await inquiry.inquire("P000000007", WHO, "127.0.0.1", "cid")
    async with store.transaction() as tx:
        payment = await tx.payment(opened["paymentId"], lock=True)
        assert payment is not None
        await ledger.transition(tx, payment, PaymentStatus.CONFIRMED, NOW, transaction_id="TX1")
    with pytest.raises(NotFound) as info:
        await inquiry.inquire("P000000007", WHO, "127.0.0.1", "cid")
    assert info.value.details == {"paidBy": opened["paymentId"]}
