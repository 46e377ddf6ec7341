"""Settlement, KHQR expiry and opening a payment stream as use cases over the in-memory store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hub.adapters.store.memory import MemoryStore
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import KhqrSession, Payment, PaymentEvent
from hub.fanout import Fanout
from hub.service import ledger
from integration.premiums import PremiumService
from khqr.expiry import MAX_SLEEP_S, ExpiryScheduler
from push.stream import open_stream
from tests.unit.fakes import NOW, Clock, RecordingPublisher, premium


async def opened(store: MemoryStore, pid: int = 7, method: PaymentMethod | None = None) -> Payment:
    p = premium(pid, f"P{pid:09d}")
    async with store.transaction() as tx:
        await tx.upsert_premium(p, NOW)
        payment, _ = await ledger.open_payment(tx, p, method, NOW)
    return payment


async def move(store: MemoryStore, payment: Payment, target: PaymentStatus, tx_id: str | None = None) -> Payment:
    async with store.transaction() as tx:
        locked = await tx.payment(payment.id, lock=True)
        assert locked is not None
        moved, _, _ = await ledger.transition(tx, locked, target, NOW, transaction_id=tx_id)
    return moved


# --- settlement ---


async def test_a_confirmed_event_marks_its_premium_paid_once() -> None:
    store = MemoryStore()
    service = PremiumService(store, clock=Clock())
    payment = await move(store, await opened(store), PaymentStatus.CONFIRMED, "TX1")
    async with store.transaction() as tx:
        event = await tx.last_status_event(payment.id)
    assert event is not None
    await service.on_event(event)
    await service.on_event(event)  # at-least-once delivery: the second is a no-op
    got = await service.get(7)
    assert got is not None and (got.status, got.paid_payment_id) == ("PAID", payment.id)
    assert await service.due("P000000007") is None


async def test_settle_unsettled_catches_up_confirmed_payments_only() -> None:
    store = MemoryStore()
    service = PremiumService(store, clock=Clock())
    confirmed = await move(store, await opened(store, 1), PaymentStatus.CONFIRMED, "TX1")
    await move(store, await opened(store, 2), PaymentStatus.FAILED)
    await opened(store, 3)
    assert await service.settle_unsettled() == 1
    assert await service.settle_unsettled() == 0
    paid = await service.get(1)
    assert paid is not None and paid.paid_payment_id == confirmed.id
    assert [(await service.get(pid)).status for pid in (2, 3)] == ["DUE", "DUE"]  # type: ignore[union-attr]


# --- KHQR expiry ---


def qr(sid: str, payment: Payment, expires_in_s: int) -> KhqrSession:
    return KhqrSession(
        sid,
        payment.id,
        payment.premium_id,
        payment.policy_number,
        "Jane Roe",
        Decimal("150.00"),
        Currency.USD,
        "000201",
        "iVBORw0KGgo=",
        "PENDING",
        NOW,
        NOW + timedelta(seconds=expires_in_s),
    )


async def test_expiry_expires_due_sessions_and_their_payments() -> None:
    store, bus, clock = MemoryStore(), RecordingPublisher(), Clock()
    expiry = ExpiryScheduler(store, bus, clock=clock)
    soon = await opened(store, 1, PaymentMethod.KHQR)
    later = await opened(store, 2, PaymentMethod.KHQR)
    async with store.transaction() as tx:
        await tx.khqr_sessions.insert(qr("soon", soon, 60))
        await tx.khqr_sessions.insert(qr("later", later, 100))
    assert await expiry.seconds_to_next() == 60
    assert await expiry.expire_due() == 0
    clock.now = NOW + timedelta(seconds=60)
    assert await expiry.expire_due() == 1
    assert await expiry.expire_due() == 0  # idempotent
    assert [(e.payment_id, e.status) for e in bus.events] == [(soon.id, PaymentStatus.EXPIRED)]
    assert (await store.payment(soon.id)).status is PaymentStatus.EXPIRED  # type: ignore[union-attr]
    assert (await store.payment(later.id)).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    assert await expiry.seconds_to_next() == 40


async def test_expiry_never_undoes_a_payment_that_was_confirmed_first() -> None:
    store, bus, clock = MemoryStore(), RecordingPublisher(), Clock(NOW + timedelta(hours=1))
    payment = await opened(store, 1, PaymentMethod.KHQR)
    async with store.transaction() as tx:
        await tx.khqr_sessions.insert(qr("s", payment, 60))
    await move(store, payment, PaymentStatus.CONFIRMED, "TX1")  # the ledger ends its QR session PAID
    assert await ExpiryScheduler(store, bus, clock=clock).expire_due() == 0
    assert (await store.payment(payment.id)).status is PaymentStatus.CONFIRMED  # type: ignore[union-attr]
    assert bus.events == []
    async with store.transaction() as tx:
        session = await tx.khqr_sessions.get("s")
        assert await tx.khqr_sessions.next_expiry() is None
    assert session is not None and session.status == "PAID"
    assert await ExpiryScheduler(store, bus, clock=clock).seconds_to_next() == MAX_SLEEP_S


# --- opening a stream ---


async def frames_of(store: MemoryStore, hub: Fanout, payment_id: int, cursor: int | None) -> list[PaymentStatus]:
    stream = await open_stream(store, hub, payment_id, cursor)
    assert stream is not None
    out: list[PaymentStatus] = []
    async for frame in stream.frames(heartbeat_s=0.01):
        if frame is None:
            break
        out.append(frame.status)
    return out


async def test_a_stream_without_cursor_starts_at_the_current_status_with_the_rows_details() -> None:
    store, hub = MemoryStore(), Fanout()
    payment = await opened(store)
    async with store.transaction() as tx:  # a QR was issued: the method is known, the status unchanged
        locked = await tx.payment(payment.id, lock=True)
        assert locked is not None
        await tx.update_payment(replace(locked, method=PaymentMethod.KHQR))
    stream = await open_stream(store, hub, payment.id, None)
    assert stream is not None and hub.subscriber_count == 1
    first = await anext(stream.frames(heartbeat_s=0.01))
    assert first is not None and first.status is PaymentStatus.PENDING and first.data["method"] == "KHQR"
    stream.close()
    assert hub.subscriber_count == 0


async def test_a_stream_replays_from_its_cursor_then_goes_live_without_gaps_or_repeats() -> None:
    store, hub = MemoryStore(), Fanout()
    payment = await opened(store)
    await move(store, payment, PaymentStatus.PROCESSING, "TX1")
    async with store.transaction() as tx:
        pending, processing = await tx.events_after(payment.id, 0)
    stream = await open_stream(store, hub, payment.id, pending.id)
    assert stream is not None
    frames = stream.frames(heartbeat_s=0.01)
    assert (await anext(frames)).id == processing.id  # type: ignore[union-attr]
    confirmed = await move(store, payment, PaymentStatus.CONFIRMED, "TX1")
    async with store.transaction() as tx:
        last = await tx.last_status_event(confirmed.id)
    assert last is not None
    await hub.on_event(processing)  # a late duplicate from the bus is dropped
    await hub.on_event(last)
    live = await anext(frames)
    assert live is not None and (live.id, live.status) == (last.id, PaymentStatus.CONFIRMED)
    assert [f async for f in frames] == []  # terminal: the stream ends
    assert hub.subscriber_count == 0


async def test_a_cursor_at_a_terminal_status_opens_no_stream() -> None:
    store, hub = MemoryStore(), Fanout()
    payment = await move(store, await opened(store), PaymentStatus.FAILED)
    async with store.transaction() as tx:
        last = await tx.last_status_event(payment.id)
    assert last is not None
    assert await open_stream(store, hub, payment.id, last.id) is None
    assert await frames_of(store, hub, payment.id, 0) == [PaymentStatus.PENDING, PaymentStatus.FAILED]
    assert hub.subscriber_count == 0
    assert isinstance(last, PaymentEvent)
