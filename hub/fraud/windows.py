"""The velocity rules' moving windows, kept where the rate-limit counters live (the ``limits`` library):
in this process (``memory://``, the embedded default) or in Redis (shared by every process).

A window is one rule's ``limit`` per ``window_s`` for one subject value (a policy number, a token subject,
an IP address, a device id); its key is ``<prefix>/LIMITER/<rule>/<subject>/...`` (long subject values are
hashed). Time comes from the wall clock, as ``limits``' storages read it.

When Redis fails, the windows are kept per process in memory, as the rate limiter's are
(``hub.resilience.fallback_storage``): an ALERT (``fraud_storage_down``) once per outage, ``degraded`` and
``fallbacks`` exported to /metrics, the shared storage tried again after ``retry_shared_s``. A check
therefore never fails for want of Redis, and never passes unchecked.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import NamedTuple

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter

from hub.alerts import AlertKind, Alerts
from hub.constants import FRAUD_PREFIX
from hub.fraud.rules import VelocityRule
from hub.http.client_address import client_key
from hub.resilience.fallback_storage import FallbackStorage, OnFallbackStorage

log = logging.getLogger("payhub.fraud")
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


class VelocityWindows(OnFallbackStorage):
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
        self.storage = FallbackStorage(
            storage_uri,
            key_prefix=key_prefix,
            retry_shared_s=retry_shared_s,
            alerts=alerts if alerts is not None else Alerts(),
            alert=AlertKind.FRAUD_STORAGE_DOWN,
            log=log,
            name=("fraud velocity storage", "windows"),
        )

    async def admit(self, checks: Sequence[Check]) -> list[Check]:
        """Block mode: the checks whose window is full. When none is, one request is counted in every
        window; when one is, nothing is counted (a refused request uses up no one's allowance, unless a
        concurrent request took a window's last slot between the test and the count)."""

        async def run(strategy: MovingWindowRateLimiter) -> list[Check]:
            full = [c for c in checks if not await strategy.test(c.item, *c.identifiers)]
            if full:
                return full
            return [c for c in checks if not await strategy.hit(c.item, *c.identifiers)]

        return await self.storage.run(run) if checks else []

    async def count(self, checks: Sequence[Check]) -> list[Check]:
        """Flag mode: count the request in every window that has room; returns the checks whose window
        was full (the request went on, and is not counted there)."""

        async def run(strategy: MovingWindowRateLimiter) -> list[Check]:
            return [c for c in checks if not await strategy.hit(c.item, *c.identifiers)]

        return await self.storage.run(run) if checks else []

    async def reset(self) -> None:
        """Forget everything counted (under the key prefix in Redis)."""
        await self.storage.reset()
