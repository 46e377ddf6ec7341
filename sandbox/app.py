"""Sandbox routes under ``/sandbox/amk`` (mounted only in sandbox mode)."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.adapters.amk.hashing import VERIFY_FIELDS, hash_matches
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import JSONResponse, ok
from sandbox.simulate import SimulateRequest, Simulator
from sandbox.state import SandboxState

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
        tx = d.state.transactions.get(fields["txId"])
        if tx is None:
            return _amk_error(404, "NOT_FOUND", f"No transaction {fields['txId']}")
        data = {"txId": tx.tx_id, "status": tx.status, "amount": tx.amount, "currency": tx.currency}
        return JSONResponse({"code": "00", "message": "OK", "data": data})

    async def simulate_pay(request: Request) -> Response:
        body = parse_json_object(await read_body(request, 16 * 1024))
        result = await d.simulator.pay(SimulateRequest.from_json(body))
        return ok(result)

    async def control(request: Request) -> Response:
        """Switch sandbox behaviour for demos and fault tests: ``{"verifyAvailable": false}``."""
        body: dict[str, Any] = parse_json_object(await read_body(request, 4096))
        if "verifyAvailable" in body:
            d.state.verify_available = bool(body["verifyAvailable"])
        return ok({"verifyAvailable": d.state.verify_available, "signIns": d.state.sign_ins})

    return [
        Route(f"{PREFIX}/auth/sign-in", sign_in, methods=["POST"]),
        Route(f"{PREFIX}/amkpayway/v1/api/payment/payment-verify", payment_verify, methods=["POST"]),
        Route(f"{PREFIX}/simulate/pay", simulate_pay, methods=["POST"]),
        Route(f"{PREFIX}/control", control, methods=["POST"]),
    ]
