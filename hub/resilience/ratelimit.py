"""Per-user and per-IP rate limits over moving windows, kept in memory or in Redis (``limits`` library).

The spec (§ Performance Optimizations) says: "100 requests/minute per authenticated user, 1000
requests/minute per IP address, burst capacity: 150% of limit for 30 seconds". We read it exactly as:

* the limit holds over every minute: at most ``limit`` requests in any moving 60 s window, and
* within that minute a client may run at 150 % of the limit's rate, but for 30 s only: at most
  ``ceil(1.5 × limit × 30 / 60)`` = ``ceil(0.75 × limit)`` requests in any moving 30 s window.

So a user may send 75 requests in a burst (150/min for 30 s), then only 25 more until a minute has
passed since the burst began; never more than 100 in any minute (an IP: 750 per 30 s, 1000 per 60 s).
Both windows must pass. An authenticated request counts against its user key and its IP key; an
anonymous one (``user`` is ``None`` or empty) only against its IP key. The IP key is the client's
(``hub.http.client_address.client_key``): an IPv4 address whole, an IPv6 client by its /64, so that a
client rotating addresses within its /64 is still one client.

Every window is tested before any is consumed, so a refused request consumes nothing; only when a
concurrent request takes the last slot between the test and the hit may a refused request have consumed
from the windows hit before it. Time comes from the wall clock, because that is what ``limits``' storages use.

When the shared storage (Redis) fails, the limiter does not refuse: AMK's payment notices must not
depend on a cache (issue 7 §5). It limits per process in memory with the same windows, logs an ALERT
once per outage, counts the fall-back (``fallbacks``, ``degraded``, exported to /metrics) and tries the
shared storage again after ``retry_shared_s``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from hub.alerts import AlertKind, Alerts
from hub.errors import ConfigError, RateLimitExceeded, ServiceUnavailable
from hub.http.client_address import client_key
from hub.resilience.memory_storage import SweptMemoryStorage

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

log = logging.getLogger("payhub.ratelimit")
_MEMORY_SCHEMES = frozenset({"memory", "async+memory"})
_REDIS_SCHEMES = frozenset({"redis", "rediss", "async+redis", "async+rediss"})
# A rate-limit check sits on every request: it must not hang on an unreachable Redis. The URL's own
# query parameters (``?socket_timeout=…``) override these.
_REDIS_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
BURST_WINDOW_S = 30
BURST_FACTOR = 1.5


class _Window(NamedTuple):
    scope: str  # "user" | "ip"
    item: RateLimitItem


class _Check(NamedTuple):
    window: _Window
    subject: str  # the user id or the client's IP key (an IPv6 client: its /64)


def _windows(scope: str, per_min: int) -> tuple[_Window, ...]:
    burst = math.ceil(BURST_FACTOR * per_min * BURST_WINDOW_S / 60)
    return (
        _Window(scope, RateLimitItemPerSecond(burst, BURST_WINDOW_S)),
        _Window(scope, RateLimitItemPerMinute(per_min, 1)),
    )


def open_storage(uri: str, key_prefix: str) -> tuple[Storage, ConnectionPool | None]:
    """A ``limits`` storage for ``uri`` (``memory://`` or a Redis URL, see :class:`RateLimiter`) and the
    Redis connection pool it uses (None in memory), which the caller closes: ``limits`` has no close
    method. Shared with the fraud controls' velocity windows (``hub.fraud.windows``)."""
    scheme = urlsplit(uri).scheme
    if scheme in _MEMORY_SCHEMES:
        return SweptMemoryStorage(), None
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


class RateLimiter:
    """Admits or refuses requests by user and IP; an async context manager that closes its storage.

    ``storage_uri`` is ``memory://`` (this process only) or ``async+redis://host:port/db`` (shared by all
    processes; ``redis://``, ``rediss://`` and ``async+rediss://`` work too). ``key_prefix`` namespaces
    every key in Redis; :meth:`reset` deletes every key under it.
    """

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        user_per_min: int = 100,
        ip_per_min: int = 1000,
        key_prefix: str = "payhub:rl",
        retry_shared_s: float = 5.0,
        alerts: Alerts | None = None,
    ) -> None:
        if user_per_min < 1 or ip_per_min < 1:
            raise ConfigError("rate limits must be at least 1 request per minute")
        self._storage, self._pool = open_storage(storage_uri, key_prefix)
        self._strategy = MovingWindowRateLimiter(self._storage)
        # The per-process fall-back while the shared storage is down (None: the storage is the process).
        self._local = None if isinstance(self._storage, MemoryStorage) else SweptMemoryStorage()
        self._local_strategy = None if self._local is None else MovingWindowRateLimiter(self._local)
        self._retry_shared_s = retry_shared_s
        self._alerts = alerts if alerts is not None else Alerts()
        self._shared_down_until = 0.0
        self.degraded = False
        self.fallbacks = 0
        self._user_windows = _windows("user", user_per_min)
        self._ip_windows = _windows("ip", ip_per_min)

    async def __aenter__(self) -> RateLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def hit(self, *, user: str | None, ip: str) -> None:
        """Consume one request for ``user`` (if any) and for ``ip``'s client (an IPv6 address: its /64),
        or raise :class:`RateLimitExceeded`.

        The error's ``retry_after`` is the whole seconds (≥ 1) until this request would pass, its
        ``details`` are ``{"limit": "<n> per <s> s", "scope": "user" | "ip"}`` for the window that frees
        last. Never fails for want of the shared storage: see the module docstring.
        """
        checks = [_Check(w, user) for w in self._user_windows] if user else []
        checks += [_Check(w, client_key(ip)) for w in self._ip_windows]
        if self._local_strategy is not None and time.monotonic() < self._shared_down_until:
            self.fallbacks += 1
            await self._hit(self._local_strategy, checks)
            return
        try:
            await self._hit(self._strategy, checks)
        except self._storage.base_exceptions as exc:
            if self._local_strategy is None:
                raise ServiceUnavailable("Rate-limit storage unavailable") from exc
            self._fall_back(exc)
            await self._hit(self._local_strategy, checks)
            return
        if self.degraded:
            self.degraded = False
            log.warning("rate-limit storage reachable again; limits are shared across processes again")

    async def _hit(self, strategy: MovingWindowRateLimiter, checks: list[_Check]) -> None:
        refused = [c for c in checks if not await strategy.test(*self._args(c))]
        if refused:
            raise await self._exceeded(strategy, refused)
        for check in checks:
            if not await strategy.hit(*self._args(check)):
                raise await self._exceeded(strategy, [check])  # a concurrent request took the last slot

    def _fall_back(self, exc: BaseException) -> None:
        self._shared_down_until = time.monotonic() + self._retry_shared_s
        self.fallbacks += 1
        if not self.degraded:
            self.degraded = True
            self._alerts.raise_(AlertKind.RATELIMIT_STORAGE_DOWN, log, error=type(exc).__name__)

    async def reset(self) -> None:
        """Forget every request counted so far (under ``key_prefix`` for Redis)."""
        if self._local is not None:
            await self._local.reset()
        try:
            await self._storage.reset()
        except self._storage.base_exceptions as exc:
            raise ServiceUnavailable("Rate-limit storage unavailable") from exc

    async def aclose(self) -> None:
        """Release the storage: the Redis connections, or the memory storage's expiry task. Idempotent."""
        if self._pool is not None:
            await self._pool.aclose()
        for storage in (self._storage, self._local):
            if isinstance(storage, MemoryStorage) and (timer := storage.timer) is not None:
                timer.cancel()
                await asyncio.gather(timer, return_exceptions=True)
                storage.timer = None

    @staticmethod
    def _args(check: _Check) -> tuple[RateLimitItem, str, str]:
        return check.window.item, check.window.scope, check.subject

    async def _exceeded(self, strategy: MovingWindowRateLimiter, refused: list[_Check]) -> RateLimitExceeded:
        now = time.time()
        waits: list[tuple[int, _Check]] = []
        for check in refused:
            stats = await strategy.get_window_stats(*self._args(check))
            expiry = check.window.item.get_expiry()
            waits.append((min(expiry, max(1, math.ceil(stats.reset_time - now))), check))
        retry_after, worst = max(waits, key=lambda wait: wait[0])
        item = worst.window.item
        return RateLimitExceeded(
            retry_after=retry_after,
            details={"limit": f"{item.amount} per {item.get_expiry()} s", "scope": worst.window.scope},
        )
