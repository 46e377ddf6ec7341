"""Gateway routes: premium inquiry and AMK's two webhooks (``/AMK``), and a payment's status.

The gateway process also serves the back office's admin API (``backoffice/review_api.py``:
``/admin/reviews``, look-ups), added beside these routes by ``payhub/app.py``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.bank_inquiry import answer_inquiry, count_inquiry
from gateway.dto import BillPayment, KhqrPayment, parse
from gateway.inquiry import InquiryService
from gateway.schemas import InquiryQuery, PaymentPath, PaymentView, PremiumInquiry, WebhookAnswer
from gateway.webhooks import Incoming, WebhookService
from hub.adapters.amk import signature
from hub.apidoc.declare import AMK, AMK_SIGNATURE, AMK_TIMESTAMP, Operation, Reply, roles
from hub.auth import Authenticator, authenticate
from hub.domain.records import Payment
from hub.errors import (
    AmkBankNotFound,
    AmkMerchantNotBound,
    AmkUnknownError,
    BadRequest,
    DuplicatePayment,
    Forbidden,
    FraudDetected,
    NotFound,
    PayHubError,
    RateLimitExceeded,
    ServiceUnavailable,
    TransactionVerifyFailed,
    Unauthorized,
    VerificationMismatch,
)
from hub.fraud.requester import requester
from hub.http.body import parse_json_object, read_body
from hub.http.envelope import JSONResponse, ok
from hub.http.path import path_id
from hub.metrics import Metrics
from hub.ports import RateLimiter, Store
from hub.service.ledger import status_data
from hub.service.watch import watched_payment

INQUIRY_ROLES = ("customer", "amk", "admin", "service")


@dataclass
class GatewayDeps:
    store: Store
    auth: Authenticator
    inquiry: InquiryService
    webhooks: WebhookService
    limiter: RateLimiter
    webhook_secrets: tuple[str, ...]
    tolerance_s: int = 300
    max_body_bytes: int = 64 * 1024
    metrics: Metrics | None = None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


_WEBHOOK_ERRORS = (
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    DuplicatePayment,
    VerificationMismatch,
    TransactionVerifyFailed,
    RateLimitExceeded,
    AmkUnknownError,
    AmkMerchantNotBound,
    AmkBankNotFound,
    ServiceUnavailable,
)
_WEBHOOK_NOTES = (
    "Needs a bearer token with role amk and the signature headers X-AMK-Timestamp and X-AMK-Signature "
    '(`v1=<hex HMAC-SHA512(secret, "<timestamp>.<raw body>")>`, ±300 s). A repeated notice is answered '
    "as the first one was and changes nothing; the same key with another amount or currency is 409 "
    "DUPLICATE_PAYMENT. 202: recorded PROCESSING while AMK's payment-verify is unreachable (re-verified "
    "in the background). Requests that fail the token or signature count against the client address's "
    "rate limit; the bank's signed notices never do."
)
_WEBHOOK_REPLIES = (
    Reply(200, "Notice applied (or repeated)", WebhookAnswer),
    Reply(202, "Recorded PROCESSING: verification with AMK pending", WebhookAnswer),
)

# The OpenAPI declarations of the routes below (hub.apidoc); tests fail when the two differ.
API = (
    Operation(
        "GET",
        "/AMK/payments",
        "Premium inquiry (biller lookup); opens the payment to watch",
        "gateway",
        (
            Reply(
                model=PremiumInquiry,
                example={
                    "id": 150001,
                    "policyNumber": "P123456789",
                    "payer": "John Doe",
                    "amount": 150.00,
                    "currency": "USD",
                    "dueDate": "2025-11-15",
                    "paymentId": 150001,
                    "subscribeToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
                    "eventsUrl": "/api/payments/150001/events",
                },
            ),
        ),
        description="The spec's AmkPaymentInquiryResDto for the premium due on a policy or application "
        "number, plus the payment id, its subscribe token and SSE URL. Cached for 15 minutes; while the "
        "integration service is down the cache answers, or 503 with Retry-After.",
        security=roles("customer", "amk", "admin", "service"),
        query=InquiryQuery,
        errors=(BadRequest, Unauthorized, Forbidden, FraudDetected, NotFound, RateLimitExceeded, ServiceUnavailable),
    ),
    Operation(
        "POST",
        "/AMK/payments",
        "AMK bill-payment confirmation (webhook)",
        "gateway",
        _WEBHOOK_REPLIES,
        description="AmkPaymentConfirmationReqDto. " + _WEBHOOK_NOTES,
        security=((AMK, AMK_TIMESTAMP, AMK_SIGNATURE),),
        body=BillPayment,
        body_example={
            "id": 150001,
            "policyNumber": "P123456789",
            "amount": 150.00,
            "currency": "USD",
            "bankTransactionId": "AMK202510070001",
            "payer": "John Doe",
            "paidDate": "20251007120000",
        },
        errors=_WEBHOOK_ERRORS,
    ),
    Operation(
        "POST",
        "/AMK/khqr",
        "AMK KHQR payment confirmation (webhook)",
        "gateway",
        _WEBHOOK_REPLIES,
        description="AmkKhqrConfirmationReqDto; `invoice_number` is PayHub's payment id or the bill id the "
        "inquiry returned. " + _WEBHOOK_NOTES,
        security=((AMK, AMK_TIMESTAMP, AMK_SIGNATURE),),
        body=KhqrPayment,
        body_example={
            "invoice_number": "150001",
            "status": "SUCCESS",
            "merchant_number": "000000000000001",
            "paid_amount": 150.00,
            "currency": "USD",
            "paid_datetime": "2025-10-07 12:00:00.123456",
        },
        errors=_WEBHOOK_ERRORS,
    ),
    Operation(
        "GET",
        "/api/payments/{payment_id}",
        "One payment's current status",
        "push",
        (Reply(model=PaymentView),),
        description="For an admin or service token, or the payment's own subscribe token.",
        security=roles("subscriber", "admin", "service"),
        path_params=PaymentPath,
        errors=(Unauthorized, Forbidden, NotFound, ServiceUnavailable),
    ),
)


def routes(d: GatewayDeps) -> list[BaseRoute]:
    async def inquiry(request: Request) -> Response:
        try:
            who = await authenticate(request, d.auth, *INQUIRY_ROLES)
            asking = requester(request, who)  # validates X-Device-Id
        except PayHubError as exc:
            count_inquiry(d.metrics, exc.code.lower())
            raise
        except Exception:
            count_inquiry(d.metrics, "error")
            raise
        data = await answer_inquiry(
            d.inquiry,
            d.limiter,
            d.metrics,
            request.query_params.get("query", ""),
            who,
            client_ip(request),
            request.scope["state"].get("correlation_id", "-"),
            asking,
        )
        return ok(data)

    async def webhook(request: Request, kind: str) -> Response:
        started = perf_counter()
        status = 500
        try:
            response = await _webhook(request, kind, started)
            status = response.status_code
            return response
        except PayHubError as exc:
            status = exc.status_code
            raise
        finally:
            if d.metrics is not None:
                d.metrics.webhooks.labels(kind, str(status)).inc()
                d.metrics.webhook_seconds.labels(kind).observe(perf_counter() - started)

    async def _webhook(request: Request, kind: str, received_at: float) -> Response:
        try:
            await authenticate(request, d.auth, "amk")
            raw = await read_body(request, d.max_body_bytes)
            signature.verify(request.headers, raw, d.webhook_secrets, now=time.time(), tolerance_s=d.tolerance_s)
        except PayHubError:
            # Only what is not provably the bank counts against the address's limit (429 once over it).
            # A notice with the bank's token and signature is never refused for rate: it reports money,
            # and AMK gives up after its last retry (spec: "maximum retry limits").
            await d.limiter.hit(user=None, ip=client_ip(request))
            raise
        data = parse_json_object(raw)
        incoming: Incoming
        if kind == "BILL":
            incoming = WebhookService.bill(parse(BillPayment, data), data)
        else:
            incoming = WebhookService.khqr(parse(KhqrPayment, data), data)
        answer = await d.webhooks.handle(incoming, received_at=received_at)
        if answer.body.get("success") is False:  # a stored error answer replays as it was sent
            return JSONResponse(answer.body, status_code=answer.status_code)
        return ok(answer.body, status_code=answer.status_code)

    async def bill(request: Request) -> Response:
        return await webhook(request, "BILL")

    async def khqr(request: Request) -> Response:
        return await webhook(request, "KHQR")

    async def payment(request: Request) -> Response:
        """Current status of one payment: admin, service, that payment's subscribe token, or a customer it was
        offered to (``hub.service.watch``: another customer's payment answers as an unknown one)."""
        who = await authenticate(request, d.auth)
        payment_id = path_id(request, "payment_id")
        found = await watched_payment(d.store, who, payment_id, also=("service",))
        return ok(payment_json(found))

    return [
        Route("/AMK/payments", inquiry, methods=["GET"]),
        Route("/AMK/payments", bill, methods=["POST"]),
        Route("/AMK/khqr", khqr, methods=["POST"]),
        Route("/api/payments/{payment_id:str}", payment, methods=["GET"]),
    ]


def payment_json(p: Payment) -> dict[str, Any]:
    data = status_data(p, p.updated_at)
    data["premiumId"] = p.premium_id
    return data
