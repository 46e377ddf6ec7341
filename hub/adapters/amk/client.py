"""HTTP client for AMK's partner API (or the sandbox that plays it).

Errors are converted where they cross in, by ONE function (``classify``) that reads every answer
of payment-verify: transport failures, timeouts, 5xx and 429 become ``AmkUnavailable``
(retriable); every refusal or unreadable answer becomes an ``AmkUnknownError`` carrying the spec's
error code (MERCHANT_NOT_BIND, BANK_NOT_FOUND, else AMK_UNKNOWN_ERROR, spec "Enhanced Error Codes")
and a bounded ``amk_code`` label. Each refusal is logged as an ALERT and counted (``on_refusal``):
a merchant misconfiguration rejects every payment, so it must never pass unnoticed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from hub.adapters.amk.hashing import verify_hash
from hub.alerts import AlertKind, Alerts
from hub.domain.money import MoneyError, parse_amount, parse_currency
from hub.domain.records import Verification
from hub.errors import AmkBankNotFound, AmkMerchantNotBound, AmkUnavailable, AmkUnknownError
from hub.http.client_metrics import ENDPOINT
from hub.json_codec import dumps, loads
from hub.resilience.retry import with_retries

log = logging.getLogger("payhub.amk")

PAID = "PAID"
NOT_FOUND = "NOT_FOUND"
# What AMK writes in ``code`` when all is well (the sandbox and AMK's examples use "00").
SUCCESS_CODES = frozenset({"00", "0", "000", "SUCCESS", "OK"})
# Transient by nature: asked again with backoff, never a refusal.
# SERVICE_UNAVAILABLE is the spec's own service-level example ("Enhanced Error Handling").
RETRIABLE_CODES = frozenset({"SERVER_UNAVAILABLE", "SERVICE_UNAVAILABLE", "RATE_LIMIT_EXCEEDED", "TIMEOUT"})
RETRIABLE_HTTP = frozenset({408, 425, 429})
# Refusals with their own spec error code; any other code is AMK_UNKNOWN_ERROR.
_REFUSALS: dict[str, type[AmkUnknownError]] = {
    "MERCHANT_NOT_BIND": AmkMerchantNotBound,
    "BANK_NOT_FOUND": AmkBankNotFound,
}
# Other codes AMK is known to send, kept as their own metric label; the rest count as "unknown".
KNOWN_REFUSAL_CODES = frozenset({"BAD_REQUEST", "INVALID_HASH", "UNAUTHORIZED", "FORBIDDEN", "FRAUD_DETECTED"})
UNREADABLE = "unreadable"
UNKNOWN = "unknown"
# Every value the ``amk_code`` label can take (bounded, whatever AMK sends).
REFUSAL_LABELS = frozenset({*_REFUSALS, *KNOWN_REFUSAL_CODES, UNREADABLE, UNKNOWN})


class VerifyWire(Protocol):
    """Carries one payment-verify form to a bank in this process and brings back its answer (HTTP
    status, body bytes): ``sandbox.verify.InProcessVerify`` in the embedded process, where an HTTP hop
    through the process's own ASGI app cost more than the verification itself. ``endpoint`` names the
    call for the request-time metric, as ``extensions={ENDPOINT: ...}`` does over HTTP."""

    async def post_form(self, endpoint: str, form: Mapping[str, str]) -> tuple[int, bytes]: ...


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
        on_refusal: Callable[[AmkUnknownError], None] | None = None,
        alerts: Alerts | None = None,
        wire: VerifyWire | None = None,
    ) -> None:
        self._http = http
        self._wire = wire  # payment-verify goes through it instead of ``http`` when given
        self._cfg = config
        self._clock = clock
        self._sleep = sleep
        self.on_refusal = on_refusal  # counts refusals (metrics); set after construction by wiring
        self.alerts = alerts if alerts is not None else Alerts()  # the process's ALERT sink

    async def verify_payment(self, tx_id: str) -> Verification:
        """Ask AMK whether ``tx_id`` was paid, retrying retriable failures with backoff.

        Raises ``AmkUnavailable`` after the last attempt, or at once an ``AmkUnknownError``
        (refusal or unreadable answer), which is logged as an ALERT and counted first.
        """
        kwargs: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        try:
            return await with_retries(
                lambda: self._verify_once(tx_id),
                attempts=self._cfg.retry_attempts,
                initial_s=self._cfg.retry_initial_s,
                max_s=self._cfg.retry_max_s,
                jitter=self._cfg.retry_jitter,
                **kwargs,
            )
        except AmkUnknownError as exc:
            self.alerts.raise_(
                AlertKind.AMK_VERIFY_REFUSED,
                log,
                txId=tx_id,
                code=exc.code,
                amkCode=exc.amk_code,
                details=exc.details,
            )
            if self.on_refusal is not None:
                self.on_refusal(exc)
            raise

    async def _verify_once(self, tx_id: str) -> Verification:
        fields = {
            "merchantId": self._cfg.merchant_id,
            "storeId": self._cfg.store_id,
            "terminalId": self._cfg.terminal_id,
            "txId": tx_id,
            "timestamp": str(int(self._clock() * 1000)),
        }
        form = {**fields, "hash": verify_hash(self._cfg.secret_key, fields)}
        if self._wire is not None:
            status_code, content = await self._wire.post_form("payment-verify", form)
            return classify(tx_id, status_code, content)
        try:
            response = await self._http.post(self._cfg.verify_url, data=form, extensions={ENDPOINT: "payment-verify"})
        except httpx.HTTPError as exc:
            log.warning("AMK verify unreachable", extra={"txId": tx_id, "error": repr(exc)})
            raise AmkUnavailable("AMK payment-verify unreachable", details=repr(exc)) from exc
        return classify(tx_id, response.status_code, response.content)


def classify(tx_id: str, status_code: int, content: bytes) -> Verification:
    """Read one payment-verify answer: AMK's verdict, or the error it amounts to.

    Returns a ``Verification`` (status upper-cased; ``NOT_FOUND`` for an unknown transaction).
    Raises ``AmkUnavailable`` (retriable: 5xx, 408/425/429, SERVER_UNAVAILABLE-like codes) or an
    ``AmkUnknownError`` subclass (not retriable) for everything else, never any other exception.
    """
    if status_code >= 500 or status_code in RETRIABLE_HTTP:
        raise AmkUnavailable(f"AMK payment-verify answered {status_code}")
    try:
        body: Any = loads(content)  # amounts as exact Decimals, never floats
    except ValueError as exc:  # MalformedJson: not UTF-8, not JSON, too deep or too large
        raise _refusal(UNREADABLE, status_code, "AMK payment-verify answered non-JSON", None) from exc
    if not isinstance(body, dict):
        raise _refusal(UNREADABLE, status_code, "AMK payment-verify answered JSON that is not an object", body)
    code = _code(body)
    if code in RETRIABLE_CODES:
        raise AmkUnavailable(f"AMK payment-verify answered {code}")
    if (status_code == 404 and code in ("", NOT_FOUND)) or (status_code == 200 and code == NOT_FOUND):
        return Verification(tx_id, NOT_FOUND)
    data = body.get("data")
    # ``"success": false`` (the spec's error envelope) is a refusal whatever else the answer holds.
    if status_code != 200 or (code and code not in SUCCESS_CODES) or body.get("success") is False:
        raise _refusal(code or UNKNOWN, status_code, "AMK payment-verify refused the request", body)
    if not isinstance(data, dict):
        raise _refusal(UNREADABLE, status_code, "AMK payment-verify answered without data", body)
    status = data.get("status")
    if not isinstance(status, str) or not status.strip():
        raise _refusal(UNREADABLE, status_code, "AMK payment-verify answered no status", body)
    try:
        currency = parse_currency(data["currency"]) if data.get("currency") else None
        amount = None
        if data.get("amount") is not None:
            if currency is None:
                raise MoneyError("an amount without a currency")
            amount = parse_amount(data["amount"], currency)
    except (MoneyError, AttributeError, TypeError) as exc:  # AttributeError: a currency that is no text
        raise _refusal(UNREADABLE, status_code, "AMK payment-verify answered unreadable amounts", body) from exc
    return Verification(str(data.get("txId", tx_id)), status.strip().upper(), amount, currency)


def _code(body: dict[str, Any]) -> str:
    """AMK's error or success code, normalised: upper case, spaces and hyphens as underscores.

    Read from ``code`` at the top, else from the spec's error envelope
    (``{"success": false, "error": {"code": ...}}``, spec "Enhanced Error Handling"), else from
    ``errorCode``; "" when there is none. A code is a string or an integer (``0``).
    """
    error = body.get("error")
    for raw in (body.get("code"), error.get("code") if isinstance(error, dict) else None, body.get("errorCode")):
        if isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw).strip():
            return re.sub(r"[\s\-]+", "_", str(raw).strip()).upper()
    return ""


def _refusal(code: str, status_code: int, message: str, body: Any) -> AmkUnknownError:
    kind = _REFUSALS.get(code, AmkUnknownError)
    error = kind(message, details={"httpStatus": status_code, "amkCode": code[:64], "answer": _excerpt(body)})
    if kind is AmkUnknownError:
        error.amk_code = code if code in REFUSAL_LABELS else UNKNOWN
    return error


def _excerpt(body: Any) -> str | None:
    """What AMK said, small enough for a log line and a review row."""
    return dumps(body)[:500] if body is not None else None
