"""Dead letters on Kafka: what ``payhub dlq list|replay`` does for an operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import simplejson as json

from hub.adapters.stream import Message, StreamUnavailable
from hub.adapters.stream.kafka import KafkaProducer
from hub.adapters.stream.memory import MemoryStream
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.event_codec import event_json
from hub.event_consumer import dead_letter, decode_event, list_dead_letters, replay
from hub.topics import Topics
from tests.kafka_broker import REQUEST_TIMEOUT_MS, Broker, read_topic, start_broker

TOPICS = Topics()
DLQ = TOPICS.dead_letter(TOPICS.status)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
async def kafka_broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with start_broker(tmp_path) as broker:
        yield broker


def consumed(offset: int, value: bytes, key: bytes | None = b"42") -> Message:
    return Message(TOPICS.status, 1, offset, key, value, (("trace", b"t-9"),))


async def test_list_then_replay_then_nothing_twice(kafka_broker: Broker) -> None:
    bootstrap = kafka_broker.bootstrap
    async with KafkaProducer(bootstrap, idempotence=False, request_timeout_ms=REQUEST_TIMEOUT_MS) as producer:
        await dead_letter(producer, DLQ, consumed(7, b"not json"), "JSONDecodeError: Expecting value")
        await dead_letter(producer, DLQ, consumed(8, b'{"id": 1}'), "missing field 'type'")

        listed = await list_dead_letters(bootstrap, DLQ)
        assert [(d["key"], d["value"], d["reason"], d["replayed"]) for d in listed] == [
            ("42", "not json", "JSONDecodeError: Expecting value", False),
            ("42", '{"id": 1}', "missing field 'type'", False),
        ]
        assert {(d["topic"], d["originalTopic"]) for d in listed} == {(DLQ, TOPICS.status)}
        assert [d["originalOffset"] for d in listed] == ["7", "8"]
        assert [d["value"] for d in await list_dead_letters(bootstrap, DLQ, limit=1)] == ["not json"]

        assert await replay(bootstrap, DLQ, "dev.repaired") == 2
        back = await read_topic(bootstrap, "dev.repaired")
        assert [(r.key, r.value) for r in back] == [(b"42", b"not json"), (b"42", b'{"id": 1}')]
        headers = dict(back[0].headers)
        assert headers["trace"] == b"t-9" and "reason" not in headers
        assert headers["replayed-from"].decode().startswith(f"{DLQ}/")

        assert all(d["replayed"] for d in await list_dead_letters(bootstrap, DLQ))
        assert await replay(bootstrap, DLQ, "dev.repaired") == 0  # progress is committed
        await dead_letter(producer, DLQ, consumed(9, b"[]"), "ValueError: expected a JSON object")
        assert await replay(bootstrap, DLQ, "dev.repaired") == 1
        assert len(await read_topic(bootstrap, "dev.repaired")) == 3


async def test_replay_goes_back_to_the_original_topic_by_default(kafka_broker: Broker) -> None:
    bootstrap = kafka_broker.bootstrap
    event = PaymentEvent(11, 42, PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {"paymentId": 42}, NOW)
    value = json.dumps(event_json(event)).encode()
    async with KafkaProducer(bootstrap, idempotence=False, request_timeout_ms=REQUEST_TIMEOUT_MS) as producer:
        # e.g. set aside by an older consumer that could not read it; the fixed one can
        await dead_letter(producer, DLQ, consumed(3, value), "unknown status")
    assert await replay(bootstrap, DLQ) == 1
    (record,) = await read_topic(bootstrap, TOPICS.status)
    assert decode_event(Message(record.topic, record.partition, record.offset, record.key, record.value)) == event


async def test_an_empty_or_missing_dead_letter_topic_lists_nothing(kafka_broker: Broker) -> None:
    assert await list_dead_letters(kafka_broker.bootstrap, "dev.nothing-here.dlq") == []
    assert await replay(kafka_broker.bootstrap, "dev.nothing-here.dlq") == 0


async def test_broker_down_is_a_retriable_error(kafka_broker: Broker) -> None:
    await kafka_broker.stop()
    with pytest.raises(StreamUnavailable) as info:
        await list_dead_letters(kafka_broker.bootstrap, DLQ)
    assert info.value.retriable
    with pytest.raises(StreamUnavailable):
        await replay(kafka_broker.bootstrap, DLQ)


async def test_dead_lettering_a_dead_letter_replaces_the_reason() -> None:
    stream = MemoryStream()
    async with stream.producer() as producer:
        await dead_letter(producer, DLQ, consumed(1, b"x"), "first")
        (first,) = stream.messages(DLQ)
        await dead_letter(producer, DLQ, first, "second")
    second = stream.messages(DLQ)[1]
    assert [k for k, _ in second.headers].count("reason") == 1
    assert (second.header("reason"), second.header("original-topic"), second.header("trace")) == ("second", DLQ, "t-9")
