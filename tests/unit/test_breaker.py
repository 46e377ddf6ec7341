from __future__ import annotations

import asyncio
import logging

import pytest

from hub.errors import AmkUnavailable, NotFound, ServiceUnavailable
from hub.resilience.breaker import CircuitBreaker, CircuitOpen, default_is_failure


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Dependency:
    """A wrapped call that counts how often the breaker let it through."""

    def __init__(self) -> None:
        self.calls = 0

    async def ok(self) -> str:
        self.calls += 1
        return "ok"

    async def down(self) -> str:
        self.calls += 1
        raise AmkUnavailable()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("amk", clock=clock)


@pytest.fixture
def dep() -> Dependency:
    return Dependency()


async def succeed(breaker: CircuitBreaker, dep: Dependency, times: int = 1) -> None:
    for _ in range(times):
        assert await breaker.call(dep.ok) == "ok"


async def fail(breaker: CircuitBreaker, dep: Dependency, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(AmkUnavailable):
            await breaker.call(dep.down)


async def trip(breaker: CircuitBreaker, dep: Dependency) -> None:
    await fail(breaker, dep, 4)
    assert breaker.state == "open"


async def test_stays_closed_below_min_calls(breaker: CircuitBreaker, dep: Dependency) -> None:
    await fail(breaker, dep, 3)
    assert breaker.state == "closed"
    assert breaker.retry_after() == 0


async def test_opens_above_half_failures_but_not_at_exactly_half(breaker: CircuitBreaker, dep: Dependency) -> None:
    await succeed(breaker, dep, 2)
    await fail(breaker, dep, 2)
    assert breaker.state == "closed"  # 2 of 4 is exactly 50 %
    await fail(breaker, dep)
    assert breaker.state == "open"  # 3 of 5


async def test_old_failures_slide_out_of_the_window(breaker: CircuitBreaker, dep: Dependency, clock: FakeClock) -> None:
    await fail(breaker, dep, 3)
    clock.advance(60)
    # The three failures are now 60 s old: outside the window, so 1 failure of 4 calls remains.
    await fail(breaker, dep)
    await succeed(breaker, dep, 3)
    assert breaker.state == "closed"
    clock.advance(59)
    # Those four are still inside the window: 3 failures of 6 is not more than half, 4 of 7 is.
    await fail(breaker, dep, 2)
    assert breaker.state == "closed"
    await fail(breaker, dep)
    assert breaker.state == "open"


async def test_open_fails_fast_with_retry_after(breaker: CircuitBreaker, dep: Dependency, clock: FakeClock) -> None:
    await trip(breaker, dep)
    calls = dep.calls
    with pytest.raises(CircuitOpen) as info:
        await breaker.call(dep.ok)
    assert isinstance(info.value, ServiceUnavailable)
    assert info.value.retry_after == 30
    assert info.value.code == "SERVICE_UNAVAILABLE"
    clock.advance(10.4)
    with pytest.raises(CircuitOpen) as info:
        await breaker.call(dep.ok)
    assert info.value.retry_after == 20
    clock.advance(19.5)  # 0.1 s left: still at least 1
    assert breaker.retry_after() == 1
    with pytest.raises(CircuitOpen):
        await breaker.call(dep.ok)
    assert dep.calls == calls
    assert breaker.state == "open"


async def test_half_opens_after_open_s(breaker: CircuitBreaker, dep: Dependency, clock: FakeClock) -> None:
    await trip(breaker, dep)
    clock.advance(29.9)
    assert breaker.state == "open"
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.retry_after() == 0


async def test_closes_after_three_consecutive_successes(
    breaker: CircuitBreaker, dep: Dependency, clock: FakeClock
) -> None:
    await trip(breaker, dep)
    clock.advance(30)
    await succeed(breaker, dep, 2)
    assert breaker.state == "half_open"
    await succeed(breaker, dep)
    assert breaker.state == "closed"
    # The window starts empty again: three failures are below min_calls.
    await fail(breaker, dep, 3)
    assert breaker.state == "closed"


async def test_reopens_on_failure_in_half_open(breaker: CircuitBreaker, dep: Dependency, clock: FakeClock) -> None:
    await trip(breaker, dep)
    clock.advance(30)
    await succeed(breaker, dep, 2)
    await fail(breaker, dep)
    assert breaker.state == "open"
    assert breaker.retry_after() == 30
    clock.advance(30)
    # The successes before the failure do not count: three new ones are needed.
    await succeed(breaker, dep, 2)
    assert breaker.state == "half_open"
    await succeed(breaker, dep)
    assert breaker.state == "closed"


async def test_limits_concurrent_half_open_trials(breaker: CircuitBreaker, dep: Dependency, clock: FakeClock) -> None:
    await trip(breaker, dep)
    clock.advance(30)
    release = asyncio.Event()
    started = 0

    async def slow() -> str:
        nonlocal started
        started += 1
        await release.wait()
        return "ok"

    trials = [asyncio.create_task(breaker.call(slow)) for _ in range(3)]
    await asyncio.sleep(0)
    assert started == 3
    with pytest.raises(CircuitOpen) as info:
        await breaker.call(dep.ok)
    assert info.value.retry_after == 1
    assert breaker.retry_after() == 1
    release.set()
    assert await asyncio.gather(*trials) == ["ok", "ok", "ok"]
    assert breaker.state == "closed"
    assert started == 3


async def test_cancelled_trial_frees_its_slot_and_counts_as_nothing(
    breaker: CircuitBreaker, dep: Dependency, clock: FakeClock
) -> None:
    await trip(breaker, dep)
    clock.advance(30)
    never = asyncio.Event()

    async def hang() -> str:
        await never.wait()
        return "never"

    tasks = [asyncio.create_task(breaker.call(hang)) for _ in range(3)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert breaker.state == "half_open"
    await succeed(breaker, dep, 3)
    assert breaker.state == "closed"


async def test_non_retriable_payhub_error_is_not_a_failure(breaker: CircuitBreaker) -> None:
    async def missing() -> None:
        raise NotFound()

    for _ in range(10):
        with pytest.raises(NotFound):
            await breaker.call(missing)
    assert breaker.state == "closed"


async def test_foreign_exceptions_count_and_propagate_unchanged(breaker: CircuitBreaker) -> None:
    error = ConnectionResetError("peer reset")

    async def broken() -> None:
        raise error

    for _ in range(4):
        with pytest.raises(ConnectionResetError) as info:
            await breaker.call(broken)
        assert info.value is error
    assert breaker.state == "open"


async def test_late_outcome_of_a_call_admitted_before_opening_is_ignored(
    breaker: CircuitBreaker, dep: Dependency, clock: FakeClock
) -> None:
    release = asyncio.Event()

    async def slow_failure() -> None:
        await release.wait()
        raise AmkUnavailable()

    straggler = asyncio.create_task(breaker.call(slow_failure))
    await asyncio.sleep(0)
    await trip(breaker, dep)
    clock.advance(30)
    await succeed(breaker, dep)
    release.set()
    with pytest.raises(AmkUnavailable):
        await straggler
    assert breaker.state == "half_open"  # the straggler's failure did not re-open it


def test_default_is_failure() -> None:
    assert default_is_failure(AmkUnavailable())
    assert default_is_failure(ServiceUnavailable())
    assert default_is_failure(RuntimeError())
    assert not default_is_failure(NotFound())


async def test_state_changes_are_logged(
    breaker: CircuitBreaker, dep: Dependency, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="payhub.breaker"):
        await trip(breaker, dep)
        clock.advance(30)
        await succeed(breaker, dep, 3)
    changes = [(r.breaker, r.from_state, r.to_state) for r in caplog.records]  # type: ignore[attr-defined]
    assert changes == [
        ("amk", "closed", "open"),
        ("amk", "open", "half_open"),
        ("amk", "half_open", "closed"),
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
