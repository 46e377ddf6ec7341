"""``simulate/pay``: the sandbox bank pays a bill or a KHQR and tells the gateway, as AMK would.

It records the transaction (so payment-verify knows it), then sends correctly signed webhooks
(bearer token with role amk, ``X-AMK-Timestamp``/``X-AMK-Signature``), retrying like a bank on
network errors, 5xx and 429; ``duplicates`` more copies of the same webhook are sent at once
afterwards. It returns every body it sent with every answer it got.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import httpx

from hub.adapters.amk.signature import signature_header
from hub.auth import Authenticator
from hub.domain.money import MoneyError, format_amount, parse_amount, parse_currency, read_decimal
from hub.domain.timezones import BANGKOK, GMT7
from hub.errors import BadRequest, NotFound, PayHubError, ServiceUnavailable
from hub.json_codec import dumps_bytes, loads, loads_object
from hub.resilience.retry import retry_until
from sandbox.state import SandboxState, Transaction
from sandbox.wire import GatewayWire

MAX_DUPLICATES = 50
TOKEN_TTL_S = 300
BILL_NUMBER = re.compile(r"[A-Za-z0-9]{1,10}", re.ASCII)


@dataclass(frozen=True)
class SimulateRequest:
    payment_id: int | None
    bill_number: str | None
    method: str
    outcome: str
    duplicates: int
    amount: Decimal | None
    currency: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SimulateRequest:
        errors = []
        payment_id, bill = body.get("paymentId"), body.get("billNumber")
        if payment_id is None and not bill:
            errors.append({"field": "paymentId", "message": "paymentId or billNumber is required"})
        if payment_id is not None and (isinstance(payment_id, bool) or not isinstance(payment_id, int)):
            errors.append({"field": "paymentId", "message": "must be an integer"})
        if bill not in (None, "") and not (isinstance(bill, str) and BILL_NUMBER.fullmatch(bill)):
            # the gateway's inquiry rule; forwarded as it was, its 400 came back as our 503
            errors.append({"field": "billNumber", "message": "1-10 ASCII letters or digits"})
        method = _word(body, "method", "KHQR" if payment_id is not None else "BILL", ("KHQR", "BILL"), errors)
        outcome = _word(body, "outcome", "SUCCESS", ("SUCCESS", "FAILED"), errors)
        currency = body.get("currency")
        if currency is not None and not isinstance(currency, str):
            errors.append({"field": "currency", "message": "USD or KHR (text), or null for the premium's"})
        if outcome == "FAILED" and method == "BILL":
            errors.append({"field": "outcome", "message": "bill payments only report success"})
        duplicates = body.get("duplicates", 0)
        if not isinstance(duplicates, int) or isinstance(duplicates, bool) or not 0 <= duplicates <= MAX_DUPLICATES:
            errors.append({"field": "duplicates", "message": f"integer 0..{MAX_DUPLICATES}"})
            duplicates = 0
        amount = body.get("amount")
        if amount is not None:
            try:
                amount = read_decimal(amount)  # the currency's bounds are checked in ``pay``
            except MoneyError as exc:
                errors.append({"field": "amount", "message": exc.reason})
        if errors:
            raise BadRequest("Invalid simulate request", details=errors)
        return cls(
            payment_id,
            bill,
            method,
            outcome,
            duplicates,
            amount,
            currency,
        )


def _refusal(status: int, content: bytes) -> PayHubError:
    """The gateway's 4xx answer as the same error (status, code, message, details): a refusal (a blocklisted
    policy's 403 FRAUD_DETECTED, a 429) is not an outage, and is not answered as one (503)."""
    try:
        error = loads_object(content)["error"]
        err = PayHubError(str(error["message"]), details=error.get("details"), retry_after=error.get("retryAfter"))
        err.code = str(error["code"])
    except (ValueError, KeyError, TypeError):
        return ServiceUnavailable(f"gateway answered {status}", details=_text(content))
    err.status_code = status
    return err


def _text(content: bytes) -> str:
    """The first 500 characters of an answer's body, as ``httpx.Response.text[:500]`` read it."""
    return content.decode("utf-8", errors="replace")[:500]


def _word(body: dict[str, Any], field: str, default: str, allowed: tuple[str, ...], errors: list[Any]) -> str:
    """``body[field]`` in upper case, one of ``allowed``; absent, null or empty: ``default``. Anything but
    text is refused (``str(false or default)`` would have paid with the default)."""
    value = body.get(field)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value.upper() not in allowed:
        errors.append({"field": field, "message": " or ".join(allowed)})
        return default
    return value.upper()


class BillLookup(Protocol):
    """The gateway's answer to the bank's bill inquiry (``GET /AMK/payments?query=``), asked without HTTP
    (``gateway.bank_inquiry.LocalBills``): its ``data``; ``NotFound`` when no premium is due, the
    gateway's other refusals as they are, ``ServiceUnavailable`` when it failed."""

    async def bill(self, bill_number: str) -> dict[str, Any]: ...


class Simulator:
    def __init__(
        self,
        state: SandboxState,
        gateway: GatewayWire,
        auth: Authenticator,
        *,
        webhook_secret: str,
        merchant_id: str,
        retry_delays: tuple[float, ...] = (0.2, 0.5),
        bills: BillLookup | None = None,
    ) -> None:
        """``bills``: the bill look-up without HTTP when the gateway serves in this process; without it the
        simulator asks ``gateway`` as the bank does. Webhooks are always posted through ``gateway``: they
        are what the sandbox simulates, signature, token and all."""
        self._state = state
        self._gw = gateway
        self._bills = bills
        self._auth = auth
        self._secret = webhook_secret
        self._merchant = merchant_id
        self._delays = retry_delays
        self._tokens: dict[str, tuple[str, float]] = {}  # role -> (token, when to mint the next one)

    async def pay(self, req: SimulateRequest) -> dict[str, Any]:
        target = await self._target(req)
        try:
            currency = parse_currency(req.currency or target["currency"])
            amount = parse_amount(req.amount if req.amount is not None else target["amount"], currency)
        except MoneyError as exc:
            raise BadRequest(exc.reason, details=[{"field": exc.field, "message": exc.reason}]) from exc
        now = self._state.now()
        body, tx_id = self._webhook(req, target, amount, currency.value, now)
        status = "PAID" if req.outcome == "SUCCESS" else "FAILED"
        bill = str(target.get("id") or "") or None
        self._state.record(Transaction(tx_id, status, amount, currency.value, req.method, now, bill))
        path = "/AMK/khqr" if req.method == "KHQR" else "/AMK/payments"
        raw = dumps_bytes(body)
        sent = [await self._send(path, raw)]
        if req.duplicates:
            sent += await asyncio.gather(*(self._send(path, raw) for _ in range(req.duplicates)))
        return {"method": req.method, "transactionId": tx_id, "webhooks": sent}

    async def _target(self, req: SimulateRequest) -> dict[str, Any]:
        """What the bank knows of the bill: via the gateway's biller lookup or the payment."""
        if req.payment_id is not None:
            token = self._token("service")
            answer = await self._gw.request(
                "GET", f"/api/payments/{req.payment_id}", {"Authorization": f"Bearer {token}"}
            )
            if answer[0] == 404:
                raise NotFound(f"No payment {req.payment_id}")
            data = self._data(answer)
            return {**data, "id": data["premiumId"]}
        if self._bills is not None:
            return await self._bills.bill(req.bill_number or "")
        token = self._token("amk")
        answer = await self._gw.request(
            "GET", "/AMK/payments", {"Authorization": f"Bearer {token}"}, params={"query": req.bill_number or ""}
        )
        if answer[0] == 404:
            raise NotFound(f"No premium due for {req.bill_number}")
        return self._data(answer)

    def _token(self, role: str) -> str:
        """The bank's bearer token for ``role`` (subject ``sandbox-amk``, valid 300 s), used as a bank uses
        one: until a minute before it expires, not minted per request (a JWT signed, and checked by the
        gateway without its cache of checked tokens, per webhook)."""
        now = time.monotonic()
        held = self._tokens.get(role)
        if held is None or now >= held[1]:
            held = (self._auth.issue("sandbox-amk", role, TOKEN_TTL_S), now + TOKEN_TTL_S - 60)
            self._tokens[role] = held
        return held[0]

    @staticmethod
    def _data(answer: tuple[int, bytes]) -> dict[str, Any]:
        status, content = answer
        if 400 <= status < 500:
            raise _refusal(status, content)
        if status != 200:
            raise ServiceUnavailable(f"gateway answered {status}", details=_text(content))
        data: dict[str, Any] = loads_object(content)["data"]
        return data

    def _webhook(
        self, req: SimulateRequest, target: dict[str, Any], amount: Decimal, currency: str, now: datetime
    ) -> tuple[dict[str, Any], str]:
        amount_json = Decimal(format_amount(amount, parse_currency(currency)))
        if req.method == "BILL":
            tx_id = f"SBX{time.time_ns()}"
            return {
                "id": int(target["id"]),
                "policyNumber": target["policyNumber"],
                "amount": amount_json,
                "currency": currency,
                "bankTransactionId": tx_id,
                "payer": target.get("payer", "Sandbox Payer"),
                "paidDate": now.astimezone(GMT7).strftime("%Y%m%d%H%M%S"),
            }, tx_id
        invoice = str(target["paymentId"])
        return {
            "invoice_number": invoice,
            "status": req.outcome,
            "merchant_number": self._merchant,
            "paid_amount": amount_json,
            "currency": currency,
            "paid_datetime": now.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M:%S.%f"),
        }, invoice

    async def _send(self, path: str, raw: bytes) -> dict[str, Any]:
        """Post like a bank: again after each of ``retry_delays`` while the answer is 5xx, 429 or none."""
        attempts: list[dict[str, Any]] = []

        async def attempt() -> dict[str, Any]:
            ts = int(time.time())
            headers = {
                "Authorization": f"Bearer {self._token('amk')}",
                "Content-Type": "application/json",
                "X-AMK-Timestamp": str(ts),
                "X-AMK-Signature": signature_header([self._secret], ts, raw),
            }
            try:
                status, content = await self._gw.request("POST", path, headers, raw)
                answer: Any = loads(content) if content else None
                attempts.append({"status": status, "response": answer})
            except httpx.HTTPError as exc:
                attempts.append({"status": None, "error": repr(exc)})
            return attempts[-1]

        def answered(a: dict[str, Any]) -> bool:
            return a["status"] is not None and a["status"] < 500 and a["status"] != 429

        await retry_until(attempt, done=answered, delays=self._delays)
        return {"body": loads(raw), "attempts": attempts}
