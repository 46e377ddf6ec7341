from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.errors import ConfigError, RateLimitExceeded, ServiceUnavailable
from hub.resilience.ratelimit import RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def limiter() -> AsyncIterator[RateLimiter]:
    # user: burst 6 per 60 s, sustained 8 per 120 s; ip: burst 9 per 60 s, sustained 12 per 120 s.
    async with RateLimiter(user_per_min=4, ip_per_min=6) as limiter:
        yield limiter


async def hits(limiter: RateLimiter, times: int, *, user: str | None, ip: str) -> None:
    for _ in range(times):
        await limiter.hit(user=user, ip=ip)


async def test_user_limit_trips_at_the_burst_ceiling(limiter: RateLimiter) -> None:
    await hits(limiter, 6, user="alice", ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.hit(user="alice", ip="10.0.0.2")
    assert info.value.details == {"limit": "6 per 60 s", "scope": "user"}
    assert info.value.retry_after is not None
    assert 1 <= info.value.retry_after <= 60
    assert info.value.status_code == 429


async def test_another_user_is_unaffected(limiter: RateLimiter) -> None:
    await hits(limiter, 6, user="alice", ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded):
        await limiter.hit(user="alice", ip="10.0.0.1")
    await limiter.hit(user="bob", ip="10.0.0.2")


async def test_ip_limit_trips_independently_for_anonymous_callers(limiter: RateLimiter) -> None:
    await hits(limiter, 9, user=None, ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.hit(user=None, ip="10.0.0.1")
    assert info.value.details == {"limit": "9 per 60 s", "scope": "ip"}
    assert info.value.retry_after is not None
    assert 1 <= info.value.retry_after <= 60
    await limiter.hit(user=None, ip="10.0.0.2")


async def test_refused_request_does_not_consume_the_ip_window(limiter: RateLimiter) -> None:
    await hits(limiter, 6, user="alice", ip="10.0.0.1")
    for _ in range(5):
        with pytest.raises(RateLimitExceeded):
            await limiter.hit(user="alice", ip="10.0.0.1")
    # The IP counted only alice's 6 admitted requests: 3 of its 9 are left.
    await hits(limiter, 3, user=None, ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.hit(user=None, ip="10.0.0.1")
    assert info.value.details == {"limit": "9 per 60 s", "scope": "ip"}


async def test_reset_forgets_counted_requests(limiter: RateLimiter) -> None:
    await hits(limiter, 6, user="alice", ip="10.0.0.1")
    await limiter.reset()
    await hits(limiter, 6, user="alice", ip="10.0.0.1")


class FakeWallClock:
    """Stands in for the ``time`` module where ``limits``' memory storage and the limiter read it."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # whole seconds, so that differences are exact

    def time(self) -> float:
        return self.now


async def test_burst_then_sustained_limit_over_two_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeWallClock()
    monkeypatch.setattr("limits.aio.storage.memory.time", clock)
    monkeypatch.setattr("hub.resilience.ratelimit.time", clock)
    async with RateLimiter(user_per_min=4, ip_per_min=1000) as limiter:
        await hits(limiter, 6, user="alice", ip="10.0.0.1")  # burst: 150 % in the first minute
        clock.now += 61
        # The burst window is free again, but only 8 - 6 = 2 requests are left in the 120 s window.
        await hits(limiter, 2, user="alice", ip="10.0.0.1")
        with pytest.raises(RateLimitExceeded) as info:
            await limiter.hit(user="alice", ip="10.0.0.1")
        assert info.value.details == {"limit": "8 per 120 s", "scope": "user"}
        assert info.value.retry_after == 59  # when the first six requests leave the 120 s window
        # limits' memory storage refuses at exactly 120 s (its test() admits): check just after.
        clock.now += 59.001
        await hits(limiter, 4, user="alice", ip="10.0.0.1")


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        RateLimiter(user_per_min=0)
    with pytest.raises(ConfigError):
        RateLimiter("memcached://127.0.0.1:11211")


async def test_unreachable_redis_is_service_unavailable() -> None:
    async with RateLimiter("async+redis://127.0.0.1:1/0", key_prefix=f"payhub:test:{uuid.uuid4().hex}") as rl:
        with pytest.raises(ServiceUnavailable):
            await rl.hit(user="alice", ip="10.0.0.1")


async def _require_redis() -> None:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable in CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        await client.aclose()


async def test_limits_are_shared_through_redis() -> None:
    await _require_redis()
    prefix = f"payhub:test:{uuid.uuid4().hex}"
    uri = f"async+{REDIS_URL}"
    async with RateLimiter(uri, user_per_min=4, key_prefix=prefix) as first:
        try:
            async with RateLimiter(uri, user_per_min=4, key_prefix=prefix) as second:
                await hits(first, 3, user="alice", ip="10.0.0.1")
                await hits(second, 3, user="alice", ip="10.0.0.1")
                with pytest.raises(RateLimitExceeded) as info:
                    await first.hit(user="alice", ip="10.0.0.1")
                assert info.value.details == {"limit": "6 per 60 s", "scope": "user"}
                assert info.value.retry_after is not None
                assert 1 <= info.value.retry_after <= 60
                await second.hit(user="bob", ip="10.0.0.2")
        finally:
            await first.reset()
    client = Redis.from_url(REDIS_URL)
    try:
        assert await client.keys(f"{prefix}*") == []
    finally:
        await client.aclose()
