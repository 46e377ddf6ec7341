"""The in-process rate-limit storage sweeps expired windows in bounded steps on the loop (no threads)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter

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
