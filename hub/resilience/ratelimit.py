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

import logging
import math
import time
from typing import NamedTuple

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter

from hub.alerts import AlertKind, Alerts
from hub.errors import ConfigError, RateLimitExceeded, ServiceUnavailable
from hub.http.client_address import client_key
from hub.resilience.fallback_storage import FallbackStorage, OnFallbackStorage

log = logging.getLogger("payhub.ratelimit")
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


class RateLimiter(OnFallbackStorage):
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
        self.storage = FallbackStorage(
            storage_uri,
            key_prefix=key_prefix,
            retry_shared_s=retry_shared_s,
            alerts=alerts if alerts is not None else Alerts(),
            alert=AlertKind.RATELIMIT_STORAGE_DOWN,
            log=log,
            name=("rate-limit storage", "limits"),
        )
        self._user_windows = _windows("user", user_per_min)
        self._ip_windows = _windows("ip", ip_per_min)

    async def hit(self, *, user: str | None, ip: str) -> None:
        """Consume one request for ``user`` (if any) and for ``ip``'s client (an IPv6 address: its /64),
        or raise :class:`RateLimitExceeded`.

        The error's ``retry_after`` is the whole seconds (≥ 1) until this request would pass, its
        ``details`` are ``{"limit": "<n> per <s> s", "scope": "user" | "ip"}`` for the window that frees
        last. Never fails for want of the shared storage: see the module docstring.
        """
        checks = [_Check(w, user) for w in self._user_windows] if user else []
        checks += [_Check(w, client_key(ip)) for w in self._ip_windows]
        try:
            await self.storage.run(lambda strategy: self._hit(strategy, checks))
        except self.storage.base_exceptions as exc:  # memory:// only: there is no fall-back to use
            raise ServiceUnavailable("Rate-limit storage unavailable") from exc

    async def _hit(self, strategy: MovingWindowRateLimiter, checks: list[_Check]) -> None:
        refused = [c for c in checks if not await strategy.test(*self._args(c))]
        if refused:
            raise await self._exceeded(strategy, refused)
        for check in checks:
            if not await strategy.hit(*self._args(check)):
                raise await self._exceeded(strategy, [check])  # a concurrent request took the last slot

    async def reset(self) -> None:
        """Forget every request counted so far (under ``key_prefix`` for Redis)."""
        try:
            await self.storage.reset()
        except self.storage.base_exceptions as exc:
            raise ServiceUnavailable("Rate-limit storage unavailable") from exc

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
