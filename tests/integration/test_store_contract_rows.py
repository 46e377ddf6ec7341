"""More of the store contract (``store``: memory, SQLite, PostgreSQL): KHQR sessions, the outbox,
the settlement queries and the unique rules a status update can break."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import KhqrSession
from hub.errors import UniqueViolation
from hub.ports import Store
from hub.service import ledger
from tests.integration.test_store_contract import NOW, STATUS, new_payment, premium


def session(sid: str, payment_id: int, premium_id: int = 1, *, expires_in_s: int = 600) -> KhqrSession:
    return KhqrSession(
        id=sid,
        payment_id=payment_id,
        premium_id=premium_id,
        policy_number="P000000001",
        customer_name="Jane Roe",
        amount=Decimal("150.00"),
        currency=Currency.USD,
        qr_string="000201",
        qr_image="iVBORw0KGgo=",
        status="PENDING",
        created_at=NOW,
        expires_at=NOW + timedelta(seconds=expires_in_s),
    )


async def test_one_pending_khqr_session_per_premium(store: Store) -> None:
    payment = await new_payment(store, premium())
    first = session("s1", payment.id)
    async with store.transaction() as tx:
        assert await tx.khqr_sessions.insert(first) is True
        assert await tx.khqr_sessions.insert(session("s2", payment.id)) is False
    async with store.transaction() as tx:
        assert await tx.khqr_sessions.get("s1") == first
        assert await tx.khqr_sessions.get("s2") is None
        assert await tx.khqr_sessions.pending_for_premium(1) == first
        assert await tx.khqr_sessions.pending_for_premium(2) is None
        assert await tx.count("khqr_sessions") == 1
    with pytest.raises(UniqueViolation):  # an id is a primary key
        async with store.transaction() as tx:
            assert await tx.khqr_sessions.close("s1", "EXPIRED", NOW)
            await tx.khqr_sessions.insert(session("s1", payment.id))
    async with store.transaction() as tx:  # ... and the failed unit changed nothing
        assert await tx.khqr_sessions.get("s1") == first


async def test_khqr_session_expiry_and_closing(store: Store) -> None:
    payment = await new_payment(store, premium())
    other = await new_payment(store, premium(2, "P000000002"))
    async with store.transaction() as tx:
        await tx.khqr_sessions.insert(session("late", other.id, 2, expires_in_s=900))
        await tx.khqr_sessions.insert(session("soon", payment.id, 1, expires_in_s=60))
    async with store.transaction() as tx:
        assert await tx.khqr_sessions.next_expiry() == NOW + timedelta(seconds=60)
        assert await tx.khqr_sessions.due(NOW) == []
        due = await tx.khqr_sessions.due(NOW + timedelta(seconds=900))
        assert [s.id for s in due] == ["soon", "late"]  # earliest first
        assert [s.id for s in await tx.khqr_sessions.due(NOW + timedelta(seconds=900), limit=1)] == ["soon"]
    async with store.transaction() as tx:
        assert await tx.khqr_sessions.close("soon", "EXPIRED", NOW) is True
        assert await tx.khqr_sessions.close("soon", "EXPIRED", NOW) is False  # only a PENDING one moves
        assert await tx.khqr_sessions.close("nope", "EXPIRED", NOW) is False
        # a payment that arrives late still marks the expired session paid
        assert await tx.khqr_sessions.close("soon", "PAID", NOW, only_pending=False) is True
        assert await tx.khqr_sessions.close("soon", "PAID", NOW, only_pending=False) is False
    async with store.transaction() as tx:
        assert await tx.khqr_sessions.next_expiry() == NOW + timedelta(seconds=900)
        assert await tx.khqr_sessions.mark_paid(other.id, NOW) == 1
        assert await tx.khqr_sessions.mark_paid(other.id, NOW) == 0
        assert await tx.khqr_sessions.next_expiry() is None
        got = await tx.khqr_sessions.get("late")
    assert got is not None and got.status == "PAID"


async def test_outbox_claims_unpublished_events_oldest_first(store: Store) -> None:
    payment = await new_payment(store, premium())  # one PENDING event
    async with store.transaction() as tx:
        processing = await tx.append_event(payment.id, STATUS, PaymentStatus.PROCESSING, {}, NOW)
        confirmed = await tx.append_event(payment.id, STATUS, PaymentStatus.CONFIRMED, {}, NOW)
    async with store.transaction() as tx:
        assert await tx.outbox.unpublished_count() == 3
        claimed = await tx.outbox.claim(2)
        assert [e.status for e in claimed] == [PaymentStatus.PENDING, PaymentStatus.PROCESSING]
        assert tx.outbox.deferred == 0
        assert await tx.outbox.had_processing(payment.id, confirmed.id) is True
        assert await tx.outbox.had_processing(payment.id, processing.id) is False
        await tx.outbox.mark_published([e.id for e in claimed], NOW)
    async with store.transaction() as tx:
        assert await tx.outbox.unpublished_count() == 1
        assert await tx.outbox.claim(10) == [confirmed]
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.outbox.mark_published([confirmed.id], NOW)
            raise RuntimeError("the broker did not acknowledge")
    async with store.transaction() as tx:
        assert await tx.outbox.claim(10) == [confirmed]  # a failed unit publishes nothing


async def test_settlement_queries(store: Store) -> None:
    a = await new_payment(store, premium(1, "P000000001"))
    b = await new_payment(store, premium(2, "P000000002"))
    async with store.transaction() as tx:
        assert await tx.unsettled_confirmed() == []
        assert await tx.confirmed_payment_for(1) is None
        done_a, _, _ = await ledger.transition(tx, a, PaymentStatus.CONFIRMED, NOW, transaction_id="TA")
        await ledger.transition(tx, b, PaymentStatus.CONFIRMED, NOW, transaction_id="TB")
    async with store.transaction() as tx:
        assert await tx.unsettled_confirmed() == [(a.id, 1), (b.id, 2)]
        assert await tx.unsettled_confirmed(limit=1) == [(a.id, 1)]
        assert await tx.confirmed_payment_for(1) == done_a
        assert await tx.mark_premium_paid(1, a.id, NOW)
    async with store.transaction() as tx:
        assert await tx.unsettled_confirmed() == [(b.id, 2)]
        events = await tx.status_events_of([a.id, b.id], 0)
        assert [(e.payment_id, e.status) for e in events] == [
            (a.id, PaymentStatus.PENDING),
            (b.id, PaymentStatus.PENDING),
            (a.id, PaymentStatus.CONFIRMED),
            (b.id, PaymentStatus.CONFIRMED),
        ]
        assert await tx.status_events_of([b.id], events[2].id) == events[3:]
        assert await tx.status_events_of([], 0) == []


async def test_a_premium_cannot_get_a_second_open_payment_by_update(store: Store) -> None:
    first = await new_payment(store, premium())
    async with store.transaction() as tx:
        locked = await tx.payment(first.id, lock=True)
        assert locked is not None
        expired, _, _ = await ledger.transition(tx, locked, PaymentStatus.EXPIRED, NOW)
        second = await tx.insert_open_payment(premium(), None, NOW)
    assert second is not None
    with pytest.raises(UniqueViolation):
        async with store.transaction() as tx:
            await tx.update_payment(replace(expired, status=PaymentStatus.PENDING))
    assert await store.payment(first.id) == expired
    async with store.transaction() as tx:
        assert await tx.open_payment_for(1) == second
        assert await tx.payment(2**62) is None
        assert await tx.premium(2**62) is None


async def test_a_premiums_attempts(store: Store) -> None:
    first = await new_payment(store, premium())
    async with store.transaction() as tx:
        await tx.lock_premium(1)
        locked = await tx.payment(first.id, lock=True)
        assert locked is not None
        waiting, _, _ = await ledger.transition(tx, locked, PaymentStatus.PROCESSING, NOW, transaction_id="T1")
        second = await tx.insert_open_payment(premium(), PaymentMethod.KHQR, NOW)  # one PENDING at a time
        assert second is not None
        assert await tx.insert_open_payment(premium(), None, NOW) is None
        third_try = replace(waiting, status=PaymentStatus.PENDING)
    with pytest.raises(UniqueViolation):  # ... even by update
        async with store.transaction() as tx:
            await tx.update_payment(third_try)
    async with store.transaction() as tx:
        assert await tx.open_payment_for(1, lock=True) == second  # the newest open attempt
        assert await tx.pending_payments_for(1, excluding=first.id) == [second]
        assert await tx.pending_payments_for(1, excluding=second.id) == []
        confirmed, _, _ = await ledger.transition(tx, waiting, PaymentStatus.CONFIRMED, NOW, transaction_id="T1")
        assert await tx.confirmed_payment_for(1) == confirmed
        assert await tx.confirmed_payment_for(1, excluding=confirmed.id) is None


async def test_ending_an_attempts_qr_sessions(store: Store) -> None:
    payment = await new_payment(store, premium())
    async with store.transaction() as tx:
        await tx.khqr_sessions.insert(session("a", payment.id))
    async with store.transaction() as tx:
        assert await tx.end_qr_sessions(payment.id, "EXPIRED", NOW) == 1
        assert await tx.end_qr_sessions(payment.id, "EXPIRED", NOW) == 0  # only a PENDING one expires
        assert await tx.end_qr_sessions(payment.id, "PAID", NOW) == 1  # paid, whatever it said
        assert await tx.end_qr_sessions(payment.id, "PAID", NOW) == 0
        got = await tx.khqr_sessions.get("a")
    assert got is not None and got.status == "PAID"


async def test_after_commit_runs_after_a_commit_only_and_in_order(store: Store) -> None:
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("a failing callback does not stop the others")

    async with store.transaction() as tx:
        tx.after_commit(lambda: ran.append("one"))
        tx.after_commit(boom)
        tx.after_commit(lambda: ran.append("two"))
        assert ran == []
    assert ran == ["one", "two"]
    with pytest.raises(KeyError):
        async with store.transaction() as tx:
            tx.after_commit(lambda: ran.append("rolled back"))
            raise KeyError("x")
    assert ran == ["one", "two"]


async def test_count_reviews_by_key_prefix(store: Store) -> None:
    async with store.transaction() as tx:
        for key in ("double-payment:1:paid", "double-payment:2:T1", "Double-Payment:3", "double-payment_x", "other"):
            await tx.add_review(key, "r", None, {}, NOW)
    async with store.transaction() as tx:
        assert await tx.count_reviews("double-payment:") == 2  # exactly: case and '_' are not patterns
        assert await tx.count_reviews("double-payment") == 3
        assert await tx.count_reviews("") == 5
