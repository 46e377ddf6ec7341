"""One bus contract, every backend: in-process and Redis pub/sub."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.adapters.bus.memory import MemoryBus
from hub.adapters.bus.redis import RedisBus
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from tests.redis_server import require_shared_redis


def event(event_id: int, payment_id: int = 7, status: PaymentStatus = PaymentStatus.PENDING) -> PaymentEvent:
    return PaymentEvent(
        event_id,
        payment_id,
        PaymentEvent.STATUS,
        status,
        {"paymentId": payment_id, "status": status.value, "amount": "150.00"},
        datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
    )


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        b: Any = MemoryBus()
    else:
        url = await require_shared_redis()
        b = RedisBus(url, channel=f"payhub:test:{uuid.uuid4().hex}")
    await b.start()
    if request.param == "redis":
        await asyncio.wait_for(b.subscribed.wait(), 5)
    yield b
    await b.aclose()


async def collect(bus: Any, n: int) -> tuple[list[PaymentEvent], asyncio.Event]:
    got: list[PaymentEvent] = []
    done = asyncio.Event()

    async def handler(e: PaymentEvent) -> None:
        got.append(e)
        if len(got) >= n:
            done.set()

    bus.subscribe(handler)
    return got, done


async def test_every_handler_gets_every_event_in_publish_order(bus: Any) -> None:
    first, first_done = await collect(bus, 50)
    second, second_done = await collect(bus, 50)
    sent = [event(i, payment_id=i % 3) for i in range(1, 51)]
    await bus.publish(sent[:25])
    await bus.publish(sent[25:])
    await asyncio.wait_for(asyncio.gather(first_done.wait(), second_done.wait()), 5)
    assert [e.id for e in first] == list(range(1, 51))
    assert [e.id for e in second] == list(range(1, 51))
    assert first[3] == sent[3]  # the whole event survives the trip, data and status included


async def test_a_failing_handler_does_not_stop_the_others(bus: Any) -> None:
    async def broken(e: PaymentEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    got, done = await collect(bus, 2)
    await bus.publish([event(1), event(2, status=PaymentStatus.CONFIRMED)])
    await asyncio.wait_for(done.wait(), 5)
    assert [e.status for e in got] == [PaymentStatus.PENDING, PaymentStatus.CONFIRMED]


async def test_unsubscribed_handler_gets_nothing_more(bus: Any) -> None:
    gone: list[int] = []

    async def leaving(e: PaymentEvent) -> None:
        gone.append(e.id)

    unsubscribe = bus.subscribe(leaving)
    stay, stay_done = await collect(bus, 2)
    await bus.publish([event(1)])
    for _ in range(100):
        if gone:
            break
        await asyncio.sleep(0.01)
    unsubscribe()
    await bus.publish([event(2)])
    await asyncio.wait_for(stay_done.wait(), 5)
    assert gone == [1]
    assert [e.id for e in stay] == [1, 2]
