"""The replay→live boundary: events committed while a subscriber opens its stream must reach it
exactly once — no gap, no duplicate — on every store backend.

Each round uses a fresh payment; one task opens a stream (subscribe, then read the log) while
another commits and publishes PROCESSING then CONFIRMED. Random yields shuffle where the commits
fall relative to the subscription and the log read. The ids received must be exactly the stored
status events after the cursor, strictly increasing, ending with CONFIRMED.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from hub.adapters.store.sql import SqlStore, Tx
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.service.ledger import open_payment, transition
from payhub.bootstrap import Container
from push import stream as stream_module
from push.stream import open_stream
from tests.conftest import make_settings, process
from tests.redis_server import PrivateRedis

ROUNDS = {"sqlite": 300, "postgres": 80}
ROUND_TIMEOUT_S = 5.0
# After each transaction, the answer "travels back" for a moment (a database over the network):
# this widens the window between the log read and whatever the reader does next.
LATENCIES_S = (0, 0, 0, 0.0005, 0.002)


def add_latency(store: SqlStore, monkeypatch: pytest.MonkeyPatch, rng: random.Random) -> None:
    original = store.transaction

    @asynccontextmanager
    async def transaction() -> AsyncIterator[Tx]:
        async with original() as tx:
            yield tx
        await asyncio.sleep(rng.choice(LATENCIES_S))

    monkeypatch.setattr(store, "transaction", transaction)


@pytest.fixture
def latency(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    add_latency(container.store, monkeypatch, random.Random(7))


async def fresh_payment(c: Container, premium_id: int) -> tuple[int, int]:
    """A new premium with its PENDING payment (event committed and published); (paymentId, eventId)."""
    now = datetime.now(UTC)
    premium = Premium(premium_id, f"R{premium_id:09d}", "Race Payer", Decimal("1.00"), Currency.USD, date(2027, 1, 1))
    async with c.store.transaction() as tx:
        await tx.upsert_premium(premium, now)
        payment, events = await open_payment(tx, premium, PaymentMethod.KHQR, now)
    await c.bus.publish(events)
    [event] = events
    return payment.id, event.id


async def _yield(rng: random.Random) -> None:
    for _ in range(rng.randrange(4)):
        await asyncio.sleep(0)


async def _move(c: Container, payment_id: int, status: PaymentStatus) -> None:
    async with c.store.transaction() as tx:
        payment = await tx.payment(payment_id, lock=True)
        assert payment is not None
        _, events, _ = await transition(tx, payment, status, datetime.now(UTC))
    await c.bus.publish(events)


async def _round(c: Container, n: int, rng: random.Random) -> None:
    payment_id, pending_id = await fresh_payment(c, 900_000 + n)
    if rng.random() < 0.5:
        await c.bus.drain()  # otherwise the PENDING frame may still be in flight: a duplicate to skip
    cursor = rng.choice([None, 0, pending_id])
    received: list[tuple[int, str]] = []

    async def consume() -> None:
        await _yield(rng)
        stream = await open_stream(c.store, c.push, payment_id, cursor)
        assert stream is not None
        async for frame in stream.frames(heartbeat_s=1.0):
            assert frame is not None, f"round {n}: stream stalled after {received} (an event fell in the gap)"
            received.append((frame.id, frame.status.value))

    await asyncio.wait_for(asyncio.gather(consume(), _pay(c, payment_id, rng)), ROUND_TIMEOUT_S)
    ids = [i for i, _ in received]
    stored = [e.id for e in await c.store.events_after(payment_id, 0)]
    if cursor is None:
        assert ids and ids[0] in stored, f"round {n}: snapshot {ids[:1]} is not a stored status event"
        expected = [i for i in stored if i >= ids[0]]
    else:
        expected = [i for i in stored if i > cursor]
    assert len(stored) == 3
    assert ids == expected, f"round {n}, cursor {cursor}: received {received}, stored {stored}"
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert received[-1][1] == "CONFIRMED"


async def test_events_racing_a_subscription_arrive_once_in_order(container: Container, latency: None) -> None:
    rng = random.Random(1127)
    rounds = ROUNDS[container.store.dialect]
    for n in range(rounds):
        await _round(container, n, rng)
    await container.bus.drain()
    assert container.push.subscriber_count == 0, "every finished stream unsubscribed"


async def _tail(c: Container, payment_id: int, rng: random.Random) -> list[int]:
    await _yield(rng)
    stream = await open_stream(c.store, c.push, payment_id, None)
    assert stream is not None
    ids = []
    async for frame in stream.frames(heartbeat_s=1.0):
        assert frame is not None, f"stream stalled after {ids}"
        ids.append(frame.id)
    return ids


async def _pay(c: Container, payment_id: int, rng: random.Random) -> None:
    await _yield(rng)
    await _move(c, payment_id, PaymentStatus.PROCESSING)
    await _yield(rng)
    await _move(c, payment_id, PaymentStatus.CONFIRMED)


async def test_many_concurrent_subscribers_race_one_writer(container: Container, latency: None) -> None:
    """Twenty streams opening at staggered moments while the payment moves: each sees a gapless tail."""
    rng = random.Random(42)
    for n in range(10 if container.store.dialect == "postgres" else 25):
        payment_id, _ = await fresh_payment(container, 950_000 + n)
        tails = [_tail(container, payment_id, rng) for _ in range(20)]
        _, *results = await asyncio.wait_for(asyncio.gather(_pay(container, payment_id, rng), *tails), ROUND_TIMEOUT_S)
        stored = [e.id for e in await container.store.events_after(payment_id, 0)]
        for ids in results:
            assert ids == [i for i in stored if i >= ids[0]], (ids, stored)
    assert container.push.subscriber_count == 0


async def test_race_with_a_paged_replay(container: Container, latency: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same race when the log is read one event per page: paging must not open a gap either."""
    monkeypatch.setattr(stream_module, "PAGE", 1)
    rng = random.Random(5)
    for n in range(40 if container.store.dialect == "postgres" else 100):
        await _round(container, 10_000 + n, rng)
    assert container.push.subscriber_count == 0


async def test_a_long_backlog_is_replayed_in_pages_then_live(container: Container) -> None:
    payment_id, _ = await fresh_payment(container, 990_001)
    now = datetime.now(UTC)
    async with container.store.transaction() as tx:
        for i in range(2 * stream_module.PAGE + 7):
            data = {"paymentId": payment_id, "status": "PROCESSING", "occurredAt": now.isoformat(), "n": i}
            await tx.append_event(payment_id, PaymentEvent.STATUS, PaymentStatus.PROCESSING, data, now)
    stored = [e.id for e in await container.store.events_after(payment_id, 0, limit=10_000)]
    assert len(stored) == 2 * stream_module.PAGE + 8
    stream = await open_stream(container.store, container.push, payment_id, 0)
    assert stream is not None
    received = []
    async for frame in stream.frames(heartbeat_s=1.0):
        assert frame is not None
        received.append(frame.id)
        if len(received) == len(stored):
            await _move(container, payment_id, PaymentStatus.CONFIRMED)
    assert received[: len(stored)] == stored
    assert len(received) == len(stored) + 1 and received[-1] > stored[-1]


async def test_race_over_the_redis_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fan-out through Redis pub/sub (a private server): the boundary holds across processes' bus too."""
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    try:
        settings = make_settings(f"sqlite:///{tmp_path}/redis-race.db", redis_url=redis_server.url)
        async with process(settings) as c:
            await c.start(background=False)
            await asyncio.wait_for(c.bus.subscribed.wait(), 5)  # type: ignore[attr-defined]
            add_latency(c.store, monkeypatch, random.Random(3))
            rng = random.Random(99)
            for n in range(100):
                await _round(c, n, rng)
            assert c.push.subscriber_count == 0
    finally:
        redis_server.stop()
