"""Ports that carry committed events: the in-process/Redis ``Bus`` and the Kafka-like stream.

Stream guarantees every backend gives: a producer's ``send_many`` returns only after the broker
acknowledged every record (at-least-once); records with the same key keep their send order; a
consumer hands out one partition's messages in offset order, ``commit()`` stores the group's
position after everything handed out, ``rewind()`` goes back to the first message since then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.domain.records import PaymentEvent


class Publisher(Protocol):
    """Hands committed events on. Called after the transaction that wrote them has committed."""

    async def publish(self, events: Sequence[PaymentEvent]) -> None: ...


class Bus(Publisher, Protocol):
    """Publisher plus subscribers: every handler gets every event, in publish order."""

    def subscribe(self, handler: Callable[[PaymentEvent], Awaitable[None]]) -> Callable[[], None]: ...
    async def start(self) -> None: ...
    async def drain(self) -> None: ...
    async def aclose(self) -> None: ...


Header = tuple[str, bytes]
Record = tuple[str, str, Mapping[str, Any]]  # (topic, key, JSON value)


@dataclass(frozen=True)
class Message:
    """One consumed record, as stored by the broker (key and value are the raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> str | None:
        for key, raw in self.headers:
            if key == name:
                return raw.decode("utf-8", "replace")
        return None


class Producer(Protocol):
    """Records with the same key keep their send order for consumers; at-least-once."""

    async def send_many(self, records: Sequence[Record], *, headers: Sequence[Header] = ()) -> None:
        """Send JSON records (key = str), each with ``headers``, and wait until every one is acknowledged."""
        ...

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()
    ) -> None:
        """Send one record byte for byte (dead letters, replays) and wait for its ack."""
        ...


class Consumer(Protocol):
    """Messages of one partition in offset order; ``commit`` stores the group's position."""

    async def getmany(self, timeout_s: float = 1.0, max_records: int = 500) -> list[Message]:
        """The next messages (possibly none after ``timeout_s``), in offset order per partition."""
        ...

    def __aiter__(self) -> AsyncIterator[Message]:
        """Every message, one at a time, forever."""
        ...

    async def commit(self) -> None:
        """Store the position after every message handed out so far, for this group."""
        ...

    async def rewind(self) -> None:
        """Go back to the first message handed out since the last commit."""
        ...
