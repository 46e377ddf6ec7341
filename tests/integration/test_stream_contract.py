"""The stream port's contract, run against every backend: the in-process stream and Kafka (tansu).

Consumer groups: a consumer commits what it handed out; a later consumer of the same group starts
right after the committed offset, so uncommitted messages come again; other groups are independent.
One key's records keep their order. ``rewind`` redelivers everything since the last commit.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.adapters.stream import Consumer, Message, Producer, StreamUnavailable, decode_value
from hub.adapters.stream.kafka import ensure_topics
from hub.adapters.stream.memory import MemoryStream
from tests.kafka_broker import KafkaBackend, MemoryBackend, open_backend

TOPIC = "contract.events"


Backend = MemoryBackend | KafkaBackend


@pytest.fixture(params=["memory", "kafka"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request.param, tmp_path) as backend:
        if isinstance(backend, KafkaBackend):
            await ensure_topics(backend.bootstrap, [TOPIC, TOPIC + ".other"], partitions=3)
        yield backend


async def collect(consumer: Consumer, n: int, timeout_s: float = 15.0) -> list[Message]:
    """Exactly ``n`` messages (fails on fewer within the timeout)."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        assert time.monotonic() < deadline, f"got {len(out)} of {n} messages"
        out += await consumer.getmany(timeout_s=0.5, max_records=n - len(out))
    return out


async def until_marker(consumer: Consumer, marker: int) -> list[int]:
    """Every ``n`` consumed up to and including the marker value."""
    seen: list[int] = []
    deadline = time.monotonic() + 15
    while marker not in seen:
        assert time.monotonic() < deadline, f"marker {marker} never came; saw {seen}"
        seen += [decode_value(m.value)["n"] for m in await consumer.getmany(timeout_s=0.5)]
    return seen


def numbers(messages: list[Message]) -> list[int]:
    return [decode_value(m.value)["n"] for m in messages]


async def send(producer: Producer, ns: range, keys: int = 3) -> None:
    await producer.send_many([(TOPIC, f"k{n % keys}", {"n": n}) for n in ns])


async def test_group_resumes_after_commit_and_redelivers_the_uncommitted(backend: Backend) -> None:
    async with backend.producer() as producer:
        await send(producer, range(6))
        async with backend.consumer("g1", [TOPIC]) as consumer:
            assert sorted(numbers(await collect(consumer, 6))) == list(range(6))
            await consumer.commit()
            await send(producer, range(6, 10))
            # Handed out but never committed: the group has not consumed these.
            assert sorted(numbers(await collect(consumer, 4))) == [6, 7, 8, 9]

        async with backend.consumer("g1", [TOPIC]) as consumer:
            again = await collect(consumer, 4)
            assert sorted(numbers(again)) == [6, 7, 8, 9]
            await consumer.commit()

        await send(producer, range(100, 101))
        async with backend.consumer("g1", [TOPIC]) as consumer:
            assert await until_marker(consumer, 100) == [100]  # nothing before the marker again
            await consumer.commit()

        # Another group has its own offsets: it starts from the earliest message.
        async with backend.consumer("g2", [TOPIC]) as consumer:
            assert sorted(numbers(await collect(consumer, 11))) == [*range(10), 100]


async def test_one_keys_records_keep_their_order(backend: Backend) -> None:
    async with backend.producer() as producer:
        for chunk in range(5):  # several sends, each a batch across keys
            await send(producer, range(chunk * 20, chunk * 20 + 20), keys=4)
        async with backend.consumer("order", [TOPIC]) as consumer:
            got = await collect(consumer, 100)
    by_key: dict[bytes | None, list[int]] = {}
    for m in got:
        by_key.setdefault(m.key, []).append(decode_value(m.value)["n"])
    assert set(by_key) == {b"k0", b"k1", b"k2", b"k3"}
    for values in by_key.values():
        assert values == sorted(values) and len(values) == 25


async def test_rewind_redelivers_since_last_commit(backend: Backend) -> None:
    async with backend.producer() as producer:
        await send(producer, range(5), keys=1)
        async with backend.consumer("rw", [TOPIC]) as consumer:
            assert numbers(await collect(consumer, 5)) == [0, 1, 2, 3, 4]
            await consumer.commit()
            await send(producer, range(5, 8), keys=1)
            assert numbers(await collect(consumer, 3)) == [5, 6, 7]
            await consumer.rewind()
            assert numbers(await collect(consumer, 3)) == [5, 6, 7]


async def test_raw_records_keep_key_value_and_headers(backend: Backend) -> None:
    other = TOPIC + ".other"
    async with backend.producer() as producer:
        await producer.send_raw(other, b"\x00key", b"not json \xff", [("reason", b"why"), ("n", b"1")])
        await producer.send_raw(other, None, b"no key")
        async with backend.consumer("raw", [other]) as consumer:
            first, second = sorted(await collect(consumer, 2), key=lambda m: m.key or b"")
    assert (second.key, second.value, second.header("reason")) == (b"\x00key", b"not json \xff", "why")
    assert dict(second.headers) == {"reason": b"why", "n": b"1"}
    assert (first.key, first.value, first.headers) == (None, b"no key", ())
    for raw in (second.value, first.value, None, b"[1]"):
        with pytest.raises(ValueError):
            decode_value(raw)


async def test_a_stream_outage_is_retriable() -> None:
    """In-process outage switch; the Kafka side is covered by the relay's broker-stop test."""
    stream = MemoryStream()
    stream.available = False
    async with stream.producer() as producer:
        with pytest.raises(StreamUnavailable) as info:
            await producer.send_many([(TOPIC, "k", {"n": 1})])
    assert info.value.retriable and info.value.status_code == 503
    assert stream.messages(TOPIC) == []
