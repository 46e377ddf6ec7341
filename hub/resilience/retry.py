"""Retries with exponential backoff and proportional jitter (the spec's retry policy).

Which errors are retried is asked of the error itself (``retriable``), never listed here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

T = TypeVar("T")


class wait_backoff(wait_base):
    """initial × 2^(n-1), capped at ``maximum``, then scaled by a random factor in [1-j, 1+j]."""

    def __init__(self, initial: float, maximum: float, jitter: float, rng: random.Random | None = None) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self._rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        base = min(self.maximum, self.initial * 2 ** (retry_state.attempt_number - 1))
        return float(max(0.0, base * (1 + self._rng.uniform(-self.jitter, self.jitter))))


def is_retriable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retriable", False))


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    initial_s: float,
    max_s: float,
    jitter: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call ``fn`` up to ``attempts`` times while it raises retriable errors; re-raise the last."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_backoff(initial_s, max_s, jitter),
        retry=retry_if_exception(is_retriable),
        sleep=sleep,
        reraise=True,
    ):
        with attempt:
            return await fn()
    raise AssertionError("unreachable")  # pragma: no cover
