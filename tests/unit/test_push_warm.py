"""Start-up warming of the newest-status memory (``push.warm``): bounded, forward only."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hub.adapters.store.memory import MemoryStore
from hub.domain.money import Currency
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.fanout import Fanout
from hub.service import ledger
from push.warm import warm_latest

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def payments_with_events(store: MemoryStore, n: int) -> list[PaymentEvent]:
    """``n`` payments, each PENDING then PROCESSING; their newest status events, oldest first."""
    newest = []
    for i in range(1, n + 1):
        premium = Premium(i, f"P{i:09d}", "Jane Roe", Decimal("10.00"), Currency.USD, date(2026, 12, 15))
        async with store.transaction() as tx:
            await tx.upsert_premium(premium, NOW)
            payment, _ = await ledger.open_payment(tx, premium, None, NOW)
            newest.append(await tx.append_event(payment.id, PaymentEvent.STATUS, PaymentStatus.PROCESSING, {}, NOW))
    return newest


async def test_warming_remembers_the_payments_that_changed_last_within_both_bounds() -> None:
    store = MemoryStore()
    newest = await payments_with_events(store, 5)
    hub = Fanout(remember=3)
    assert await warm_latest(store, hub, 10) == 3  # the memory's own size bounds the query
    assert [hub.latest.get(e.payment_id) is not None for e in newest] == [False, False, True, True, True]
    known = hub.latest.get(newest[-1].payment_id)
    assert known is not None and (known.id, known.status) == (newest[-1].id, PaymentStatus.PROCESSING)
    hub = Fanout()
    assert await warm_latest(store, hub, 2) == 2
    assert len(hub.latest) == 2
    assert await warm_latest(store, Fanout(), 0) == 0


async def test_warming_never_moves_the_memory_back() -> None:
    store = MemoryStore()
    (event,) = await payments_with_events(store, 1)
    hub = Fanout()
    later = PaymentEvent(event.id + 10, event.payment_id, PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {}, NOW)
    await hub.on_event(later)  # fanned out while the warming query ran
    await warm_latest(store, hub, 10)
    known = hub.latest.get(event.payment_id)
    assert known is not None and known.id == later.id


class BackgroundBus:
    """A bus that subscribes in the background, as the Redis bus does."""

    def __init__(self) -> None:
        self.subscribed = asyncio.Event()
        self.reconnects = 0


async def test_warming_waits_for_the_bus_subscription_and_skips_without_one() -> None:
    store = MemoryStore()
    await payments_with_events(store, 2)
    bus = BackgroundBus()
    hub = Fanout()
    assert await warm_latest(store, hub, 10, bus, wait_s=0.05) == 0  # never subscribed: nothing remembered
    assert len(hub.latest) == 0
    asyncio.get_running_loop().call_later(0.02, bus.subscribed.set)
    assert await warm_latest(store, hub, 10, bus, wait_s=2) == 2  # waited for it
    assert len(hub.latest) == 2


async def test_warming_remembers_nothing_when_the_bus_resubscribed_during_the_query() -> None:
    store = MemoryStore()
    await payments_with_events(store, 2)
    bus = BackgroundBus()
    bus.subscribed.set()
    real = store.transaction

    def reconnecting() -> Any:
        bus.reconnects += 1  # the subscription was lost and renewed while the query ran: events were missed
        return real()

    store.transaction = reconnecting  # type: ignore[method-assign]
    hub = Fanout()
    assert await warm_latest(store, hub, 10, bus) == 0
    assert len(hub.latest) == 0
