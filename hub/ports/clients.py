"""Ports of what PayHub calls: AMK, the integration service, a cache and the rate limiter."""

from __future__ import annotations

from typing import Protocol

from hub.domain.records import Premium, QrRequest, QrResult, Verification


class Cache(Protocol):
    """Bytes by key with a TTL. A cache may forget anything at any time; callers must cope."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def aclose(self) -> None: ...


class RateLimiter(Protocol):
    """Counts a request against its user's and its IP's windows.

    ``hit`` raises ``RateLimitExceeded`` (with ``retry_after``) when a window is full, and
    ``ServiceUnavailable`` when the limiter's storage cannot be reached.
    """

    async def hit(self, *, user: str | None, ip: str) -> None: ...
    async def reset(self) -> None: ...
    async def aclose(self) -> None: ...


class AmkVerifier(Protocol):
    """AMK's verify-payment call. Raises ``AmkUnavailable`` (retriable) or ``AmkUnknownError``."""

    async def verify_payment(self, tx_id: str) -> Verification: ...


class AmkQrGenerator(Protocol):
    """AMK's ``/qr/generator``. Raises ``AmkUnavailable`` (retriable) or ``AmkUnknownError``."""

    async def generate(self, req: QrRequest) -> QrResult: ...


class PremiumSource(Protocol):
    """The integration service's premiums. Both raise ``NotFound`` or ``ServiceUnavailable``."""

    async def due_premium(self, query: str) -> Premium:
        """The premium due for a policy or application number."""
        ...

    async def premium(self, premium_id: int) -> Premium: ...
