from __future__ import annotations

import asyncio
import math
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.errors import ConfigError, RateLimitExceeded
from hub.resilience.ratelimit import RateLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def limiter() -> AsyncIterator[RateLimiter]:
    # user: 3 per 30 s (burst), 4 per 60 s; ip: 5 per 30 s (burst), 6 per 60 s.
    async with RateLimiter(user_per_min=4, ip_per_min=6) as limiter:
        yield limiter


async def hits(limiter: RateLimiter, times: int, *, user: str | None, ip: str) -> None:
    for _ in range(times):
        await limiter.hit(user=user, ip=ip)


async def admitted(limiter: RateLimiter, times: int, *, user: str | None, ip: str) -> int:
    count = 0
    for _ in range(times):
        try:
            await limiter.hit(user=user, ip=ip)
            count += 1
        except RateLimitExceeded:
            pass
    return count


async def test_user_limit_trips_at_the_burst_ceiling(limiter: RateLimiter) -> None:
    await hits(limiter, 3, user="alice", ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.hit(user="alice", ip="10.0.0.2")
    assert info.value.details == {"limit": "3 per 30 s", "scope": "user"}
    assert info.value.retry_after is not None
    assert 1 <= info.value.retry_after <= 30
    assert info.value.status_code == 429


async def test_another_user_is_unaffected(limiter: RateLimiter) -> None:
    await hits(limiter, 3, user="alice", ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded):
        await limiter.hit(user="alice", ip="10.0.0.1")
    await limiter.hit(user="bob", ip="10.0.0.2")


async def test_ip_limit_trips_independently_for_anonymous_callers(limiter: RateLimiter) -> None:
    await hits(limiter, 5, user=None, ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.hit(user=None, ip="10.0.0.1")
    assert info.value.details == {"limit": "5 per 30 s", "scope": "ip"}
    assert info.value.retry_after is not None
    assert 1 <= info.value.retry_after <= 30
    await limiter.hit(user=None, ip="10.0.0.2")


async def test_refused_request_does_not_consume_the_ip_window(limiter: RateLimiter) -> None:
    await hits(limiter, 3, user="alice", ip="10.0.0.1")
    for _ in range(5):
        with pytest.raises(RateLimitExceeded):
            await limiter.hit(user="alice", ip="10.0.0.1")
    # The IP counted only alice's 3 admitted requests: 2 of its 5 are left.
    await hits(limiter, 2, user=None, ip="10.0.0.1")
    with pytest.raises(RateLimitExceeded) as info:
        await limiter.hit(user=None, ip="10.0.0.1")
    assert info.value.details == {"limit": "5 per 30 s", "scope": "ip"}


async def test_reset_forgets_counted_requests(limiter: RateLimiter) -> None:
    await hits(limiter, 3, user="alice", ip="10.0.0.1")
    await limiter.reset()
    await hits(limiter, 3, user="alice", ip="10.0.0.1")


class FakeWallClock:
    """Stands in for the ``time`` module where ``limits``' memory storage and the limiter read it."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # whole seconds, so that differences are exact

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def use_clock(monkeypatch: pytest.MonkeyPatch) -> FakeWallClock:
    clock = FakeWallClock()
    monkeypatch.setattr("limits.aio.storage.memory.time", clock)
    monkeypatch.setattr("hub.resilience.ratelimit.time", clock)
    monkeypatch.setattr("hub.resilience.fallback_storage.time", clock)  # the fall-back's retry pause
    return clock


async def test_one_user_cannot_send_150_requests_in_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 7 §5: with the spec's 100/min per user, 150 requests in one second were all admitted."""
    clock = use_clock(monkeypatch)
    async with RateLimiter(user_per_min=100, ip_per_min=1000) as limiter:
        count = 0
        for i in range(150):
            clock.now += 1 / 150 if i else 0
            try:
                await limiter.hit(user="alice", ip="10.0.0.1")
                count += 1
            except RateLimitExceeded as exc:
                assert exc.details == {"limit": "75 per 30 s", "scope": "user"}
        assert count == 75  # 150 % of the limit's rate (150/min) for 30 s: 75 requests


async def test_burst_then_the_minute_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = use_clock(monkeypatch)
    async with RateLimiter(user_per_min=100, ip_per_min=1000) as limiter:
        await hits(limiter, 75, user="alice", ip="10.0.0.1")  # the burst
        clock.now += 30.001  # the burst window is free again, the minute holds 75 of 100
        assert await admitted(limiter, 40, user="alice", ip="10.0.0.1") == 25
        with pytest.raises(RateLimitExceeded) as info:
            await limiter.hit(user="alice", ip="10.0.0.1")
        assert info.value.details == {"limit": "100 per 60 s", "scope": "user"}
        assert info.value.retry_after == 30  # when the burst leaves the minute
        clock.now += 30.001
        await hits(limiter, 75, user="alice", ip="10.0.0.1")


async def test_one_ip_cannot_send_1500_requests_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 7 §5: an IP got 1,500 requests through in a minute; the spec says 1,000."""
    clock = use_clock(monkeypatch)
    async with RateLimiter(user_per_min=100, ip_per_min=1000) as limiter:
        count = 0
        for _ in range(1500):  # a steady 25 requests per second for a minute
            clock.now += 0.04
            try:
                await limiter.hit(user=None, ip="10.0.0.9")
                count += 1
            except RateLimitExceeded:
                pass
        assert count == 1000


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from(["alice", "bob", None])), min_size=1, max_size=60),
    per_min=st.integers(1, 6),
)
def test_admits_exactly_what_both_windows_allow(steps: list[tuple[int, str | None]], per_min: int) -> None:
    """Differential test against a model of the spec's reading: in any 30 s at most ceil(0.75 × limit),
    in any 60 s at most the limit; a refused request found one of the two windows full."""
    burst = math.ceil(0.75 * per_min)

    async def run() -> None:
        with pytest.MonkeyPatch.context() as mp:
            clock = use_clock(mp)
            async with RateLimiter(user_per_min=per_min, ip_per_min=10_000) as limiter:
                seen: dict[str | None, list[float]] = {}
                for gap_ms, user in steps:
                    clock.now += gap_ms / 1000
                    now = clock.now
                    mine = seen.setdefault(user, [])
                    try:
                        await limiter.hit(user=user, ip="10.0.0.1")
                    except RateLimitExceeded:
                        assert user is not None
                        # refused: a window, counted with its boundary, was full
                        full30 = sum(1 for t in mine if t >= now - 30) >= burst
                        full60 = sum(1 for t in mine if t >= now - 60) >= per_min
                        assert full30 or full60
                        continue
                    mine.append(now)
                    if user is not None:  # admitted: no open window holds more than its limit
                        assert sum(1 for t in mine if t > now - 30) <= burst
                        assert sum(1 for t in mine if t > now - 60) <= per_min

    asyncio.run(run())


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        RateLimiter(user_per_min=0)
    with pytest.raises(ConfigError):
        RateLimiter("memcached://127.0.0.1:11211")


async def test_unreachable_redis_falls_back_to_a_per_process_limit(caplog: pytest.LogCaptureFixture) -> None:
    async with RateLimiter(
        "async+redis://127.0.0.1:1/0", user_per_min=4, key_prefix=f"payhub:test:{uuid.uuid4().hex}"
    ) as rl:
        await hits(rl, 3, user="alice", ip="10.0.0.1")  # admitted, not 503
        with pytest.raises(RateLimitExceeded):
            await rl.hit(user="alice", ip="10.0.0.1")  # and still limited
        assert rl.degraded and rl.fallbacks == 4
    alerts = [r for r in caplog.records if r.getMessage().startswith("ALERT rate-limit storage unavailable")]
    assert len(alerts) == 1  # once per outage, not per request


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
                await hits(first, 2, user="alice", ip="10.0.0.1")
                await hits(second, 1, user="alice", ip="10.0.0.1")
                with pytest.raises(RateLimitExceeded) as info:  # the burst (3 per 30 s) counted both
                    await first.hit(user="alice", ip="10.0.0.1")
                assert info.value.details == {"limit": "3 per 30 s", "scope": "user"}
                assert info.value.retry_after is not None
                assert 1 <= info.value.retry_after <= 30
                await second.hit(user="bob", ip="10.0.0.2")
        finally:
            await first.reset()
    client = Redis.from_url(REDIS_URL)
    try:
        assert await client.keys(f"{prefix}*") == []
    finally:
        await client.aclose()
