"""The velocity rules' moving windows, kept where the rate-limit counters live (the ``limits`` library):
in this process (``memory://``, the embedded default) or in Redis (shared by every process).

A window is one rule's ``limit`` per ``window_s`` for one subject value (a policy number, a token subject,
an IP address, a device id); its key is ``<prefix>/LIMITER/<rule>/<subject>/...`` (long subject values are
hashed). Time comes from the wall clock, as ``limits``' storages read it.

When Redis fails, the windows are kept per process in memory, like ``hub.resilience.ratelimit``: an
ALERT (``fraud_storage_down``) once per outage, ``degraded`` and ``fallbacks`` exported to /metrics,
the shared storage tried again after ``retry_shared_s``. A check therefore never fails for want of
Redis, and never passes unchecked.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from hub.alerts import AlertKind, Alerts
from hub.constants import FRAUD_PREFIX
from hub.fraud.rules import VelocityRule
from hub.http.client_address import client_key
from hub.resilience.memory_storage import SweptMemoryStorage
from hub.resilience.ratelimit import open_storage

log = logging.getLogger("payhub.fraud")
_T = TypeVar("_T")
MAX_SUBJECT_KEY = 64


def counted_value(subject: str, value: str) -> str:
    """What a velocity window counts for ``value`` of ``subject``: itself, except that a client address
    is counted as every per-client limit counts it (``hub.http.client_address.client_key``): an IPv6
    client by its /64 network (``2001:db8:1:2::/64``), an IPv4 address (and its IPv4-mapped form) whole."""
    return client_key(value) if subject == "ip" else value


def subject_key(value: str) -> str:
    """``value`` as it goes into a key (Redis, review): itself up to 64 characters, else a hash of it."""
    if len(value) <= MAX_SUBJECT_KEY:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:32]


class Check(NamedTuple):
    """One velocity rule applied to one subject value."""

    rule: VelocityRule
    value: str

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.rule.limit, self.rule.window_s)

    @property
    def identifiers(self) -> tuple[str, str]:
        # Rule names hold no "/", so the key cannot be read two ways; a long value is hashed to bound keys.
        return self.rule.name, subject_key(self.value)


class VelocityWindows:
    """Moving windows per (rule, subject); an async context manager that closes its storage.

    ``storage_uri``: ``memory://`` or a Redis URL (``redis://``, ``rediss://``, ``async+redis://``).
    """

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        key_prefix: str = FRAUD_PREFIX,
        retry_shared_s: float = 5.0,
        alerts: Alerts | None = None,
    ) -> None:
        self._alerts = alerts if alerts is not None else Alerts()
        self._storage, self._pool = open_storage(storage_uri, key_prefix)
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._local = None if isinstance(self._storage, MemoryStorage) else SweptMemoryStorage()
        self._local_strategy = None if self._local is None else MovingWindowRateLimiter(self._local)
        self._retry_shared_s = retry_shared_s
        self._shared_down_until = 0.0
        self.degraded = False
        self.fallbacks = 0

    async def __aenter__(self) -> VelocityWindows:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def admit(self, checks: Sequence[Check]) -> list[Check]:
        """Block mode: the checks whose window is full. When none is, one request is counted in every
        window; when one is, nothing is counted (a refused request uses up no one's allowance, unless a
        concurrent request took a window's last slot between the test and the count)."""

        async def run(strategy: MovingWindowRateLimiter) -> list[Check]:
            full = [c for c in checks if not await strategy.test(c.item, *c.identifiers)]
            if full:
                return full
            return [c for c in checks if not await strategy.hit(c.item, *c.identifiers)]

        return await self._run(run) if checks else []

    async def count(self, checks: Sequence[Check]) -> list[Check]:
        """Flag mode: count the request in every window that has room; returns the checks whose window
        was full (the request went on, and is not counted there)."""

        async def run(strategy: MovingWindowRateLimiter) -> list[Check]:
            return [c for c in checks if not await strategy.hit(c.item, *c.identifiers)]

        return await self._run(run) if checks else []

    async def _run(self, body: Callable[[MovingWindowRateLimiter], Awaitable[_T]]) -> _T:
        if self._local_strategy is not None and time.monotonic() < self._shared_down_until:
            self.fallbacks += 1
            return await body(self._local_strategy)
        try:
            result = await body(self._strategy)
        except self._storage.base_exceptions as exc:
            if self._local_strategy is None:
                raise
            self._fall_back(exc)
            return await body(self._local_strategy)
        if self.degraded:
            self.degraded = False
            log.warning("fraud velocity storage reachable again; windows are shared across processes again")
        return result

    def _fall_back(self, exc: BaseException) -> None:
        self._shared_down_until = time.monotonic() + self._retry_shared_s
        self.fallbacks += 1
        if not self.degraded:
            self.degraded = True
            self._alerts.raise_(AlertKind.FRAUD_STORAGE_DOWN, log, error=type(exc).__name__)

    async def reset(self) -> None:
        """Forget everything counted (under the key prefix in Redis)."""
        if self._local is not None:
            await self._local.reset()
        await self._storage.reset()

    async def aclose(self) -> None:
        """Release the Redis connections, or the memory storage's expiry task. Idempotent."""
        if self._pool is not None:
            await self._pool.aclose()
        for storage in (self._storage, self._local):
            if isinstance(storage, MemoryStorage) and (timer := storage.timer) is not None:
                timer.cancel()
                await asyncio.gather(timer, return_exceptions=True)
                storage.timer = None
