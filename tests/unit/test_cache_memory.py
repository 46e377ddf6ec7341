from __future__ import annotations

import pytest

from hub.adapters.cache.memory import MemoryCache
from hub.errors import ConfigError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_entry_expires_after_its_ttl(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("premium:P1", b"v1", ttl_s=900)
    clock.now += 899.9
    assert await cache.get("premium:P1") == b"v1"
    clock.now += 0.1
    assert await cache.get("premium:P1") is None
    assert len(cache) == 0  # dropped on the expired read


async def test_set_overwrites_value_and_ttl(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"old", ttl_s=10)
    clock.now += 5
    await cache.set("k", b"new", ttl_s=10)
    clock.now += 9
    assert await cache.get("k") == b"new"


async def test_non_positive_ttl_stores_nothing(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl_s=10)
    await cache.set("k", b"v2", ttl_s=0)
    assert await cache.get("k") is None


async def test_delete(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    await cache.delete("a")
    await cache.delete("missing")
    assert await cache.get("a") is None
    assert await cache.get("b") == b"2"


async def test_evicts_least_recently_used_when_full(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=3, clock=clock)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode(), ttl_s=60)
    assert await cache.get("a") == b"a"  # "b" is now the least recently used
    await cache.set("d", b"d", ttl_s=60)
    assert await cache.get("b") is None
    assert [await cache.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]
    await cache.set("c", b"c2", ttl_s=60)  # a write counts as a use: "a" is evicted next
    await cache.set("e", b"e", ttl_s=60)
    assert await cache.get("a") is None
    assert len(cache) == 3


async def test_aclose_empties_the_cache(clock: FakeClock) -> None:
    async with MemoryCache(clock=clock) as cache:
        await cache.set("k", b"v", ttl_s=60)
    assert await cache.get("k") is None


def test_rejects_bad_max_entries() -> None:
    with pytest.raises(ConfigError):
        MemoryCache(max_entries=0)
