"""Sandbox routes under ``/sandbox/amk`` (mounted only in sandbox mode)."""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.adapters.amk import statement_csv
from hub.adapters.amk.hashing import VERIFY_FIELDS, hash_matches
from hub.domain.khqr.codec import AdditionalData, KhqrError, KhqrPayload, MerchantAccount, encode
from hub.domain.khqr.image import render_png
from hub.domain.money import MoneyError, parse_amount, parse_currency
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import JSONResponse, ok
from hub.secrets_policy import SANDBOX_BAKONG_ACCOUNT
from sandbox.simulate import SimulateRequest, Simulator
from sandbox.state import SandboxState, Transaction
from sandbox.statements import apply_edits, plan_edits, statement_entries

SANDBOX_MERCHANT_NAME = "PAYHUB SANDBOX INSURER"
SANDBOX_CITY = "Phnom Penh"


_EPOCH_MS = range(10**12, 10**13)  # the 13-digit milliseconds of KHQR tag 99


def build_qr(body: dict[str, Any], *, merchant_id: str, now_ms: int) -> KhqrPayload:
    """The QR that ``body`` (PayHub's request) asks for; ``ValueError`` (a ``MoneyError`` or ``KhqrError`` among
    them) or ``KeyError`` if it cannot be made. Types are checked before any conversion: ``int()`` of a
    JSON number such as ``1E+3000000`` would hold the event loop for minutes."""
    currency = parse_currency(body["currency"])
    if not isinstance(body["invoiceNumber"], str) or not isinstance(body["billNumber"], str):
        raise ValueError("invoiceNumber and billNumber must be strings")
    expires = body["expiresAt"]
    if isinstance(expires, bool) or not isinstance(expires, int) or expires not in _EPOCH_MS:
        raise ValueError("expiresAt must be an integer: 13-digit epoch milliseconds")
    return KhqrPayload(
        account=MerchantAccount(SANDBOX_BAKONG_ACCOUNT, merchant_id, "AMK Sandbox"),
        merchant_name=SANDBOX_MERCHANT_NAME,
        merchant_city=SANDBOX_CITY,
        currency=currency.value,
        amount=parse_amount(body["amount"], currency),
        dynamic=True,
        additional=AdditionalData(
            bill_number=str(body["billNumber"]),
            store_label="PayHub",
            terminal_label=str(body["invoiceNumber"])[:25],
        ),
        created_ms=now_ms,
        expires_ms=expires,
    )


PREFIX = "/sandbox/amk"


@dataclass
class SandboxDeps:
    state: SandboxState
    simulator: Simulator
    username: str
    password: str
    merchant_id: str
    store_id: str
    terminal_id: str
    secret_key: str


def _amk_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def routes(d: SandboxDeps) -> list[BaseRoute]:
    async def sign_in(request: Request) -> Response:
        body = parse_json_object(await read_body(request, 4096))
        user_ok = hmac.compare_digest(str(body.get("username", "")).encode(), d.username.encode())
        pass_ok = hmac.compare_digest(str(body.get("password", "")).encode(), d.password.encode())
        if not (user_ok and pass_ok):
            return _amk_error(401, "UNAUTHORIZED", "Invalid username or password")
        token, ttl = d.state.sign_in()
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    async def payment_verify(request: Request) -> Response:
        form = await request.form()
        fields = {name: str(form.get(name, "")) for name in (*VERIFY_FIELDS, "hash")}
        missing = [name for name, value in fields.items() if not value]
        if missing:
            return _amk_error(400, "BAD_REQUEST", f"missing: {', '.join(missing)}")
        if (fields["merchantId"], fields["storeId"], fields["terminalId"]) != (
            d.merchant_id,
            d.store_id,
            d.terminal_id,
        ):
            return _amk_error(403, "MERCHANT_NOT_BIND", "Unknown merchant, store or terminal")
        if not fields["timestamp"].isdigit() or abs(time.time() * 1000 - int(fields["timestamp"])) > 300_000:
            return _amk_error(400, "BAD_REQUEST", "timestamp outside 5 minutes")
        if not hash_matches(d.secret_key, fields, fields["hash"]):
            return _amk_error(401, "INVALID_HASH", "Hash does not match")
        if not d.state.verify_available:
            return _amk_error(503, "SERVER_UNAVAILABLE", "Sandbox verify switched off")
        if d.state.verify_delay_s:
            await asyncio.sleep(d.state.verify_delay_s)
        tx = d.state.transactions.get(fields["txId"])
        if tx is None:
            return _amk_error(404, "NOT_FOUND", f"No transaction {fields['txId']}")
        data = {"txId": tx.tx_id, "status": tx.status, "amount": tx.amount, "currency": tx.currency}
        return JSONResponse({"code": "00", "message": "OK", "data": data})

    async def qr_generator(request: Request) -> Response:
        """A real dynamic KHQR for the sandbox merchant (tag 30), with its PNG unless switched off."""
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not d.state.token_valid(auth[7:].strip()):
            return _amk_error(401, "UNAUTHORIZED", "Sign in first")
        body = parse_json_object(await read_body(request, 8192))
        try:
            qr = build_qr(body, merchant_id=d.merchant_id, now_ms=int(time.time() * 1000))
            qr_string = encode(qr)  # refuses what a KHQR cannot hold (a 200-character bill number)
        except (KhqrError, MoneyError, KeyError, ValueError) as exc:
            return _amk_error(400, "BAD_REQUEST", str(exc))
        d.state.qr_codes[str(body["invoiceNumber"])] = Transaction(
            str(body["invoiceNumber"]), "ISSUED", qr.amount or Decimal(0), qr.currency
        )
        data: dict[str, Any] = {"qrString": qr_string, "expiresAt": qr.expires_ms}
        if d.state.qr_images:
            data["qrImage"] = render_png(data["qrString"])
        return JSONResponse({"code": "00", "message": "OK", "data": data})

    async def simulate_pay(request: Request) -> Response:
        body = parse_json_object(await read_body(request, 16 * 1024))
        result = await d.simulator.pay(SimulateRequest.from_json(body))
        return ok(result)

    async def control(request: Request) -> Response:
        """Switch sandbox behaviour for demos and fault tests: ``{"verifyAvailable": false}``,
        ``{"verifyDelayS": 0.05}`` (a slow bank), ``{"statement": {"drop"|"add"|"alter": [...]}}``
        (see ``sandbox.statements``)."""
        body: dict[str, Any] = parse_json_object(await read_body(request, 4 * 1024 * 1024))
        # Everything is checked before anything changes: a refused request leaves the sandbox as it was.
        switches = {name: body[name] for name in ("verifyAvailable", "qrImages") if name in body}
        for name, value in switches.items():
            if not isinstance(value, bool):  # bool("false") is True
                return _amk_error(400, "BAD_REQUEST", f"{name}: must be true or false")
        delay = body.get("verifyDelayS", d.state.verify_delay_s)
        if isinstance(delay, bool) or not isinstance(delay, int | float | Decimal) or not 0 <= delay <= 10:
            return _amk_error(400, "BAD_REQUEST", "verifyDelayS: seconds from 0 to 10")
        plan = plan_edits(d.state, body["statement"]) if "statement" in body else []
        paid = body.get("paidTransactions") or []
        if not isinstance(paid, list):
            return _amk_error(400, "BAD_REQUEST", "paidTransactions: must be a list")
        known: list[Transaction] = []
        for tx in paid:  # the bank knows these (benchmarks, demos)
            try:
                currency = parse_currency(tx["currency"])
                amount = parse_amount(tx["amount"], currency)
                known.append(Transaction(str(tx["txId"]), "PAID", amount, currency.value))
            except (KeyError, TypeError, MoneyError) as exc:
                return _amk_error(400, "BAD_REQUEST", f"paidTransactions: {exc}")
        if "verifyAvailable" in switches:
            d.state.verify_available = switches["verifyAvailable"]
        if "qrImages" in switches:
            d.state.qr_images = switches["qrImages"]
        for transaction in known:
            d.state.record(transaction)
        d.state.verify_delay_s = float(delay)
        apply_edits(d.state, plan)
        return ok(
            {
                "verifyAvailable": d.state.verify_available,
                "qrImages": d.state.qr_images,
                "signIns": d.state.sign_ins,
                "verifyDelayS": d.state.verify_delay_s,
                "statementEdits": len(plan),
            }
        )

    async def statement(request: Request) -> Response:
        """AMK's settlement statement of a day, as the sandbox bank holds it (see ``sandbox.statements``)."""
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            return _amk_error(400, "BAD_REQUEST", "the statement's day is written YYYY-MM-DD")
        body = statement_csv.render(statement_entries(d.state, day))
        return Response(body, media_type=statement_csv.MEDIA_TYPE)

    return [
        Route(f"{PREFIX}/auth/sign-in", sign_in, methods=["POST"]),
        Route(f"{PREFIX}/amkpayway/v1/api/payment/payment-verify", payment_verify, methods=["POST"]),
        Route(f"{PREFIX}/qr/generator", qr_generator, methods=["POST"]),
        Route(f"{PREFIX}/simulate/pay", simulate_pay, methods=["POST"]),
        Route(f"{PREFIX}/control", control, methods=["POST"]),
        Route(f"{PREFIX}/statements/{{day}}.csv", statement, methods=["GET"]),
    ]
