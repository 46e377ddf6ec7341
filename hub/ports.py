"""The I/O ports several services share, so each is declared once.

Implementations: ``Publisher``/``Bus`` — ``adapters/bus/memory.py`` (embedded), ``adapters/bus/redis.py``,
and the wiring's ``NullPublisher`` (Kafka: the outbox relay publishes); ``Cache`` —
``adapters/cache/memory.py``, ``adapters/cache/redis.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

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


class Cache(Protocol):
    """Bytes by key with a TTL. A cache may forget anything at any time; callers must cope."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def aclose(self) -> None: ...
