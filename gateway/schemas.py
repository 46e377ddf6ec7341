"""The gateway's replies as documented models (OpenAPI): inquiry, webhook answers, payment status, reviews.

The request DTOs are ``gateway.dto`` (the models the webhooks are parsed with); these describe what the
routes write, and tests validate live answers against them (extra properties are refused).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from gateway.inquiry import QUERY
from hub.apidoc.types import Amount, CurrencyCode, Id, Method, Model, Status, Timestamp
from hub.domain.payment import PaymentStatus


class InquiryQuery(Model):
    query: str = Field(
        pattern=QUERY.pattern,
        description="Policy number or application number: 1-10 letters or digits.",
        examples=["P123456789"],
    )


class PremiumInquiry(Model):
    """The spec's AmkPaymentInquiryResDto, plus what a client needs to watch the payment it opened."""

    id: Id = Field(description="The premium's id (the bill id AMK pays).")
    policyNumber: str = Field(examples=["P123456789"])
    payer: str = Field(examples=["John Doe"])
    amount: Amount
    currency: CurrencyCode
    dueDate: date = Field(examples=["2025-11-15"])
    paymentId: Id = Field(description="The payment this inquiry opened (or the one already open).")
    subscribeToken: str = Field(description="Bearer token for this payment's event stream only (JWT).")
    eventsUrl: str = Field(description="Its SSE stream.", examples=["/api/payments/150001/events"])


class WebhookAnswer(Model):
    """What AMK is answered for a bill-payment or KHQR notice (200 done, 202 verification pending).

    A repeated notice gets the answer the first one got, unchanged.
    """

    transactionId: str = Field(examples=["AMK202510070001"])
    paymentId: Id
    status: Status
    paymentReferenceId: str | None = Field(default=None, description="Bill payments only.", examples=["150001"])
    message: str = Field(examples=["Payment successfully processed"])
    review: str | None = Field(default=None, description="Why the payment was flagged for a person to review.")


class PaymentView(Model):
    """One payment's current status: the event ``data`` of its stream, plus its premium."""

    paymentId: Id
    policyNumber: str = Field(examples=["P123456789"])
    method: Method | None = Field(description="null until the customer chose (a QR shown or a bill paid).")
    status: Status
    amount: Amount
    currency: CurrencyCode
    transactionId: str | None = Field(description="Once the bank reported one.")
    occurredAt: Timestamp
    timestamp: Timestamp | None = Field(
        default=None,
        description="When the status was recorded (spec: the event's `timestamp`); absent on older events.",
    )
    estimatedCompletion: Timestamp | None = Field(
        default=None,
        description="While PROCESSING: when AMK's verdict is next expected (hub.service.ledger.status_data).",
    )
    review: str | None = Field(default=None, description="Present when the payment is flagged for review.")
    premiumId: Id


class PaymentPath(Model):
    payment_id: Annotated[int, Field(gt=0, le=2**63 - 1, description="The payment id.", examples=[150001])]


__all__ = [
    "InquiryQuery",
    "PaymentPath",
    "PaymentStatus",
    "PaymentView",
    "PremiumInquiry",
    "WebhookAnswer",
]
