"""The review desk's and look-ups' parameters and replies as documented models (OpenAPI).

The case files nest the records of several tables; their parts are typed at the top level and kept as
JSON objects below (``backoffice.casefile`` writes them).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, JsonValue

from hub.apidoc.types import Amount, CurrencyCode, Id, Method, Model, Status, Timestamp
from hub.domain.reviews import ReviewOutcome, ReviewState

_LIST = "Repeatable, or comma-separated."


class ReviewsQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    state: str | None = Field(default=None, description=f"OPEN, ESCALATED, RESOLVED. {_LIST}")
    kind: str | None = Field(default=None, description=f"Review kinds (lower-case letters, digits, '-'). {_LIST}")
    outcome: str | None = Field(default=None, description=f"accepted, refund_required, dismissed. {_LIST}")
    from_: str | None = Field(default=None, alias="from", description="Created at or after (ISO 8601 or a date).")
    to: str | None = Field(default=None, description="Created before (ISO 8601 or a date).")
    policy: str | None = Field(default=None, description="Policy number: 1-32 letters, digits or '-'.")
    payment: int | None = Field(default=None, gt=0, description="Payment id.")
    limit: int | None = Field(default=None, ge=1, le=500, description="Page size (default 100).")
    before: int | None = Field(default=None, gt=0, description="The next page: rows with a smaller id.")


class PaymentsQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    transactionId: str | None = Field(default=None, description="AMK's transaction id.")
    policy: str | None = Field(default=None, description="Policy or application number.")
    payer: str | None = Field(default=None, description="Start of the payer's name.")
    status: str | None = Field(default=None, description=f"Payment statuses. {_LIST}")
    from_: str | None = Field(default=None, alias="from", description="Opened at or after.")
    to: str | None = Field(default=None, description="Opened before.")
    limit: int | None = Field(default=None, ge=1, le=500, description="Page size (default 100).")
    before: int | None = Field(default=None, gt=0, description="The next page: rows with a smaller id.")


class ReviewPath(Model):
    review_id: int = Field(gt=0, le=2**63 - 1, description="The review id.", examples=[1])


class LookupPaymentPath(Model):
    payment_id: int = Field(gt=0, le=2**63 - 1, description="The payment id.", examples=[1000000000000])


class PremiumPath(Model):
    premium_id: int = Field(gt=0, le=2**63 - 1, description="The premium id.", examples=[150001])


class Review(Model):
    """A notice or payment flagged for a person, and where its handling stands."""

    id: Id
    key: str
    kind: str
    reason: str
    state: ReviewState
    outcome: ReviewOutcome | None
    paymentId: Id | None
    policyNumber: str | None
    payload: JsonValue
    createdAt: Timestamp
    updatedAt: Timestamp


class ReviewEvent(Model):
    id: Id
    reviewId: Id
    action: str
    fromState: ReviewState | None
    toState: ReviewState
    outcome: ReviewOutcome | None
    actor: str
    note: str | None
    at: Timestamp


class NoteIn(Model):
    note: str = Field(min_length=1, max_length=2000, description="Why (1-2000 characters).")


class ResolveIn(NoteIn):
    outcome: str = Field(description="accepted, refund_required or dismissed.", examples=["accepted"])


class Moved(Model):
    review: Review
    event: ReviewEvent


class PaymentRow(Model):
    """A payment as the look-ups show it (``backoffice.casefile.payment_json``)."""

    paymentId: Id
    premiumId: Id
    policyNumber: str
    applicationNumber: str | None
    payer: str | None
    method: Method | None
    status: Status
    amount: Amount
    currency: CurrencyCode
    transactionId: str | None
    review: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class CaseFile(Model):
    """Everything about a payment: its premium, events, webhook receipts, AMK's answers, reviews, attempts."""

    payment: PaymentRow | None
    premium: JsonValue
    events: list[JsonValue]
    receipts: list[JsonValue]
    amkAnswers: list[JsonValue]
    reviews: list[Review]
    attempts: list[PaymentRow]


class ReviewFile(CaseFile):
    review: Review
    history: list[ReviewEvent]


class Attempts(Model):
    premium: JsonValue = Field(description="The premium, or null when only its attempts are known here.")
    attempts: list[JsonValue] = Field(description="Each attempt with its events and receipts, oldest first.")
    reviews: list[Review]
    amkAnswers: list[JsonValue]
