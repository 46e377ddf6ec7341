"""The outbox relay: payment_events rows → Kafka topics, at least once, marked only after the acks.

PostgreSQL (fresh schema per test) and the tansu broker (fresh per test); one SQLite + in-process
stream test for the embedded path. Topics are read back with a plain aiokafka consumer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import simplejson as json

from hub.adapters.store.sql import SqlStore
from hub.adapters.stream import Header, Producer, Record, StreamUnavailable
from hub.adapters.stream.kafka import KafkaProducer, ensure_topics
from hub.adapters.stream.memory import MemoryStream
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.relay import OutboxRelay
from hub.topics import KHQR_GENERATED, PAYMENT_CONFIRMED, PAYMENT_SUCCESS, PAYMENT_VERIFIED, Topics
from payhub.bootstrap import open_store
from tests.kafka_broker import REQUEST_TIMEOUT_MS, Broker, read_topic, start_broker

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
S = PaymentStatus
TOPICS = Topics()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def kafka_broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with start_broker(tmp_path) as broker:
        yield broker


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[SqlStore]:
    async with open_store(pg_url, pool_min=1, pool_max=10) as store:
        yield store


def kafka_producer(broker: Broker) -> KafkaProducer:
    return KafkaProducer(broker.bootstrap, idempotence=False, request_timeout_ms=REQUEST_TIMEOUT_MS)


async def new_payments(store: SqlStore, n: int, first_id: int = 900_001) -> list[int]:
    ids: list[int] = []
    async with store.transaction() as tx:
        for i in range(n):
            premium = Premium(
                first_id + i, f"P{first_id + i:09d}", "Tester", Decimal("10.00"), Currency.USD, date(2027, 1, 1)
            )
            await tx.upsert_premium(premium, NOW)
            payment = await tx.insert_open_payment(premium, PaymentMethod.BILL, NOW)
            assert payment is not None
            ids.append(payment.id)
    return ids


async def append(
    store: SqlStore, items: Sequence[tuple[int, str, PaymentStatus]], *, notify: bool = False
) -> list[PaymentEvent]:
    async with store.transaction() as tx:
        events = [
            await tx.append_event(pid, type_, status, {"paymentId": pid, "amount": Decimal("10.00")}, NOW)
            for pid, type_, status in items
        ]
        if notify:
            await tx._c.execute("SELECT pg_notify('payhub_outbox', '')")
    return events


async def unpublished(store: SqlStore) -> int:
    async with store.transaction() as tx:
        return await tx.outbox.unpublished_count()


async def drain(relay: OutboxRelay, store: SqlStore, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while await unpublished(store):
        assert time.monotonic() < deadline, "relay did not drain the outbox"
        if not await relay.run_once():
            await asyncio.sleep(0.01)


def ids_of(records: list[Any]) -> list[int]:
    return [json.loads(r.value)["id"] for r in records]


@pytest.mark.postgres
async def test_events_go_to_their_topics_keyed_by_payment_and_are_marked(
    pg_store: SqlStore, kafka_broker: Broker
) -> None:
    a, b, c = await new_payments(pg_store, 3)
    events = await append(
        pg_store,
        [
            (a, PaymentEvent.STATUS, S.PROCESSING),
            (a, PaymentEvent.STATUS, S.CONFIRMED),  # confirmed already went out at PROCESSING
            (b, PaymentEvent.STATUS, S.CONFIRMED),
            (c, "khqr.generated", S.PENDING),
            (c, "payment.ignored", S.PENDING),  # audit only: no topic, still marked
        ],
    )
    await ensure_topics(kafka_broker.bootstrap, TOPICS.all())
    async with kafka_producer(kafka_broker) as producer:
        relay = OutboxRelay(pg_store, producer, TOPICS, batch=50)
        assert await relay.run_once() == 5
        assert await relay.run_once() == 0
    assert await unpublished(pg_store) == 0
    async with pg_store.transaction() as tx:
        assert await tx.count("payment_events", "published_at IS NULL") == 0

    p_a, c_a, b_c, k_c, _ = (e.id for e in events)
    expected = {
        TOPICS.status: {(a, p_a), (a, c_a), (b, b_c)},
        TOPICS.name(PAYMENT_CONFIRMED): {(a, p_a), (b, b_c)},
        TOPICS.name(PAYMENT_VERIFIED): {(a, c_a), (b, b_c)},
        TOPICS.name(PAYMENT_SUCCESS): {(a, c_a), (b, b_c)},
        TOPICS.name(KHQR_GENERATED): {(c, k_c)},
    }
    for topic, want in expected.items():
        records = await read_topic(kafka_broker.bootstrap, topic)
        got = {(int(r.key), json.loads(r.value)["id"]) for r in records}
        assert got == want, topic
        assert len(records) == len(want), topic
    status = await read_topic(kafka_broker.bootstrap, TOPICS.status)
    value = next(json.loads(r.value, use_decimal=True) for r in status if json.loads(r.value)["id"] == c_a)
    assert value == {
        "id": c_a,
        "paymentId": a,
        "type": "payment.status",
        "status": "CONFIRMED",
        "occurredAt": NOW.isoformat(),
        "data": {"paymentId": a, "amount": Decimal("10.00")},
    }


class SlowProducer:
    """Holds each batch open a little, so two relays' transactions overlap."""

    def __init__(self, inner: Producer, delay_s: float) -> None:
        self._inner, self._delay_s = inner, delay_s

    async def send_many(self, records: Sequence[Record], *, headers: Sequence[Header] = ()) -> None:
        await asyncio.sleep(self._delay_s)
        await self._inner.send_many(records, headers=headers)

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        await self._inner.send_raw(topic, key, value, headers)


@pytest.mark.postgres
async def test_two_relays_publish_each_event_once_in_payment_order(pg_store: SqlStore, kafka_broker: Broker) -> None:
    payments = await new_payments(pg_store, 12)
    # Round-robin, so every batch spans many payments and each payment spans many batches.
    events = await append(pg_store, [(p, PaymentEvent.STATUS, S.PENDING) for _ in range(6) for p in payments])
    await ensure_topics(kafka_broker.bootstrap, [TOPICS.status])
    async with kafka_producer(kafka_broker) as producer:
        # Different speeds: the fast relay would overtake the slow one's earlier events of a payment.
        relays = [OutboxRelay(pg_store, SlowProducer(producer, delay), TOPICS, batch=7) for delay in (0.08, 0.0)]
        await asyncio.gather(*(drain(r, pg_store) for r in relays))
    assert all(r.published > 0 for r in relays), [r.published for r in relays]
    assert sum(r.published for r in relays) == len(events)

    records = await read_topic(kafka_broker.bootstrap, TOPICS.status)
    assert sorted(ids_of(records)) == sorted(e.id for e in events)  # each exactly once
    by_payment: dict[int, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_payment.setdefault(int(r.key), []).append(json.loads(r.value)["id"])
    for ids in by_payment.values():
        assert ids == sorted(ids)


@pytest.mark.postgres
async def test_broker_down_marks_nothing_and_everything_arrives_after_it_returns(
    pg_store: SqlStore, kafka_broker: Broker
) -> None:
    payments = await new_payments(pg_store, 3)
    before = await append(pg_store, [(p, PaymentEvent.STATUS, S.PROCESSING) for p in payments])
    async with kafka_producer(kafka_broker) as producer:
        relay = OutboxRelay(pg_store, producer, TOPICS)
        await kafka_broker.stop()
        with pytest.raises(StreamUnavailable):
            await relay.run_once()
        assert await unpublished(pg_store) == 3
        # Payments keep arriving while the broker is away (the database alone takes them).
        during = await append(pg_store, [(p, PaymentEvent.STATUS, S.CONFIRMED) for p in payments])
        with pytest.raises(StreamUnavailable):
            await relay.run_once()
        assert await unpublished(pg_store) == 6

        await kafka_broker.start()  # same port; the in-memory broker starts empty
        await drain(relay, pg_store)
    status = ids_of(await read_topic(kafka_broker.bootstrap, TOPICS.status))
    assert sorted(status) == sorted(e.id for e in before + during)
    success = ids_of(await read_topic(kafka_broker.bootstrap, TOPICS.success))
    assert sorted(success) == sorted(e.id for e in during)


@pytest.mark.postgres
async def test_run_forever_is_woken_by_notify_without_waiting_for_the_poll(
    pg_url: str, pg_store: SqlStore, kafka_broker: Broker
) -> None:
    payments = await new_payments(pg_store, 1)
    async with kafka_producer(kafka_broker) as producer:
        relay = OutboxRelay(pg_store, producer, TOPICS, poll_s=30, listen_url=pg_url)
        task = asyncio.create_task(relay.run_forever())
        try:
            deadline = time.monotonic() + 5
            while not relay.listening:
                assert time.monotonic() < deadline, "relay never started listening"
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # its catch-up batch (empty) is done
            started = time.monotonic()
            await append(pg_store, [(payments[0], PaymentEvent.STATUS, S.PROCESSING)], notify=True)
            while await unpublished(pg_store):
                assert time.monotonic() - started < 5, "relay was not woken by NOTIFY"
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert relay.published == 1


@pytest.mark.postgres
async def test_relay_killed_mid_batch_republishes_with_the_same_ids(
    pg_url: str, pg_store: SqlStore, kafka_broker: Broker, tmp_path: Path
) -> None:
    payments = await new_payments(pg_store, 10)
    events = await append(pg_store, [(p, PaymentEvent.STATUS, S.PENDING) for _ in range(3) for p in payments])
    await ensure_topics(kafka_broker.bootstrap, TOPICS.all())
    marker = tmp_path / "sent"
    args = [pg_url, kafka_broker.bootstrap, "--batch", "10"]

    victim = await _runner(tmp_path, [*args, "--pause-after-send", "60", "--marker", str(marker)])
    try:
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert victim.returncode is None and time.monotonic() < deadline, _log(tmp_path)
            await asyncio.sleep(0.02)
        victim.send_signal(signal.SIGKILL)  # acked by the broker, not yet marked published
    finally:
        if victim.returncode is None:
            victim.kill()
        await victim.wait()
    assert await unpublished(pg_store) == 30
    assert len(await read_topic(kafka_broker.bootstrap, TOPICS.status)) == 10

    survivor = await _runner(tmp_path, args)
    try:
        deadline = time.monotonic() + 30
        while await unpublished(pg_store):
            assert survivor.returncode is None and time.monotonic() < deadline, _log(tmp_path)
            await asyncio.sleep(0.05)
    finally:
        survivor.send_signal(signal.SIGTERM)
        await survivor.wait()

    records = await read_topic(kafka_broker.bootstrap, TOPICS.status)
    counts = Counter(ids_of(records))
    assert set(counts) == {e.id for e in events}  # none lost
    assert sorted(counts.values()) == [1] * 20 + [2] * 10  # the killed batch, once more
    by_id: dict[int, set[bytes]] = {}
    for r in records:
        by_id.setdefault(json.loads(r.value)["id"], set()).add(r.value)
    assert all(len(values) == 1 for values in by_id.values())  # a duplicate is the same event


async def _runner(tmp_path: Path, args: list[str]) -> asyncio.subprocess.Process:
    log = (tmp_path / "relay.log").open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.relay_runner",
            *args,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


def _log(tmp_path: Path) -> str:
    path = tmp_path / "relay.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no relay log)"


async def test_embedded_path_sqlite_and_in_process_stream(tmp_path: Path) -> None:
    stream = MemoryStream()
    async with open_store(f"sqlite:///{tmp_path}/payhub.db") as store:
        (pid,) = await new_payments(store, 1)
        events = await append(
            store, [(pid, PaymentEvent.STATUS, S.PROCESSING), (pid, PaymentEvent.STATUS, S.CONFIRMED)]
        )
        async with stream.producer() as producer:
            relay = OutboxRelay(store, producer, TOPICS, batch=1)
            stream.available = False
            with pytest.raises(StreamUnavailable):
                await relay.run_once()
            assert await unpublished(store) == 2
            stream.available = True
            assert [await relay.run_once() for _ in range(3)] == [1, 1, 0]
    assert [json.loads(m.value or b"")["id"] for m in stream.messages(TOPICS.status)] == [e.id for e in events]
    assert [m.key for m in stream.messages(TOPICS.success)] == [str(pid).encode()]
    assert len(stream.messages(TOPICS.name(PAYMENT_CONFIRMED))) == 1
