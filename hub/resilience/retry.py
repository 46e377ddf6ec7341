"""Every retry loop of PayHub, on tenacity: one module, three shapes of loop.

* ``with_retries`` — a call to a dependency (AMK), a bounded number of attempts while the error
  says it is ``retriable``; the last error is re-raised. Which errors are retried is asked of the
  error itself, never listed here.
* ``retry_logged`` — a background worker's step (relay batch, consumer batch, a LISTEN or
  pub/sub connection, creating Kafka topics at start-up): every failure is logged and waited
  out, never given up unless ``attempts`` says so; cancellation stops it.
* ``retry_until`` — a client that answers its caller with every attempt (the sandbox's bank):
  call again while the result says so, after each delay of a fixed list, then return the last result.

Waits are ``wait_backoff`` (the spec's retry policy: exponential, capped, proportional jitter) or
any other tenacity wait (``tenacity.wait_fixed`` for a fixed reconnect delay). ``delay_after`` reads a
wait for retries kept in a database (a notification's next attempt) rather than slept through.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_never,
)
from tenacity.wait import wait_base

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class wait_backoff(wait_base):
    """initial × 2^(n-1), capped at ``maximum``, then scaled by a random factor in [1-j, 1+j]."""

    def __init__(self, initial: float, maximum: float, jitter: float, rng: random.Random | None = None) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self._rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        base = min(self.maximum, self.initial * 2 ** (retry_state.attempt_number - 1))
        return float(max(0.0, base * (1 + self._rng.uniform(-self.jitter, self.jitter))))


class wait_sequence(wait_base):
    """The n-th wait is ``delays[n-1]`` (the last one repeats)."""

    def __init__(self, delays: Sequence[float]) -> None:
        self.delays = tuple(delays) or (0.0,)

    def __call__(self, retry_state: RetryCallState) -> float:
        return float(self.delays[min(retry_state.attempt_number, len(self.delays)) - 1])


class wait_jitter(wait_base):
    """``wait`` scaled by a random factor in [1-j, 1+j] (a fixed schedule made less regular)."""

    def __init__(self, wait: wait_base, jitter: float, rng: random.Random | None = None) -> None:
        self.wait, self.jitter = wait, jitter
        self._rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        return float(max(0.0, self.wait(retry_state) * (1 + self._rng.uniform(-self.jitter, self.jitter))))


def delay_after(wait: wait_base, attempt: int) -> float:
    """The wait ``wait`` gives after failed attempt number ``attempt`` (1 = the first), for retries that
    are scheduled in a database row instead of slept through (the notifier's ``next_attempt_at``)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(1, attempt)
    return float(wait(state))


def is_retriable(exc: BaseException | None) -> bool:
    return bool(getattr(exc, "retriable", False))


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    initial_s: float,
    max_s: float,
    jitter: float,
    sleep: Sleep = asyncio.sleep,
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


async def retry_logged(
    fn: Callable[[], Awaitable[T]],
    *,
    wait: wait_base,
    log: logging.Logger,
    what: str,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    attempts: int | None = None,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Call ``fn`` until it returns, waiting ``wait`` after each ``retry_on`` error (others propagate).

    ``attempts``: give up after that many calls and re-raise the last error (None: never give up).

    Each failure is logged at WARNING (with a traceback for an error that is not ``retriable``,
    which is a bug rather than an outage); a success after failures is logged at INFO. The wait
    starts over at the next call. ``asyncio.CancelledError`` is never retried.
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        detail = getattr(exc, "details", None) or repr(exc)
        log.warning(
            "%s failed, retrying in %.2fs: %s", what, delay, detail, exc_info=None if is_retriable(exc) else exc
        )

    retrying = AsyncRetrying(
        stop=stop_never if attempts is None else stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(retry_on),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            result = await fn()
        if not attempt.retry_state.outcome or not attempt.retry_state.outcome.failed:
            if attempt.retry_state.attempt_number > 1:
                log.info("%s resumed after %d failed attempt(s)", what, attempt.retry_state.attempt_number - 1)
            return result
    raise AssertionError("unreachable")  # pragma: no cover


async def retry_until(
    fn: Callable[[], Awaitable[T]],
    *,
    done: Callable[[T], bool],
    delays: Sequence[float],
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Call ``fn``; while ``done(result)`` is false, wait the next of ``delays`` and call again.

    At most ``len(delays) + 1`` calls; returns the last result whatever it is. Errors of ``fn``
    propagate at once (``fn`` turns the ones worth another attempt into a result).
    """
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(len(delays) + 1),
        wait=wait_sequence(delays),
        retry=retry_if_result(lambda result: not done(result)),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        sleep=sleep,
        reraise=True,
    ):
        with attempt:
            result = await fn()
        if not attempt.retry_state.outcome or not attempt.retry_state.outcome.failed:
            attempt.retry_state.set_result(result)
    return result
