"""AMK's QR API client: sign-in token handling and ``/qr/generator``.

The bearer token is cached until shortly before it expires and refreshed by exactly one caller
when many need it at once (single flight); a 401 drops it and signs in again once. Generation
retries retriable failures with backoff inside a circuit breaker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.domain.khqr.image import render_png
from hub.domain.money import format_amount
from hub.domain.records import QrRequest, QrResult
from hub.errors import AmkAuthFailed, AmkUnavailable, AmkUnknownError
from hub.http.client_metrics import ENDPOINT
from hub.json_codec import dumps, loads_object
from hub.resilience.breaker import CircuitBreaker
from hub.resilience.retry import with_retries

log = logging.getLogger("payhub.khqr.amk")


class AmkQrClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        username: str,
        password: str,
        breaker: CircuitBreaker,
        retry_attempts: int = 3,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 10.0,
        retry_jitter: float = 0.1,
        refresh_margin_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._credentials = {"username": username, "password": password}
        self._breaker = breaker
        self._retry = (retry_attempts, retry_initial_s, retry_max_s, retry_jitter)
        self._margin = refresh_margin_s
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._token_until = 0.0
        self._lock = asyncio.Lock()
        self.sign_ins = 0

    async def token(self) -> str:
        """A valid bearer token; concurrent callers share one sign-in."""
        if self._token is not None and self._clock() < self._token_until:
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._token_until:
                return self._token
            return await self._sign_in()

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _sign_in(self) -> str:
        self.sign_ins += 1
        try:
            response = await self._http.post(
                "/auth/sign-in",
                content=dumps(self._credentials),
                headers={"Content-Type": "application/json"},
                extensions={ENDPOINT: "sign-in"},
            )
        except httpx.HTTPError as exc:
            raise AmkUnavailable("AMK sign-in unreachable", details=repr(exc)) from exc
        if response.status_code >= 500:
            raise AmkUnavailable(f"AMK sign-in answered {response.status_code}")
        if response.status_code != 200:
            raise AmkAuthFailed(details={"status": response.status_code})
        try:
            body = loads_object(response.content)
        except ValueError as exc:
            raise AmkUnknownError("AMK sign-in answered unreadable JSON") from exc
        token = str(body["access_token"])
        ttl = float(body.get("expires_in", 3600))
        self._token = token
        self._token_until = self._clock() + max(0.0, ttl - min(self._margin, ttl / 2))
        log.info("signed in to AMK", extra={"expiresIn": ttl})
        return token

    async def generate(self, req: QrRequest) -> QrResult:
        attempts, initial, maximum, jitter = self._retry

        async def with_backoff() -> QrResult:
            return await with_retries(
                lambda: self._generate_once(req),
                attempts=attempts,
                initial_s=initial,
                max_s=maximum,
                jitter=jitter,
                sleep=self._sleep,
            )

        return await self._breaker.call(with_backoff)

    async def _generate_once(self, req: QrRequest, *, relogin: bool = True) -> QrResult:
        token = await self.token()
        payload = {
            "invoiceNumber": req.invoice_number,
            "billNumber": req.bill_number,
            "amount": format_amount(req.amount, req.currency),
            "currency": req.currency.value,
            "expiresAt": int(req.expires_at.timestamp() * 1000),
        }
        try:
            response = await self._http.post(
                "/qr/generator",
                content=dumps(payload),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                extensions={ENDPOINT: "qr/generator"},
            )
        except httpx.HTTPError as exc:
            raise AmkUnavailable("AMK QR generator unreachable", details=repr(exc)) from exc
        if response.status_code == 401 and relogin:
            self.invalidate(token)
            return await self._generate_once(req, relogin=False)
        if response.status_code >= 500:
            raise AmkUnavailable(f"AMK QR generator answered {response.status_code}")
        if response.status_code != 200:
            raise AmkUnknownError("AMK QR generator refused the request", details=response.text[:300])
        try:
            data: dict[str, Any] = loads_object(response.content).get("data") or {}
        except ValueError as exc:
            raise AmkUnknownError("AMK QR generator answered unreadable JSON") from exc
        qr_string = data.get("qrString")
        if not isinstance(qr_string, str) or not qr_string:
            raise AmkUnknownError("AMK QR generator returned no QR string")
        image = data.get("qrImage")
        return QrResult(qr_string, image if isinstance(image, str) and image else render_png(qr_string))


__all__ = ["AmkAuthFailed", "AmkQrClient", "QrRequest", "QrResult", "render_png"]
