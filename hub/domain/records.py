"""Immutable records the services pass around. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hub.domain.money import Currency, quantize
from hub.domain.notification import Contact
from hub.domain.payment import PaymentMethod, PaymentStatus


@dataclass(frozen=True)
class Premium:
    """A premium due on a policy, as the integration service (DLIS/Ingenium) knows it."""

    id: int
    policy_number: str
    payer: str
    amount: Decimal
    currency: Currency
    due_date: date
    application_number: str | None = None
    status: str = "DUE"  # DUE | PAID
    paid_payment_id: int | None = None
    contact: Contact = field(default_factory=Contact)  # how the payer is reached (notifications)

    @property
    def paid(self) -> bool:
        return self.status == "PAID"

    def inquiry_dto(self) -> dict[str, Any]:
        """The spec's AmkPaymentInquiryResDto."""
        return {
            "id": self.id,
            "policyNumber": self.policy_number,
            "payer": self.payer,
            "amount": quantize(self.amount, self.currency),
            "currency": self.currency.value,
            "dueDate": self.due_date.isoformat(),
        }


@dataclass(frozen=True)
class Payment:
    """One attempt to pay one premium. Its id is what streams and tokens are scoped to."""

    id: int
    premium_id: int
    policy_number: str
    method: PaymentMethod | None
    status: PaymentStatus
    amount: Decimal
    currency: Currency
    transaction_id: str | None
    review_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PaymentEvent:
    """A row of the append-only ``payment_events`` log.

    ``type`` is ``payment.status`` for status changes (what streams carry), or ``payment.ignored``
    / ``payment.review`` / ``khqr.generated`` for audit entries that change no status.
    """

    id: int
    payment_id: int
    type: str
    status: PaymentStatus
    data: dict[str, Any]
    occurred_at: datetime

    STATUS = "payment.status"


@dataclass(frozen=True)
class Receipt:
    """What a webhook with a given idempotency key was answered; replays get the same answer."""

    key: str
    kind: str
    fingerprint: str
    payment_id: int | None
    payload: dict[str, Any]
    state: str  # DONE | VERIFY_PENDING
    response_status: int
    response_body: dict[str, Any]
    attempts: int
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Verification:
    """AMK's word on one transaction: status PAID | UNPAID | FAILED | NOT_FOUND (spec: verify payment)."""

    tx_id: str
    status: str
    amount: Decimal | None = None
    currency: Currency | None = None

    @property
    def paid(self) -> bool:
        return self.status == "PAID"


@dataclass(frozen=True)
class QrRequest:
    """What AMK's ``/qr/generator`` is asked for (spec: generate KHQR)."""

    invoice_number: str
    bill_number: str
    amount: Decimal
    currency: Currency
    expires_at: datetime


@dataclass(frozen=True)
class QrResult:
    qr_string: str
    image_png_b64: str  # base64 PNG


@dataclass(frozen=True)
class KhqrSession:
    """One KHQR shown to a payer: PENDING until paid, or EXPIRED at ``expires_at``."""

    id: str
    payment_id: int
    premium_id: int
    policy_number: str
    customer_name: str
    amount: Decimal
    currency: Currency
    qr_string: str
    qr_image: str  # base64 PNG
    status: str  # PENDING | PAID | EXPIRED
    created_at: datetime
    expires_at: datetime

    def status_at(self, now: datetime) -> str:
        """PENDING turns EXPIRED at expires_at even before the scheduler has written it."""
        return "EXPIRED" if self.status == "PENDING" and now >= self.expires_at else self.status
