"""Dead letters: stream messages no consumer can read, set aside so the others keep flowing.

A message that is not a payment event (not JSON, missing fields) is *poison*: retrying cannot fix
it. ``EventConsumer`` (the loop the push feeder and the integration consumer share) copies it byte
for byte to ``<topic>.dlq`` with a ``reason`` header and commits past it. A handler that *fails*
is different: nothing is committed, the batch is delivered again after a backoff, and the
partition waits (an outage or a bug must not turn into lost events).

Operators act with ``list_dead_letters`` and ``replay`` (``payhub dlq list|replay``, Kafka only).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

from hub.adapters.stream import Consumer, Message, Producer, StreamUnavailable, decode_value
from hub.domain.records import PaymentEvent
from hub.event_codec import event_from_json
from hub.logs import correlation_id
from hub.resilience.retry import retry_logged, wait_backoff
from hub.topics import DEAD_LETTER_SUFFIX
from hub.tracing import Tracer, from_record_headers

log = logging.getLogger("payhub.dlq")

REASON = "reason"
ORIGINAL_TOPIC = "original-topic"
ORIGINAL_PARTITION = "original-partition"
ORIGINAL_OFFSET = "original-offset"
REPLAYED_FROM = "replayed-from"


async def dead_letter(producer: Producer, topic: str, msg: Message, reason: str) -> None:
    """Copy ``msg`` (same key, value and headers) to dead-letter topic ``topic``, adding why and whence."""
    ours = {REASON, ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET}
    headers = [(k, v) for k, v in msg.headers if k not in ours]
    headers += [
        (REASON, reason.encode()),
        (ORIGINAL_TOPIC, msg.topic.encode()),
        (ORIGINAL_PARTITION, str(msg.partition).encode()),
        (ORIGINAL_OFFSET, str(msg.offset).encode()),
    ]
    await producer.send_raw(topic, msg.key, msg.value, headers)


def decode_event(msg: Message) -> PaymentEvent:
    """The payment event a message carries; ValueError (with the reason) for poison."""
    try:
        return event_from_json(decode_value(msg.value))
    except KeyError as exc:
        raise ValueError(f"missing field {exc}") from exc
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


class EventConsumer:
    """Consume payment events from a group: decode, hand on one by one, commit after the batch.

    Guarantees: messages of one partition are handed on in order; offsets are committed only after
    every message before them was handed on (or dead-lettered); a retriable failure rewinds to the
    last commit, so the batch is handed on again (handlers must tolerate duplicates: same event id).
    """

    name = "consumer"

    def __init__(
        self,
        consumer: Consumer,
        handle: Callable[[PaymentEvent], Coroutine[Any, Any, None]],
        dead_letters: Producer,
        *,
        batch: int = 200,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        tracer: Tracer | None = None,
    ) -> None:
        self._consumer = consumer
        self._handle = handle
        self._tracer = tracer if tracer is not None else Tracer()
        self._dead_letters = dead_letters
        self._batch = batch
        self._backoff = wait_backoff(backoff_initial_s, backoff_max_s, 0.2)  # jitter ±20 %
        self.handled = 0
        self.dead_lettered = 0

    async def run_once(self, timeout_s: float = 1.0) -> int:
        """Handle one batch (waiting up to ``timeout_s`` for it); returns how many messages it had.

        On failure nothing of this batch is committed and the consumer is rewound, then the error is raised.
        """
        messages = await self._consumer.getmany(timeout_s=timeout_s, max_records=self._batch)
        try:
            for msg in messages:
                try:
                    event = decode_event(msg)
                except ValueError as exc:
                    where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
                    log.warning("%s: poison message %s: %s", self.name, where, exc)
                    await dead_letter(self._dead_letters, msg.topic + DEAD_LETTER_SUFFIX, msg, str(exc))
                    self.dead_lettered += 1
                    continue
                await self._handle_traced(msg, event)
                self.handled += 1
            if messages:
                await self._consumer.commit()
        except BaseException:
            await self._consumer.rewind()
            raise
        return len(messages)

    async def _handle_traced(self, msg: Message, event: PaymentEvent) -> None:
        """Hand ``event`` on as a consumer span, continuing the trace and correlation id of the record's
        headers (the relay's ``traceparent`` and ``x-correlation-id``; a new trace when absent or invalid)."""
        parent, cid = from_record_headers(msg.headers)
        attributes = {"messaging.system": "kafka", "messaging.destination.name": msg.topic, "payhub.event_id": event.id}
        with self._tracer.span(f"{self.name} handle", kind="consumer", parent=parent, attributes=attributes):
            token = correlation_id.set(cid or f"event-{event.id}")
            try:
                await self._handle(event)
            finally:
                correlation_id.reset(token)

    async def run_forever(self) -> None:
        """Consume until cancelled; failures are retried with backoff, never skipped."""
        while True:
            await retry_logged(self.run_once, wait=self._backoff, log=log, what=f"{self.name}: batch")


# --- operator tools (Kafka) ---


@contextlib.contextmanager
def _kafka_errors(what: str) -> Iterator[None]:
    from aiokafka.errors import KafkaError

    try:
        yield
    except (KafkaError, OSError, TimeoutError) as exc:
        raise StreamUnavailable(f"Kafka {what} failed", details=f"{type(exc).__name__}: {exc}") from exc


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


async def _open_reader(bootstrap: str, topic: str, group_id: str | None) -> tuple[Any, list[Any], dict[Any, int]]:
    """A consumer assigned every partition of ``topic`` (no group membership), and the end offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="payhub-dlq",
    )
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer.topics()  # refreshes the cluster metadata
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends: dict[Any, int] = {}
        if tps:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
        return consumer, tps, ends
    except BaseException:
        await consumer.stop()
        raise


async def _read_to_end(consumer: Any, tps: list[Any], ends: dict[Any, int], limit: int) -> list[Any]:
    out: list[Any] = []
    remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
    while remaining and len(out) < limit:
        batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=limit - len(out))
        for tp, records in batch.items():
            out += [r for r in records if r.offset < ends[tp]]
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    return out[:limit]


def _replay_group(dlq_topic: str) -> str:
    return f"payhub.dlq-replay.{dlq_topic}"


async def list_dead_letters(bootstrap: str, topic: str, limit: int = 100) -> list[dict[str, Any]]:
    """The first ``limit`` messages of dead-letter topic ``topic``, oldest first per partition.

    ``replayed`` tells whether ``replay`` already sent a message back.
    """
    with _kafka_errors("dead-letter listing"):
        consumer, tps, ends = await _open_reader(bootstrap, topic, None)
        try:
            committed = await _committed(bootstrap, _replay_group(topic), tps)
            for tp in tps:
                await consumer.seek_to_beginning(tp)
            records = await _read_to_end(consumer, tps, ends, limit)
        finally:
            await consumer.stop()
    out: list[dict[str, Any]] = []
    for r in records:
        headers = {k: _text(v) for k, v in (r.headers or ())}
        out.append(
            {
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": datetime.fromtimestamp(r.timestamp / 1000, UTC).isoformat(),
                "key": _text(r.key),
                "value": _text(r.value),
                "reason": headers.get(REASON),
                "originalTopic": headers.get(ORIGINAL_TOPIC),
                "originalOffset": headers.get(ORIGINAL_OFFSET),
                "replayed": r.offset < committed.get(r.partition, 0),
            }
        )
    return out


async def _committed(bootstrap: str, group_id: str, tps: list[Any]) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        await consumer.start()
        out: dict[int, int] = {}
        for tp in tps:
            offset = await consumer.committed(tp)
            if offset is not None:
                out[tp.partition] = offset
        return out
    finally:
        await consumer.stop()


async def replay(bootstrap: str, dlq_topic: str, target_topic: str | None = None, *, idempotence: bool = False) -> int:
    """Send dead letters not replayed before back to ``target_topic`` (default: where each came from).

    Key, value and original headers are kept (``reason`` and the origin headers are dropped, a
    ``replayed-from`` header is added). Progress is committed per partition after the broker's acks
    under group ``payhub.dlq-replay.<dlq_topic>``, so running it twice sends nothing twice.
    Returns how many messages were sent.
    """
    from aiokafka import AIOKafkaProducer

    default_target = dlq_topic.removesuffix(DEAD_LETTER_SUFFIX)
    with _kafka_errors("dead-letter replay"):
        consumer, tps, ends = await _open_reader(bootstrap, dlq_topic, _replay_group(dlq_topic))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotence)
        try:
            return await _replay(consumer, producer, tps, ends, target_topic, default_target)
        finally:
            await producer.stop()
            await consumer.stop()


async def _replay(
    consumer: Any, producer: Any, tps: list[Any], ends: dict[Any, int], target_topic: str | None, default_target: str
) -> int:
    ours = {REASON, ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET, REPLAYED_FROM}
    await producer.start()
    records = await _read_to_end(consumer, tps, ends, limit=10**9)
    futures = []
    for r in records:
        target = target_topic or _text(dict(r.headers or ()).get(ORIGINAL_TOPIC)) or default_target
        kept = [(k, v) for k, v in (r.headers or ()) if k not in ours]
        kept.append((REPLAYED_FROM, f"{r.topic}/{r.partition}/{r.offset}".encode()))
        futures.append(await producer.send(target, key=r.key, value=r.value, headers=kept))
    for fut in futures:
        await fut
    by_partition = {tp.partition: tp for tp in tps}
    done = {by_partition[r.partition]: r.offset + 1 for r in records}  # records are in offset order
    if done:
        await consumer.commit(done)
    return len(records)
