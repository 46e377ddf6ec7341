"""Sandbox routes under ``/sandbox/amk`` (mounted only in sandbox mode)."""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.adapters.amk import statement_csv
from hub.apidoc.declare import SANDBOX_AMK_SESSION, Operation, Reply
from hub.domain.khqr.codec import AdditionalData, KhqrError, KhqrPayload, MerchantAccount, encode
from hub.domain.khqr.image import render_png
from hub.domain.money import MoneyError, parse_amount, parse_currency
from hub.errors import BadRequest, Forbidden, FraudDetected, NotFound, RateLimitExceeded, ServiceUnavailable
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import JSONResponse, ok
from hub.secrets_policy import SANDBOX_BAKONG_ACCOUNT
from sandbox.schemas import (
    AmkError,
    Control,
    ControlState,
    QrGenerated,
    QrRequest,
    SignedIn,
    SignIn,
    Simulated,
    SimulatePay,
    StatementPath,
    Verified,
    VerifyForm,
)
from sandbox.simulate import SimulateRequest, Simulator
from sandbox.state import SandboxState, Transaction
from sandbox.statements import apply_edits, plan_edits, statement_entries
from sandbox.verify import VerifyBank, answer

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


def _refusal(status: int, what: str) -> Reply:
    return Reply(status, what, AmkError, envelope=False)


# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ. The AMK-style
# endpoints answer as AMK does (no envelope); what fails before them (unreadable JSON, size) gets the envelope.
API = (
    Operation(
        "POST",
        f"{PREFIX}/auth/sign-in",
        "AMK sign-in (sandbox): a bearer token for the QR generator",
        "sandbox",
        (
            Reply(
                model=SignedIn,
                envelope=False,
                example={"access_token": "sbx-…", "token_type": "Bearer", "expires_in": 3600},
            ),
            _refusal(401, "Wrong user name or password"),
        ),
        body=SignIn,
        body_example={"username": "payhub-sandbox", "password": "sandbox-password"},
        errors=(BadRequest,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/amkpayway/v1/api/payment/payment-verify",
        "AMK payment-verify (sandbox): is this transaction paid?",
        "sandbox",
        (
            Reply(model=Verified, envelope=False),
            _refusal(400, "A field missing, or the timestamp outside 5 minutes"),
            _refusal(401, "INVALID_HASH"),
            _refusal(403, "MERCHANT_NOT_BIND: unknown merchant, store or terminal"),
            _refusal(404, "No such transaction"),
            _refusal(503, "SERVER_UNAVAILABLE: switched off with control"),
        ),
        body=VerifyForm,
        body_media="application/x-www-form-urlencoded",
        errors=(BadRequest,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/qr/generator",
        "AMK QR generator (sandbox): a dynamic KHQR for the sandbox merchant",
        "sandbox",
        (
            Reply(model=QrGenerated, envelope=False),
            _refusal(400, "A field missing or not what a KHQR can hold"),
            _refusal(401, "No or an expired sign-in token"),
        ),
        security=((SANDBOX_AMK_SESSION,),),
        body=QrRequest,
        errors=(BadRequest,),
    ),
    Operation(
        "POST",
        f"{PREFIX}/simulate/pay",
        "Pay a bill or KHQR as the sandbox bank: sends signed webhooks to the gateway",
        "sandbox",
        (Reply(model=Simulated),),
        description="Registers the transaction with the sandbox's payment-verify, then sends the webhook(s) "
        "AMK would send (bearer token with role amk, X-AMK-Timestamp, X-AMK-Signature), retrying on 5xx and "
        "429, and returns every body sent with every answer.",
        body=SimulatePay,
        body_example={"billNumber": "P123456789", "method": "KHQR", "outcome": "SUCCESS", "duplicates": 0},
        # the gateway's refusal of the bank's look-up is passed on as it was (a blocklisted policy, a limit)
        errors=(BadRequest, NotFound, Forbidden, FraudDetected, RateLimitExceeded, ServiceUnavailable),
    ),
    Operation(
        "POST",
        f"{PREFIX}/control",
        "Switch sandbox behaviour; register transactions the bank knows as paid",
        "sandbox",
        (Reply(model=ControlState), _refusal(400, "A switch that is not true or false, or a bad transaction")),
        description="Hand-made webhooks (curl, the spec's examples) are verified with the sandbox's "
        "payment-verify: register their transaction here first, with `paidTransactions` "
        '([{"txId": "AMK202510070001", "amount": 150.00, "currency": "USD"}] for a bill payment; the KHQR '
        "transaction id is the payment id).",
        body=Control,
        body_example={"paidTransactions": [{"txId": "AMK202510070001", "amount": 150.00, "currency": "USD"}]},
        errors=(BadRequest,),
    ),
    Operation(
        "GET",
        f"{PREFIX}/statements/{{day}}.csv",
        "AMK's settlement statement of a day, as the sandbox bank holds it (CSV)",
        "sandbox",
        (
            Reply(schema={"type": "string"}, media_type="text/csv", envelope=False),
            _refusal(400, "The day is not written YYYY-MM-DD, or is no date"),
        ),
        path_params=StatementPath,
    ),
)


def _amk_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def routes(d: SandboxDeps) -> list[BaseRoute]:
    bank = VerifyBank(d.state, d.merchant_id, d.store_id, d.terminal_id, d.secret_key)

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
        status, body = await answer(bank, {name: str(value) for name, value in form.items()})
        return JSONResponse(body, status_code=status)

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
        paid = body.get("paidTransactions")
        if paid is None:
            paid = []
        if not isinstance(paid, list):  # false, 0, "" or {} are not "no transactions"
            return _amk_error(400, "BAD_REQUEST", "paidTransactions: must be a list")
        known: list[Transaction] = []
        for tx in paid:  # the bank knows these (benchmarks, demos)
            try:
                tx_id = tx["txId"]
                # str() would register null, true or {} as the ids "None", "True", "{}"
                if isinstance(tx_id, bool) or not isinstance(tx_id, str | int) or tx_id == "":
                    raise TypeError("txId must be text or an integer")
                currency = parse_currency(tx["currency"])
                amount = parse_amount(tx["amount"], currency)
                known.append(Transaction(str(tx_id), "PAID", amount, currency.value))
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
        text = request.path_params["day"]
        try:
            # YYYY-MM-DD only: Python's fromisoformat also reads 20251007 and week dates.
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                raise ValueError(text)
            day = date.fromisoformat(text)
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
