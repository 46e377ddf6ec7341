"""A ``limits`` moving-window storage shared by every process (Redis), with a per-process memory fall-back
while it fails: the one outage policy of the rate limiter (``hub.resilience.ratelimit``) and the fraud
controls' velocity windows (``hub.fraud.windows``).

While the shared storage fails, windows are counted per process in memory: an ALERT once per outage,
``degraded`` and ``fallbacks`` for /metrics, the shared storage tried again after ``retry_shared_s``.
A check therefore never fails for want of Redis, and is never skipped (issue 7 §5: AMK's payment
notices must not depend on a cache). With ``memory://`` the storage is the process: there is nothing
to fall back to, and nothing to fail.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlsplit

from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from hub.alerts import AlertKind, Alerts
from hub.errors import ConfigError
from hub.resilience.memory_storage import SweptMemoryStorage

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

_T = TypeVar("_T")
_MEMORY_SCHEMES = frozenset({"memory", "async+memory"})
_REDIS_SCHEMES = frozenset({"redis", "rediss", "async+redis", "async+rediss"})
# A rate-limit check sits on every request: it must not hang on an unreachable Redis. The URL's own
# query parameters (``?socket_timeout=…``) override these.
_REDIS_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}


def open_storage(uri: str, key_prefix: str) -> tuple[Storage, ConnectionPool | None]:
    """A ``limits`` storage for ``uri`` (``memory://``, or a Redis URL: ``redis://``, ``rediss://``,
    ``async+redis://``, ``async+rediss://``) and the Redis connection pool it uses (None in memory), which
    the caller closes: ``limits`` has no close method. Raises ConfigError for another scheme."""
    scheme = urlsplit(uri).scheme
    if scheme in _MEMORY_SCHEMES:
        return SweptMemoryStorage(), None  # limits' storage with a bounded sweep (memory_storage.py)
    if scheme in _REDIS_SCHEMES:
        # Imported here so the memory backend does not need the Redis driver.
        from redis.asyncio import ConnectionPool

        pool = ConnectionPool.from_url(uri.removeprefix("async+"), **_REDIS_TIMEOUTS)
        # limits types its options as scalars, but documents ``connection_pool``.
        options: dict[str, Any] = {"connection_pool": pool}
        storage = storage_from_string(
            f"async+{uri.removeprefix('async+')}",
            implementation="redispy",
            key_prefix=key_prefix,
            **options,
        )
        assert isinstance(storage, Storage)
        return storage, pool
    raise ConfigError(f"unsupported rate-limit storage URL scheme: {scheme or uri!r}")


class FallbackStorage:
    """Moving windows in ``uri``'s storage (``memory://`` or a Redis URL, see ``open_storage``), falling
    back to this process's memory while it fails; an async context manager that closes it.

    ``alert`` is raised on ``log`` once per outage; ``name`` is what the log says when the storage answers
    again: the storage and what it counts (``("rate-limit storage", "limits")``).
    """

    def __init__(
        self,
        uri: str,
        *,
        key_prefix: str,
        retry_shared_s: float,
        alerts: Alerts,
        alert: AlertKind,
        log: logging.Logger,
        name: tuple[str, str],
    ) -> None:
        self._storage, self._pool = open_storage(uri, key_prefix)
        self._strategy = MovingWindowRateLimiter(self._storage)
        # The per-process fall-back while the shared storage is down (None: the storage is the process).
        self._local = None if isinstance(self._storage, MemoryStorage) else SweptMemoryStorage()
        self._local_strategy = None if self._local is None else MovingWindowRateLimiter(self._local)
        self._retry_shared_s = retry_shared_s
        self._alerts = alerts
        self._alert = alert
        self._log = log
        self._name = name
        self._shared_down_until = 0.0
        self.degraded = False
        self.fallbacks = 0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """What the shared storage raises when it fails (Redis' connection and timeout errors)."""
        return self._storage.base_exceptions

    async def __aenter__(self) -> FallbackStorage:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def run(self, body: Callable[[MovingWindowRateLimiter], Awaitable[_T]]) -> _T:
        """``body`` over the shared storage's windows, or over this process's while the shared storage is
        down (then ``fallbacks`` counts it). Raises what ``body`` raises; the storage's own failure
        (``base_exceptions``) only when there is no fall-back (``memory://``)."""
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
            what, counted = self._name
            self._log.warning("%s reachable again; %s are shared across processes again", what, counted)
        return result

    def retry_shared_now(self) -> None:
        """Try the shared storage at the next call, without waiting ``retry_shared_s`` (tests, operators)."""
        self._shared_down_until = 0.0

    def _fall_back(self, exc: BaseException) -> None:
        self._shared_down_until = time.monotonic() + self._retry_shared_s
        self.fallbacks += 1
        if not self.degraded:
            self.degraded = True
            self._alerts.raise_(self._alert, self._log, error=type(exc).__name__)

    async def reset(self) -> None:
        """Forget everything counted, in this process and under the key prefix of the shared storage.
        Raises ``base_exceptions`` when the shared storage fails."""
        if self._local is not None:
            await self._local.reset()
        await self._storage.reset()

    async def aclose(self) -> None:
        """Release the storage: the Redis connections, or the memory storages' expiry tasks. Idempotent."""
        if self._pool is not None:
            await self._pool.aclose()
        for storage in (self._storage, self._local):
            if isinstance(storage, MemoryStorage) and (timer := storage.timer) is not None:
                timer.cancel()
                await asyncio.gather(timer, return_exceptions=True)
                storage.timer = None


class OnFallbackStorage:
    """Base of what counts in a :class:`FallbackStorage` (``storage``): the outage state /metrics exports,
    and the async context manager that closes the storage."""

    storage: FallbackStorage

    @property
    def degraded(self) -> bool:
        """True while the shared storage is down and the windows are per process."""
        return self.storage.degraded

    @property
    def fallbacks(self) -> int:
        """Checks counted per process because the shared storage failed (a counter)."""
        return self.storage.fallbacks

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the storage: the Redis connections, or the memory storages' expiry tasks. Idempotent."""
        await self.storage.aclose()
