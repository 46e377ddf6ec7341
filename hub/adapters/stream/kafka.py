"""Kafka backend of the stream port: thin aiokafka wrappers.

aiokafka is imported only here. Its errors are turned into ``StreamUnavailable`` (retriable) where
they cross in. Neither wrapper fails to *enter* because the broker is down: the client connects on
first use and reconnects on the next call after a failure, so a process started before its broker
waits for it instead of exiting.

Producer: ``acks="all"``; the idempotent producer is a setting (Apache Kafka: on; the test broker
lacks InitProducerId: off). aiokafka keeps one request in flight per partition, so one key's
records stay in send order even when a send is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from hub.adapters.stream import BatchIteration, Header, Message, Record, StreamUnavailable, encode_value

log = logging.getLogger("payhub.stream")

_FAILURES = (KafkaError, OSError, TimeoutError)
_TOPIC_EXISTS = 36


def _unavailable(what: str, exc: BaseException) -> StreamUnavailable:
    return StreamUnavailable(f"Kafka {what} failed", details=f"{type(exc).__name__}: {exc}")


def _retrieve(fut: asyncio.Future[Any]) -> None:
    # A delivery we stopped waiting for still completes; fetch its outcome so asyncio does not log it.
    if not fut.cancelled():
        fut.exception()


async def _ping(start: Callable[[], Awaitable[Any]], client_of: Callable[[Any], Any]) -> None:
    """Start the client if needed, then fetch the cluster's metadata from any broker (readiness).

    The start is shielded: a readiness probe that gives up (its timeout) must not cancel a client
    start half-way; the start goes on and its outcome is kept for the next call.
    """
    task = asyncio.ensure_future(start())
    task.add_done_callback(_retrieve)
    started = await asyncio.shield(task)
    try:
        await client_of(started).fetch_all_metadata()
    except _FAILURES as exc:
        raise _unavailable("metadata", exc) from exc


class KafkaProducer:
    """``async with KafkaProducer(...) as p: await p.send_many(records)``."""

    def __init__(
        self,
        bootstrap: str,
        *,
        idempotence: bool,
        client_id: str = "payhub",
        request_timeout_ms: int = 30_000,
        linger_ms: int = 2,
    ) -> None:
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": idempotence,
            "request_timeout_ms": request_timeout_ms,
            "linger_ms": linger_ms,
            "retry_backoff_ms": 100,
        }
        self._timeout_s = request_timeout_ms / 1000
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> KafkaProducer:
        try:
            await self._started()
        except StreamUnavailable as exc:
            log.warning("Kafka producer not connected yet: %s", exc.details)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def ping(self) -> None:
        """Return once a broker answers; raise ``StreamUnavailable`` otherwise (readiness)."""
        await _ping(self._started, lambda producer: producer.client)

    async def send_many(self, records: Sequence[Record], *, headers: Sequence[Header] = ()) -> None:
        """Send JSON records, each with ``headers`` (e.g. ``traceparent``), and wait for every ack."""
        await self._send([(t, k.encode(), encode_value(v), tuple(headers)) for t, k, v in records])

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        await self._send([(topic, key, value, tuple(headers))])

    async def _send(self, records: Iterable[tuple[str, bytes | None, bytes | None, tuple[Header, ...]]]) -> None:
        producer = await self._started()
        futures: list[asyncio.Future[Any]] = []
        try:
            for topic, key, value, headers in records:
                futures.append(await producer.send(topic, value=value, key=key, headers=list(headers) or None))
            if futures:
                # Backstop only: aiokafka fails each delivery itself after request_timeout_ms.
                _, pending = await asyncio.wait(futures, timeout=self._timeout_s * 2)
                if pending:
                    raise TimeoutError(f"{len(pending)} record(s) not acknowledged")
                for fut in futures:
                    fut.result()
        except _FAILURES as exc:
            for fut in futures:
                fut.add_done_callback(_retrieve)
            raise _unavailable("produce", exc) from exc

    async def _started(self) -> Any:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**self._options)
                try:
                    await producer.start()
                except _FAILURES as exc:
                    await producer.stop()
                    raise _unavailable("connect", exc) from exc
                self._producer = producer
            return self._producer


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._owner._forget(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class KafkaConsumer(BatchIteration):
    """A member of consumer group ``group_id`` on ``topics``; offsets are committed only by ``commit()``.

    A group without committed offsets starts at the earliest message. Defaults suit Apache Kafka
    (its brokers refuse session timeouts under 6 s); tests against the local broker pass shorter
    ``session_timeout_ms`` / ``heartbeat_interval_ms`` so group joins take about a second.
    """

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        *,
        client_id: str = "payhub",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        request_timeout_ms: int = 30_000,
        max_poll_records: int = 500,
    ) -> None:
        self._topics = list(topics)
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "group_id": group_id,
            "client_id": client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "request_timeout_ms": request_timeout_ms,
            "max_poll_records": max_poll_records,
        }
        self._timeout_s = request_timeout_ms / 1000
        self.group_id = group_id
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self._first_uncommitted: dict[Any, int] = {}
        self._next: dict[Any, int] = {}

    async def __aenter__(self) -> KafkaConsumer:
        try:
            await self._started()
        except StreamUnavailable as exc:
            log.warning("Kafka consumer not connected yet: %s", exc.details)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def ping(self) -> None:
        """Return once a broker answers; raise ``StreamUnavailable`` otherwise (readiness)."""
        await _ping(self._started, lambda consumer: consumer._client)

    async def lag(self, position_timeout_s: float = 0.5) -> dict[tuple[str, int], int]:
        """Messages behind the end of each partition assigned to this member: the partition's high
        watermark (from the latest fetch) minus the position this member will fetch next, as
        Kafka's own ``records-lag`` reads it. Partitions not fetched yet are left out."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), position_timeout_s)
            except (TimeoutError, *_FAILURES):
                continue
            out[(tp.topic, tp.partition)] = max(0, highwater - position)
        return out

    async def getmany(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        consumer = await self._started()
        try:
            batches = await consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except _FAILURES as exc:
            raise _unavailable("fetch", exc) from exc
        out: list[Message] = []
        for tp, records in batches.items():
            if not records:
                continue
            self._first_uncommitted.setdefault(tp, records[0].offset)
            self._next[tp] = records[-1].offset + 1
            out += [
                Message(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp)
                for r in records
            ]
        return out

    async def commit(self) -> None:
        if not self._next or self._consumer is None:
            return
        assigned = self._consumer.assignment()
        offsets = {tp: off for tp, off in self._next.items() if tp in assigned}
        self._first_uncommitted.clear()
        self._next.clear()
        if not offsets:
            return
        try:
            # aiokafka retries a retriable commit error forever; bound it so the caller can back off.
            await asyncio.wait_for(self._consumer.commit(offsets), self._timeout_s)
        except _FAILURES as exc:
            raise _unavailable("commit", exc) from exc

    async def rewind(self) -> None:
        if self._consumer is not None:
            assigned = self._consumer.assignment()
            for tp, offset in self._first_uncommitted.items():
                if tp in assigned:
                    self._consumer.seek(tp, offset)
        self._first_uncommitted.clear()
        self._next.clear()

    def _forget(self, partitions: Iterable[Any]) -> None:
        # Revoked partitions go to another member, which starts from the committed offset.
        for tp in partitions:
            self._first_uncommitted.pop(tp, None)
            self._next.pop(tp, None)

    async def _started(self) -> Any:
        # One member per wrapper: the fetch loop and a readiness probe may both come here first.
        async with self._lock:
            if self._consumer is None:
                consumer = AIOKafkaConsumer(**self._options)
                try:
                    await consumer.start()
                except _FAILURES as exc:
                    await consumer.stop()
                    raise _unavailable("connect", exc) from exc
                consumer.subscribe(self._topics, listener=_Revocations(self))
                self._consumer = consumer
            return self._consumer


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int = 6,
    replication_factor: int = 1,
    client_id: str = "payhub-admin",
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    try:
        await admin.start()
        wanted = [NewTopic(t, partitions, replication_factor) for t in dict.fromkeys(topics)]
        try:
            response = await admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            return []
        created: list[str] = []
        for name, code, *rest in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != _TOPIC_EXISTS:
                raise StreamUnavailable(f"Kafka refused to create topic {name}", details=f"error {code}: {rest}")
        return created
    except _FAILURES as exc:
        raise _unavailable("create topics", exc) from exc
    finally:
        await admin.close()


__all__ = ["KafkaConsumer", "KafkaProducer", "ensure_topics"]
