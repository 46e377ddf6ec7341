"""One premium-cache contract, every backend: in-process and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.adapters.cache.memory import MemoryCache
from hub.adapters.cache.redis import RedisCache
from tests.redis_server import require_shared_redis


class Clock:
    """Time for the cache under test: a fake clock in process, real time for Redis (its TTLs are Redis's)."""

    def __init__(self, fake: bool) -> None:
        self.fake = fake
        self.now = 1000.0

    async def advance(self, seconds: float) -> None:
        if self.fake:
            self.now += seconds
        else:
            await asyncio.sleep(seconds)


@pytest.fixture(params=["memory", "redis"])
async def cache_and_clock(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Clock]]:
    clock = Clock(fake=request.param == "memory")
    if request.param == "memory":
        c: Any = MemoryCache(clock=lambda: clock.now)
    else:
        c = RedisCache(await require_shared_redis(), prefix=f"payhub:test:{uuid.uuid4().hex}:")
    yield c, clock
    await c.aclose()


@pytest.fixture
def cache(cache_and_clock: tuple[Any, Clock]) -> Any:
    return cache_and_clock[0]


async def test_set_get_delete(cache: Any) -> None:
    assert await cache.get("P123456789") is None
    await cache.set("P123456789", b'{"amount": 150.00}', 60)
    assert await cache.get("P123456789") == b'{"amount": 150.00}'
    await cache.delete("P123456789")
    assert await cache.get("P123456789") is None


async def test_entries_expire_after_their_ttl(cache_and_clock: tuple[Any, Clock]) -> None:
    cache, clock = cache_and_clock
    await cache.set("short", b"x", 0.2)
    await cache.set("long", b"y", 60)
    assert await cache.get("short") == b"x"
    await clock.advance(0.35)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"y"


async def test_keys_do_not_collide(cache: Any) -> None:
    await cache.set("a", b"1", 60)
    await cache.set("b", b"2", 60)
    assert (await cache.get("a"), await cache.get("b")) == (b"1", b"2")


async def test_redis_cache_down_behaves_as_a_miss() -> None:
    down = RedisCache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert await down.get("P123456789") is None
        await down.set("P123456789", b"x", 60)  # never fails the request
        await down.delete("P123456789")
    finally:
        await down.aclose()
