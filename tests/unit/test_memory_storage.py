"""The in-process rate-limit storage sweeps expired windows in bounded steps on the loop (no threads)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

import hub.resilience.memory_storage as memory_storage
from hub.resilience.memory_storage import SweptMemoryStorage


def no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sweep must not hand work to a thread")

    monkeypatch.setattr(asyncio, "to_thread", refuse)


async def test_expired_keys_are_swept_a_batch_per_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    no_threads(monkeypatch)
    clock = [1000.0]
    monkeypatch.setattr("limits.aio.storage.memory.time.time", lambda: clock[0])
    storage = SweptMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(5, 10)
    for i in range(200):
        assert await limiter.hit(item, "policy", f"P{i}")
    assert len(storage.events) == 200
    storage.sweep(1005.0, 1000)  # nothing expired yet: every key kept
    assert len(storage.events) == 200
    # Entries carry the library's own clock (time.time at the hit); sweep as if long after their expiry.
    late = max(e.expiry for events in storage.events.values() for e in events) + 1
    storage.sweep(late, memory_storage.SWEEP_BATCH)
    assert len(storage.events) == 200 - memory_storage.SWEEP_BATCH
    storage.sweep(late, 1000)
    assert storage.events == {} and not storage.locks


async def test_the_windows_decide_as_the_library_does() -> None:
    storage = SweptMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(3, 60)
    assert [await limiter.hit(item, "ip", "a") for _ in range(4)] == [True, True, True, False]
    assert await limiter.hit(item, "ip", "b")  # another subject has its own window
    storage.sweep(0.0, 1000)  # a sweep of nothing expired changes no decision
    assert not await limiter.hit(item, "ip", "a")


class _Unswept(MemoryStorage):
    """The library's storage with no sweep at all: every decision from the entries' times alone."""

    async def _MemoryStorage__schedule_expiry(self) -> None:
        return None


_HITS = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.25, 1.0, 2.0, 9.999, 10.0, 10.001, 30.0]),  # clock advance (s)
        st.sampled_from(["a", "b", "c", "d", "e", "f"]),  # subject
        st.sampled_from(["moving", "fixed"]),
        st.integers(min_value=1, max_value=2),  # cost
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hits=_HITS)
def test_swept_storage_decides_every_hit_as_the_unswept_library(
    monkeypatch: pytest.MonkeyPatch, hits: list[tuple[float, str, str, int]]
) -> None:
    asyncio.run(_decide_both(monkeypatch, hits))


async def _decide_both(monkeypatch: pytest.MonkeyPatch, hits: list[tuple[float, str, str, int]]) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr("limits.aio.storage.memory.time.time", lambda: clock[0])
    item = RateLimitItemPerSecond(3, 10)
    swept, reference = SweptMemoryStorage(), _Unswept()
    limiters = {
        (name, kind): strategy(storage)
        for name, storage in (("swept", swept), ("reference", reference))
        for kind, strategy in (("moving", MovingWindowRateLimiter), ("fixed", FixedWindowRateLimiter))
    }
    for advance, subject, kind, cost in hits:
        clock[0] += advance
        got = await limiters["swept", kind].hit(item, kind, subject, cost=cost)
        want = await limiters["reference", kind].hit(item, kind, subject, cost=cost)
        assert got == want
    # Long after every window: each further hit sweeps a batch, so the expired subjects all go.
    clock[0] += 100.0
    for _ in range(20):
        await limiters["swept", "moving"].hit(item, "moving", "z")
    assert len(swept.events) + len(swept.expirations) <= 1
