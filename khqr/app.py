"""KHQR routes: ``GET /khqr`` (generate or reuse a QR) and ``GET /khqr/sessions/{id}`` (status, long-poll)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.apidoc.declare import Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.errors import (
    AmkUnavailable,
    AmkUnknownError,
    BadRequest,
    BankNotFound,
    DuplicatePayment,
    Forbidden,
    FraudDetected,
    NotFound,
    RateLimitExceeded,
    ServiceUnavailable,
    Unauthorized,
)
from hub.fraud.requester import requester
from hub.http.envelope import ok
from hub.ports import RateLimiter
from khqr.schemas import KhqrCode, KhqrQuery, SessionPath, SessionQuery, SessionStatus
from khqr.service import KhqrService, parse_bank_code

CUSTOMER_ROLES = ("customer", "admin", "service")


@dataclass
class KhqrDeps:
    service: KhqrService
    auth: Authenticator
    limiter: RateLimiter


def _number(request: Request, name: str, maximum: float | None = None) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not math.isfinite(value) or value < 0 or (maximum is not None and value > maximum):
        bound = f" up to {maximum:g}" if maximum is not None else ""
        raise BadRequest(details=[{"field": name, "message": f"a non-negative number{bound}"}])
    return value


# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/khqr",
        "Generate (or reuse) the customer's KHQR code for a premium",
        "khqr",
        (
            Reply(
                model=KhqrCode,
                example={
                    "paymentId": 150001,
                    "policyId": "P123456789",
                    "customerName": "John Doe",
                    "amount": 150.00,
                    "currency": "USD",
                    "qrCode": "iVBORw0KGgoAAAANSUhEUgAAA...",
                    "qrString": "00020101021230...6304ABCD",
                    "sessionId": "5f0c6c1de5c94a8e9b1f0d7f3c2a1b90",
                    "expiresAt": "2025-10-07T12:30:00+00:00",
                    "subscribeToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
                    "eventsUrl": "/api/payments/150001/events",
                    "wsUrl": "/ws/payments",
                },
            ),
        ),
        description="One pending QR per premium: asking again returns the same session until it is paid "
        "or expires. No QR while a payment of the premium awaits AMK's verdict (409).",
        security=roles("customer", "admin", "service"),
        query=KhqrQuery,
        errors=(
            BadRequest,
            Unauthorized,
            Forbidden,
            FraudDetected,
            NotFound,
            BankNotFound,
            DuplicatePayment,
            RateLimitExceeded,
            AmkUnknownError,
            ServiceUnavailable,
            AmkUnavailable,
        ),
    ),
    Operation(
        "GET",
        "/khqr/sessions/{session_id}",
        "A QR session's status (PENDING | PAID | EXPIRED), optionally long-polled",
        "khqr",
        (Reply(model=SessionStatus),),
        description="The spec's polling loop. With `wait` the answer waits for a newer event than `after`.",
        security=roles("customer", "admin", "service", "subscriber"),
        path_params=SessionPath,
        query=SessionQuery,
        errors=(BadRequest, Unauthorized, Forbidden, NotFound, ServiceUnavailable),
    ),
)


def routes(d: KhqrDeps) -> list[BaseRoute]:
    async def generate(request: Request) -> Response:
        who = await authenticate(request, d.auth, *CUSTOMER_ROLES)
        asking = requester(request, who)  # validates X-Device-Id
        if who.role != "service":  # a PayHub service's own callers were limited where they came in
            await d.limiter.hit(user=who.sub, ip=request.client.host if request.client else "unknown")
        parse_bank_code(request.query_params.get("bankCode"))
        return ok(await d.service.generate(request.query_params.get("billNumber", ""), asking, who))

    async def session(request: Request) -> Response:
        """A QR session's status (``?wait=&after=``: long-poll): admin, service, the payment's subscribe token,
        or a customer its payment was offered to; another customer's session answers as an unknown one."""
        who = await authenticate(request, d.auth)
        wait = _number(request, "wait", 60) or 0.0
        after = _number(request, "after")
        session_id = request.path_params["session_id"]
        status = await d.service.session_status(session_id, who=who)
        if wait:
            status = await d.service.session_status(session_id, wait, None if after is None else int(after), who=who)
        return ok(status)

    return [
        Route("/khqr", generate, methods=["GET"]),
        Route("/khqr/sessions/{session_id:str}", session, methods=["GET"]),
    ]
