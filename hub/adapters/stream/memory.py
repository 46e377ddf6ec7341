"""In-process stream: the embedded default, and the fake that the contract suite holds to Kafka's rules.

One ``MemoryStream`` is the broker: each topic is a single partition (a list), so every key keeps
its order; a consumer group is the committed offset per topic. A group has one member at a time
(there is one process). ``available = False`` makes producers and consumers raise
``StreamUnavailable``, to rehearse a broker outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType

from hub.adapters.stream import BatchIteration, Header, Message, Record, StreamUnavailable, encode_value


class MemoryStream:
    def __init__(self) -> None:
        self.available = True
        self._topics: dict[str, list[Message]] = {}
        self._committed: dict[tuple[str, str], int] = {}
        self._changed = asyncio.Condition()

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(self, group_id: str, topics: Sequence[str]) -> MemoryConsumer:
        return MemoryConsumer(self, group_id, topics)

    def messages(self, topic: str) -> list[Message]:
        """Everything written to ``topic`` so far (for tests and operators)."""
        return list(self._topics.get(topic, ()))

    def committed(self, group_id: str, topic: str) -> int | None:
        return self._committed.get((group_id, topic))

    def _check(self) -> None:
        if not self.available:
            raise StreamUnavailable("in-process stream is down")

    async def _append(self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header]) -> None:
        self._check()
        log = self._topics.setdefault(topic, [])
        log.append(Message(topic, 0, len(log), key, value, tuple(headers), int(time.time() * 1000)))
        async with self._changed:
            self._changed.notify_all()

    def _read(self, topic: str, offset: int, limit: int) -> list[Message]:
        return self._topics.get(topic, [])[offset : offset + limit]

    def _commit(self, group_id: str, topic: str, offset: int) -> None:
        self._check()
        self._committed[(group_id, topic)] = offset


class MemoryProducer:
    def __init__(self, stream: MemoryStream) -> None:
        self._stream = stream

    async def __aenter__(self) -> MemoryProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send_many(self, records: Sequence[Record], *, headers: Sequence[Header] = ()) -> None:
        for topic, key, value in records:
            await self._stream._append(topic, key.encode(), encode_value(value), tuple(headers))

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        await self._stream._append(topic, key, value, headers)


class MemoryConsumer(BatchIteration):
    def __init__(self, stream: MemoryStream, group_id: str, topics: Sequence[str]) -> None:
        self._stream = stream
        self._group = group_id
        self._topics = list(topics)
        self._position: dict[str, int] = {}
        self._first_uncommitted: dict[str, int] = {}

    async def __aenter__(self) -> MemoryConsumer:
        # Like auto_offset_reset="earliest": a group without a committed offset starts at the beginning.
        self._position = {t: self._stream.committed(self._group, t) or 0 for t in self._topics}
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def getmany(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        self._stream._check()
        out = self._take(max_records)
        if out:
            return out
        try:
            async with asyncio.timeout(timeout_s), self._stream._changed:
                await self._stream._changed.wait_for(lambda: self._pending() > 0)
        except TimeoutError:
            return []
        self._stream._check()
        return self._take(max_records)

    async def commit(self) -> None:
        for topic in list(self._first_uncommitted):
            self._stream._commit(self._group, topic, self._position[topic])
        self._first_uncommitted.clear()

    async def rewind(self) -> None:
        for topic, offset in self._first_uncommitted.items():
            self._position[topic] = offset
        self._first_uncommitted.clear()

    def _pending(self) -> int:
        return sum(len(self._stream._topics.get(t, ())) - p for t, p in self._position.items())

    def _take(self, limit: int) -> list[Message]:
        out: list[Message] = []
        for topic in self._topics:
            batch = self._stream._read(topic, self._position[topic], limit - len(out))
            if batch:
                self._first_uncommitted.setdefault(topic, self._position[topic])
                self._position[topic] += len(batch)
                out += batch
        return out
