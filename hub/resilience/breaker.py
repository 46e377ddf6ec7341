"""An asyncio circuit breaker with a failure-rate window, as the customer's spec describes it.

* CLOSED: every call passes. The outcome of each call is recorded when it completes; when, within the
  last ``window_s`` seconds, at least ``min_calls`` calls completed and *more than* ``failure_ratio`` of
  them failed, the breaker opens.
* OPEN: calls fail fast with :class:`CircuitOpen` (the wrapped function is not called) for ``open_s``
  seconds; ``retry_after`` is the whole seconds left until the breaker half-opens (at least 1).
* HALF_OPEN: at most ``half_open_successes`` trial calls run at once (others fail fast with
  ``retry_after=1``); ``half_open_successes`` consecutive successes close the breaker, the first failure
  re-opens it for another ``open_s`` seconds.

Which exceptions count as failures is decided by ``is_failure`` (default: :func:`default_is_failure`);
an exception that is not a failure means the dependency answered, so it counts as a success. Exceptions
always propagate unchanged. ``asyncio.CancelledError`` (and any other ``BaseException`` that is not an
``Exception``) is neither a success nor a failure. A call completing after the breaker changed state
since the call was admitted is ignored: its outcome describes a dependency state that has been judged.

The breaker is meant for one event loop and is not thread-safe; state changes happen synchronously
between awaits, so no lock is needed. Every time-dependent decision reads the injected ``clock``.

We do not use a library because the well-kept ones (purgatory, pybreaker, aiobreaker) open on a count of
consecutive failures, not on a failure ratio over a sliding time window, and close after a single
half-open success rather than N consecutive ones.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from hub.errors import CircuitOpen as CircuitOpen  # re-exported: its home was here
from hub.errors import ConfigError, PayHubError

T = TypeVar("T")

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"

_log = logging.getLogger("payhub.breaker")

# Absorbs float noise so that e.g. 30 s minus 10.0 s is 20, not 21, whole seconds.
_EPSILON: Final = 1e-9


def default_is_failure(exc: BaseException) -> bool:
    """True for a retriable :class:`PayHubError` and for any foreign (unexpected) exception.

    A non-retriable PayHubError (``NotFound``, ``BadRequest``…) means the dependency answered: not a failure.
    """
    if isinstance(exc, PayHubError):
        return exc.retriable
    return True


class CircuitBreaker:
    """Wraps calls to one dependency; see the module docstring for the state machine."""

    def __init__(
        self,
        name: str,
        *,
        window_s: float = 60,
        failure_ratio: float = 0.5,
        min_calls: int = 4,
        open_s: float = 30,
        half_open_successes: int = 3,
        is_failure: Callable[[BaseException], bool] = default_is_failure,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0 or open_s <= 0:
            raise ConfigError(f"breaker {name!r}: window_s and open_s must be positive")
        if not 0 <= failure_ratio < 1:
            raise ConfigError(f"breaker {name!r}: failure_ratio must be in [0, 1)")
        if min_calls < 1 or half_open_successes < 1:
            raise ConfigError(f"breaker {name!r}: min_calls and half_open_successes must be >= 1")
        self.name = name
        self._window_s = window_s
        self._failure_ratio = failure_ratio
        self._min_calls = min_calls
        self._open_s = open_s
        self._half_open_successes = half_open_successes
        self._is_failure = is_failure
        self._clock = clock

        self._state: str = CLOSED
        # Bumped at every state change; an outcome is recorded only in the generation that admitted it.
        self._generation = 0
        self._outcomes: deque[tuple[float, bool]] = deque()  # CLOSED: (completed at, failed)
        # Failures among _outcomes, kept as they come and go: counting them per call was a scan of every
        # call of the window (60,000 at 1,000 calls/s), a cost profiles of the webhook path showed.
        self._failures = 0
        self._opened_at = 0.0  # OPEN
        self._trials_in_flight = 0  # HALF_OPEN
        self._trial_successes = 0  # HALF_OPEN, consecutive

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``; an OPEN breaker half-opens once ``open_s`` passed."""
        return self._refresh(self._clock())

    def retry_after(self) -> int:
        """Whole seconds until a call would be admitted: 0 if one would be admitted now."""
        now = self._clock()
        state = self._refresh(now)
        if state == OPEN:
            return max(1, math.ceil(self._opened_at + self._open_s - now - _EPSILON))
        if state == HALF_OPEN and self._trials_in_flight >= self._half_open_successes:
            return 1
        return 0

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` if the breaker admits it, else raise :class:`CircuitOpen` without calling ``fn``.

        ``fn``'s result is returned and its exceptions propagate unchanged; both are only counted.
        """
        generation = self._admit()
        try:
            result = await fn()
        except Exception as exc:
            failed = True
            try:
                failed = self._is_failure(exc)
            finally:
                self._finish(generation, failed)
            raise
        except BaseException:
            self._finish(generation, None)
            raise
        self._finish(generation, False)
        return result

    def _admit(self) -> int:
        now = self._clock()
        state = self._refresh(now)
        if state == OPEN:
            raise CircuitOpen(self.name, retry_after=self.retry_after())
        if state == HALF_OPEN:
            if self._trials_in_flight >= self._half_open_successes:
                raise CircuitOpen(self.name, retry_after=1)
            self._trials_in_flight += 1
        return self._generation

    def _finish(self, generation: int, failed: bool | None) -> None:
        """Record one outcome: True failed, False succeeded, None neither (cancelled)."""
        if generation != self._generation:
            return
        now = self._clock()
        if self._state == HALF_OPEN:
            self._trials_in_flight -= 1
            if failed is None:
                return
            if failed:
                self._transition(OPEN, now, reason="trial call failed")
                return
            self._trial_successes += 1
            if self._trial_successes >= self._half_open_successes:
                self._transition(CLOSED, now, reason=f"{self._trial_successes} trial calls succeeded")
        elif self._state == CLOSED and failed is not None:
            self._outcomes.append((now, failed))
            self._failures += failed
            self._forget_before(now - self._window_s)
            calls = len(self._outcomes)
            failures = self._failures
            if calls >= self._min_calls and failures > self._failure_ratio * calls:
                self._transition(OPEN, now, reason=f"{failures} of {calls} calls failed")

    def _forget_before(self, cutoff: float) -> None:
        while self._outcomes and self._outcomes[0][0] <= cutoff:
            self._failures -= self._outcomes.popleft()[1]

    def _refresh(self, now: float) -> str:
        if self._state == OPEN and now >= self._opened_at + self._open_s:
            self._transition(HALF_OPEN, now, reason=f"open for {self._open_s:g} s")
        return self._state

    def _transition(self, new: str, now: float, *, reason: str) -> None:
        old, self._state = self._state, new
        self._generation += 1
        self._outcomes.clear()
        self._failures = 0
        self._trials_in_flight = 0
        self._trial_successes = 0
        if new == OPEN:
            self._opened_at = now
        _log.warning(
            "circuit breaker %s: %s -> %s (%s)",
            self.name,
            old,
            new,
            reason,
            extra={"breaker": self.name, "from_state": old, "to_state": new, "reason": reason},
        )
