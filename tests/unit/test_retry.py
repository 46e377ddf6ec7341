"""The retry helper every loop uses (hub/resilience/retry.py): waits, what is retried, what is logged."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenacity import wait_fixed

from hub.errors import BadRequest, ServiceUnavailable
from hub.resilience.retry import retry_logged, retry_until, wait_backoff, wait_sequence

log = logging.getLogger("test.retry")


class Flaky:
    """Raises each of ``errors`` in turn, then returns ``result``."""

    def __init__(self, *errors: BaseException, result: Any = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def recorder() -> tuple[list[float], Any]:
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    return sleeps, sleep


async def test_retry_logged_waits_out_failures_with_the_backoff_then_returns(caplog: Any) -> None:
    sleeps, sleep = recorder()
    fn = Flaky(ServiceUnavailable(), OSError("refused"), ServiceUnavailable(), result=42)
    caplog.set_level(logging.INFO, "test.retry")
    got = await retry_logged(fn, wait=wait_backoff(0.5, 1.5, 0.0), log=log, what="step", sleep=sleep)
    assert got == 42 and fn.calls == 4
    assert sleeps == [0.5, 1.0, 1.5]  # exponential, capped
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:3] == [
        "step failed, retrying in 0.50s: ServiceUnavailable('Service temporarily unavailable')",
        "step failed, retrying in 1.00s: OSError('refused')",
        "step failed, retrying in 1.50s: ServiceUnavailable('Service temporarily unavailable')",
    ]
    assert messages[3] == "step resumed after 3 failed attempt(s)"
    # an error that is not retriable is a bug: its traceback is logged; an outage's is not
    assert [bool(r.exc_info) for r in caplog.records[:3]] == [False, True, False]


async def test_retry_logged_starts_over_at_each_call() -> None:
    sleeps, sleep = recorder()
    wait = wait_backoff(1.0, 60.0, 0.0)
    await retry_logged(Flaky(OSError(), OSError()), wait=wait, log=log, what="a", sleep=sleep)
    await retry_logged(Flaky(OSError()), wait=wait, log=log, what="b", sleep=sleep)
    assert sleeps == [1.0, 2.0, 1.0]


async def test_retry_logged_lets_other_errors_and_cancellation_through() -> None:
    sleeps, sleep = recorder()
    fn = Flaky(BadRequest("bug"))
    with pytest.raises(BadRequest):
        await retry_logged(fn, wait=wait_fixed(1), log=log, what="x", retry_on=(OSError,), sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await retry_logged(Flaky(asyncio.CancelledError()), wait=wait_fixed(1), log=log, what="x", sleep=sleep)
    assert sleeps == [] and fn.calls == 1


async def test_retry_until_calls_again_after_each_delay_and_returns_the_last_answer() -> None:
    sleeps, sleep = recorder()
    answers = iter([503, 429, 500])

    async def post() -> int:
        return next(answers)

    got = await retry_until(post, done=lambda status: status < 500 and status != 429, delays=(0.2, 0.5), sleep=sleep)
    assert got == 500 and sleeps == [0.2, 0.5]  # three calls, no sleep after the last


async def test_retry_until_stops_at_the_first_good_answer() -> None:
    sleeps, sleep = recorder()
    answers = iter([502, 200, 503])

    async def post() -> int:
        return next(answers)

    assert await retry_until(post, done=lambda s: s == 200, delays=(0.2, 0.5), sleep=sleep) == 200
    assert sleeps == [0.2]
    assert await retry_until(post, done=lambda s: s == 200, delays=(), sleep=sleep) == 503  # one call only


@settings(max_examples=100, deadline=None)
@given(
    initial=st.floats(0.001, 10),
    maximum=st.floats(0.001, 100),
    jitter=st.floats(0, 1),
    attempt=st.integers(1, 40),
    seed=st.integers(0, 2**32),
)
def test_wait_backoff_stays_within_the_jitter_band(
    initial: float, maximum: float, jitter: float, attempt: int, seed: int
) -> None:
    state: Any = type("State", (), {"attempt_number": attempt})()
    got = wait_backoff(initial, maximum, jitter, random.Random(seed))(state)
    base = min(maximum, initial * 2 ** (attempt - 1))
    assert base * (1 - jitter) - 1e-9 <= got <= base * (1 + jitter) + 1e-9


def test_wait_sequence_repeats_its_last_delay() -> None:
    waits = wait_sequence((0.2, 0.5))
    assert [waits(type("S", (), {"attempt_number": n})()) for n in (1, 2, 3, 4)] == [0.2, 0.5, 0.5, 0.5]


async def test_retry_logged_with_attempts_gives_up_and_raises_the_last_error() -> None:
    sleeps, sleep = recorder()
    fn = Flaky(OSError("1"), OSError("2"), OSError("3"), result="late")
    with pytest.raises(OSError, match="3"):
        await retry_logged(fn, wait=wait_fixed(1), log=log, what="topics", attempts=3, sleep=sleep)
    assert fn.calls == 3 and sleeps == [1, 1]
