"""Stream consumers: the push feeder (status topic → bus) and the integration's premium settlement.

Each scenario runs on the in-process stream and on Kafka (tansu). Offsets are committed only after
events were handed on; a failed hand-on is retried, never skipped; poison goes to ``<topic>.dlq``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from hub.adapters.bus.memory import MemoryBus
from hub.adapters.stream import Producer
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.errors import ServiceUnavailable
from hub.event_codec import event_json
from hub.event_consumer import EventConsumer
from hub.topics import Topics
from integration.consumer import PremiumSettlementConsumer
from integration.premiums import PremiumService
from payhub.bootstrap import open_store
from push.feeder import GROUP_ID, StatusFeeder
from tests.kafka_broker import KafkaBackend, MemoryBackend, open_backend

Backend = MemoryBackend | KafkaBackend
TOPICS = Topics()
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "kafka"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request.param, tmp_path) as backend:
        yield backend


def event(event_id: int, payment_id: int, status: PaymentStatus = PaymentStatus.PROCESSING) -> PaymentEvent:
    data = {"paymentId": payment_id, "status": status.value, "amount": Decimal("150.00")}
    return PaymentEvent(event_id, payment_id, PaymentEvent.STATUS, status, data, NOW)


async def send(producer: Producer, events: Sequence[PaymentEvent], topic: str = TOPICS.status) -> None:
    await producer.send_many([(topic, str(e.payment_id), event_json(e)) for e in events])


async def pump(consumer: EventConsumer, messages: int, timeout_s: float = 15.0) -> None:
    """Run batches until ``messages`` messages were handed on or dead-lettered."""
    deadline = time.monotonic() + timeout_s
    while consumer.handled + consumer.dead_lettered < messages:
        assert time.monotonic() < deadline, f"{consumer.handled} handled, {consumer.dead_lettered} dead-lettered"
        await consumer.run_once(timeout_s=0.5)


class Recorder:
    def __init__(self, bus: MemoryBus) -> None:
        self.events: list[PaymentEvent] = []
        bus.subscribe(self.on_event)

    async def on_event(self, e: PaymentEvent) -> None:
        self.events.append(e)

    def ids_by_payment(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for e in self.events:
            out.setdefault(e.payment_id, []).append(e.id)
        return out


async def only_the_marker_is_left(backend: Backend, producer: Producer, topic: str, group: str) -> None:
    """A new member of ``group`` starts after the committed offsets: it sees nothing but a fresh marker."""
    marker = event(999_999, 77)
    await send(producer, [marker], topic)
    bus = MemoryBus()
    seen = Recorder(bus)
    await bus.start()
    try:
        async with backend.consumer(group, [topic]) as consumer:
            await pump(StatusFeeder(consumer, bus, producer, TOPICS), 1)
        await bus.drain()
    finally:
        await bus.aclose()
    assert [e.id for e in seen.events] == [marker.id]


async def test_status_events_reach_the_bus_in_order_then_offsets_are_committed(backend: Backend) -> None:
    events = [
        event(i, 100 + i % 3, PaymentStatus.PROCESSING if i < 7 else PaymentStatus.CONFIRMED) for i in range(1, 10)
    ]
    bus = MemoryBus()
    seen = Recorder(bus)
    await bus.start()
    try:
        async with backend.producer() as producer:
            await send(producer, events)
            await send(producer, [events[4]])  # the relay's at-least-once: a repeat with the same id
            async with backend.consumer(GROUP_ID, [TOPICS.status]) as consumer:
                feeder = StatusFeeder(consumer, bus, producer, TOPICS)
                await pump(feeder, 10)
            await bus.drain()
            assert feeder.repeats == 1
            assert seen.ids_by_payment() == {100: [3, 6, 9], 101: [1, 4, 7], 102: [2, 5, 8]}
            assert {e.id: e for e in seen.events} == {e.id: e for e in events}  # decoded intact, decimals too
            await only_the_marker_is_left(backend, producer, TOPICS.status, GROUP_ID)
    finally:
        await bus.aclose()


class FlakyBus:
    """Fails the first ``failures`` hand-ons (a Redis outage), then forwards."""

    def __init__(self, inner: MemoryBus, failures: int) -> None:
        self._inner, self.failures = inner, failures

    async def publish(self, events: Sequence[PaymentEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailable("bus down")
        await self._inner.publish(events)


async def test_a_failed_hand_on_is_retried_and_nothing_is_skipped(backend: Backend) -> None:
    events = [event(i, 200 + i % 2) for i in range(1, 7)]
    bus = MemoryBus()
    seen = Recorder(bus)
    await bus.start()
    try:
        async with backend.producer() as producer:
            await send(producer, events)
            async with backend.consumer(GROUP_ID, [TOPICS.status]) as consumer:
                feeder = StatusFeeder(consumer, FlakyBus(bus, failures=2), producer, TOPICS)
                failed = 0
                deadline = time.monotonic() + 15
                while len({e.id for e in seen.events}) < len(events) or failed < 2:
                    assert time.monotonic() < deadline
                    try:
                        await feeder.run_once(timeout_s=0.5)
                    except ServiceUnavailable:
                        failed += 1
                    await bus.drain()
            assert sorted({e.id for e in seen.events}) == [1, 2, 3, 4, 5, 6]
            for ids in seen.ids_by_payment().values():
                assert ids == sorted(ids)
            await only_the_marker_is_left(backend, producer, TOPICS.status, GROUP_ID)
    finally:
        await bus.aclose()


async def test_poison_goes_to_the_dead_letter_topic_with_its_reason(backend: Backend) -> None:
    good = event(5, 300)
    bus = MemoryBus()
    seen = Recorder(bus)
    await bus.start()
    try:
        async with backend.producer() as producer:
            await producer.send_raw(TOPICS.status, b"300", b"not json", [("trace", b"t-1")])
            await producer.send_raw(TOPICS.status, b"300", b'{"id": 4, "paymentId": 300}')
            await send(producer, [good])
            async with backend.consumer(GROUP_ID, [TOPICS.status]) as consumer:
                feeder = StatusFeeder(consumer, bus, producer, TOPICS)
                await pump(feeder, 3)
            await bus.drain()
            assert [e.id for e in seen.events] == [5]
            assert feeder.dead_lettered == 2

            dead = sorted(await backend.read(TOPICS.dead_letter(TOPICS.status)), key=lambda m: m.value or b"")
            assert [(m.key, m.value) for m in dead] == [
                (b"300", b"not json"),
                (b"300", b'{"id": 4, "paymentId": 300}'),
            ]
            not_json, missing = dead
            assert "missing field 'type'" in (missing.header("reason") or "")
            assert "JSONDecodeError" in (not_json.header("reason") or "")
            assert not_json.header("trace") == "t-1"  # the original headers travel along
            assert not_json.header("original-topic") == TOPICS.status
            await only_the_marker_is_left(backend, producer, TOPICS.status, GROUP_ID)
    finally:
        await bus.aclose()


async def test_success_events_mark_premiums_paid_once(backend: Backend, tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/payhub.db") as store:
        premium = Premium(150_001, "P123456789", "John Doe", Decimal("150.00"), Currency.USD, date(2026, 12, 15))
        async with store.transaction() as tx:
            await tx.upsert_premium(premium, NOW)
            payment = await tx.insert_open_payment(premium, PaymentMethod.BILL, NOW)
        assert payment is not None
        confirmed = event(10, payment.id, PaymentStatus.CONFIRMED)
        premiums = PremiumService(store, clock=lambda: NOW)
        async with backend.producer() as producer:
            await send(producer, [confirmed, confirmed], TOPICS.success)  # a duplicate changes nothing
            await producer.send_raw(TOPICS.success, None, b"{}")
            async with backend.consumer("payhub.integration", [TOPICS.success]) as consumer:
                settlement = PremiumSettlementConsumer(consumer, premiums, producer)
                await pump(settlement, 3)
            dead = await backend.read(TOPICS.dead_letter(TOPICS.success))
        paid = await premiums.get(premium.id)
        assert paid is not None and paid.paid and paid.paid_payment_id == payment.id
        assert settlement.handled == 2 and [m.value for m in dead] == [b"{}"]
