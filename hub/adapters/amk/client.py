"""HTTP client for AMK's partner API (or the sandbox that plays it).

Errors are converted where they cross in: transport failures, timeouts and 5xx become
``AmkUnavailable`` (retriable); anything else unexpected becomes ``AmkUnknownError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from hub.adapters.amk.hashing import verify_hash
from hub.domain.money import Currency, MoneyError, parse_amount, parse_currency
from hub.errors import AmkUnavailable, AmkUnknownError
from hub.json_codec import loads_object
from hub.resilience.retry import with_retries

log = logging.getLogger("payhub.amk")

PAID = "PAID"


@dataclass(frozen=True)
class Verification:
    """AMK's word on one transaction: status PAID | UNPAID | FAILED | NOT_FOUND."""

    tx_id: str
    status: str
    amount: Decimal | None = None
    currency: Currency | None = None

    @property
    def paid(self) -> bool:
        return self.status == PAID


@dataclass(frozen=True)
class AmkConfig:
    verify_url: str
    merchant_id: str
    store_id: str
    terminal_id: str
    secret_key: str
    retry_attempts: int = 3
    retry_initial_s: float = 1.0
    retry_max_s: float = 10.0
    retry_jitter: float = 0.1


class AmkClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        config: AmkConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._http = http
        self._cfg = config
        self._clock = clock
        self._sleep = sleep

    async def verify_payment(self, tx_id: str) -> Verification:
        """Ask AMK whether ``tx_id`` was paid, retrying retriable failures with backoff."""
        kwargs: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        return await with_retries(
            lambda: self._verify_once(tx_id),
            attempts=self._cfg.retry_attempts,
            initial_s=self._cfg.retry_initial_s,
            max_s=self._cfg.retry_max_s,
            jitter=self._cfg.retry_jitter,
            **kwargs,
        )

    async def _verify_once(self, tx_id: str) -> Verification:
        fields = {
            "merchantId": self._cfg.merchant_id,
            "storeId": self._cfg.store_id,
            "terminalId": self._cfg.terminal_id,
            "txId": tx_id,
            "timestamp": str(int(self._clock() * 1000)),
        }
        form = {**fields, "hash": verify_hash(self._cfg.secret_key, fields)}
        try:
            response = await self._http.post(self._cfg.verify_url, data=form)
        except httpx.HTTPError as exc:
            log.warning("AMK verify unreachable", extra={"txId": tx_id, "error": repr(exc)})
            raise AmkUnavailable("AMK payment-verify unreachable", details=repr(exc)) from exc
        if response.status_code >= 500:
            raise AmkUnavailable("AMK payment-verify answered " + str(response.status_code))
        try:
            body = loads_object(response.content)  # amounts as exact Decimals, never floats
        except ValueError as exc:
            raise AmkUnknownError("AMK payment-verify answered non-JSON") from exc
        if response.status_code == 404 or body.get("code") == "NOT_FOUND":
            return Verification(tx_id, "NOT_FOUND")
        if response.status_code != 200 or not isinstance(body.get("data"), dict):
            raise AmkUnknownError("AMK payment-verify refused the request", details=body)
        data = body["data"]
        try:
            currency = parse_currency(data["currency"]) if data.get("currency") else None
            amount = None
            if data.get("amount") is not None:
                if currency is None:
                    raise MoneyError("an amount without a currency")
                amount = parse_amount(data["amount"], currency)
        except MoneyError as exc:
            raise AmkUnknownError("AMK payment-verify answered unreadable amounts", details=data) from exc
        return Verification(str(data.get("txId", tx_id)), str(data.get("status", "")).upper(), amount, currency)
