"""Per-user and per-IP rate limits over moving windows, kept in memory or in Redis (``limits`` library).

The spec asks for "100 requests/minute per authenticated user, 1000 requests/minute per IP address, burst
capacity 150% of limit for 30 seconds". We read it as two moving windows per key that must both pass:

* a burst ceiling of ``ceil(1.5 × limit)`` requests per 60 s, and
* a sustained limit of ``2 × limit`` requests per 120 s,

so a client may burst to 150 % of its limit within one minute but averages at most the limit over two.
An authenticated request counts against both its user key and its IP key; an anonymous one (``user`` is
``None`` or empty) only against its IP key.

Every window is tested before any is consumed, so a refused request consumes nothing; only when a
concurrent request takes the last slot between the test and the hit may a refused request have consumed
from the windows hit before it. Storage errors become :class:`ServiceUnavailable` (the limiter fails
closed). Time comes from the wall clock, because that is what ``limits``' storages use.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from hub.errors import ConfigError, RateLimitExceeded, ServiceUnavailable

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

_MEMORY_SCHEMES = frozenset({"memory", "async+memory"})
_REDIS_SCHEMES = frozenset({"redis", "rediss", "async+redis", "async+rediss"})
# A rate-limit check sits on every request: it must not hang on an unreachable Redis. The URL's own
# query parameters (``?socket_timeout=…``) override these.
_REDIS_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}


class _Window(NamedTuple):
    scope: str  # "user" | "ip"
    item: RateLimitItem


class _Check(NamedTuple):
    window: _Window
    subject: str  # the user id or the IP address


def _windows(scope: str, per_min: int) -> tuple[_Window, ...]:
    return (
        _Window(scope, RateLimitItemPerMinute(math.ceil(1.5 * per_min), 1)),
        _Window(scope, RateLimitItemPerMinute(2 * per_min, 2)),
    )


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
    ) -> None:
        if user_per_min < 1 or ip_per_min < 1:
            raise ConfigError("rate limits must be at least 1 request per minute")
        self._pool: ConnectionPool | None = None
        self._storage = self._open_storage(storage_uri, key_prefix)
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._user_windows = _windows("user", user_per_min)
        self._ip_windows = _windows("ip", ip_per_min)

    def _open_storage(self, uri: str, key_prefix: str) -> Storage:
        scheme = urlsplit(uri).scheme
        if scheme in _MEMORY_SCHEMES:
            return MemoryStorage()
        if scheme in _REDIS_SCHEMES:
            # Imported here so the memory backend does not need the Redis driver.
            from redis.asyncio import ConnectionPool

            # We own the pool so that aclose() can close its connections; limits has no close method.
            # limits types its options as scalars, but documents ``connection_pool``.
            self._pool = ConnectionPool.from_url(uri.removeprefix("async+"), **_REDIS_TIMEOUTS)
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = storage_from_string(
                f"async+{uri.removeprefix('async+')}",
                implementation="redispy",
                key_prefix=key_prefix,
                **options,
            )
            assert isinstance(storage, Storage)
            return storage
        raise ConfigError(f"unsupported rate-limit storage URL scheme: {scheme or uri!r}")

    async def __aenter__(self) -> RateLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def hit(self, *, user: str | None, ip: str) -> None:
        """Consume one request for ``user`` (if any) and for ``ip``, or raise :class:`RateLimitExceeded`.

        The error's ``retry_after`` is the whole seconds (≥ 1) until this request would pass, its
        ``details`` are ``{"limit": "<n> per <s> s", "scope": "user" | "ip"}`` for the window that frees
        last. Raises :class:`ServiceUnavailable` when the storage cannot be reached.
        """
        checks = [_Check(w, user) for w in self._user_windows] if user else []
        checks += [_Check(w, ip) for w in self._ip_windows]
        try:
            refused = [c for c in checks if not await self._strategy.test(*self._args(c))]
            if refused:
                raise await self._exceeded(refused)
            for check in checks:
                if not await self._strategy.hit(*self._args(check)):
                    raise await self._exceeded([check])  # a concurrent request took the last slot
        except self._storage.base_exceptions as exc:
            raise ServiceUnavailable("Rate-limit storage unavailable") from exc

    async def reset(self) -> None:
        """Forget every request counted so far (under ``key_prefix`` for Redis)."""
        try:
            await self._storage.reset()
        except self._storage.base_exceptions as exc:
            raise ServiceUnavailable("Rate-limit storage unavailable") from exc

    async def aclose(self) -> None:
        """Release the storage: the Redis connections, or the memory storage's expiry task. Idempotent."""
        if self._pool is not None:
            await self._pool.aclose()
        if isinstance(self._storage, MemoryStorage) and (timer := self._storage.timer) is not None:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
            self._storage.timer = None

    @staticmethod
    def _args(check: _Check) -> tuple[RateLimitItem, str, str]:
        return check.window.item, check.window.scope, check.subject

    async def _exceeded(self, refused: list[_Check]) -> RateLimitExceeded:
        now = time.time()
        waits: list[tuple[int, _Check]] = []
        for check in refused:
            stats = await self._strategy.get_window_stats(*self._args(check))
            expiry = check.window.item.get_expiry()
            waits.append((min(expiry, max(1, math.ceil(stats.reset_time - now))), check))
        retry_after, worst = max(waits, key=lambda wait: wait[0])
        item = worst.window.item
        return RateLimitExceeded(
            retry_after=retry_after,
            details={"limit": f"{item.amount} per {item.get_expiry()} s", "scope": worst.window.scope},
        )
