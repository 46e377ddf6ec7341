"""What PayHub answers, as typed values: amounts are ``Decimal``, times timezone-aware ``datetime``.

Each model keeps the whole JSON object it was read from (``raw``): fields PayHub adds later are
there before this client names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        """CONFIRMED, FAILED and EXPIRED are final: a stream ends after them."""
        return self in (PaymentStatus.CONFIRMED, PaymentStatus.FAILED, PaymentStatus.EXPIRED)


class SessionStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"


def _decimal(value: Any) -> Decimal:
    # The JSON is read with parse_float=Decimal; integers (KHR) arrive as int.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Premium:
    """``GET /AMK/payments?query=…``: the spec's AmkPaymentInquiryResDto plus stream access."""

    id: int
    policy_number: str
    payer: str
    amount: Decimal
    currency: str
    due_date: date | None
    payment_id: int
    subscribe_token: str = field(repr=False)  # a credential: kept out of logs
    events_url: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Premium:
        due = data.get("dueDate")
        return cls(
            id=int(data["id"]),
            policy_number=str(data["policyNumber"]),
            payer=str(data["payer"]),
            amount=_decimal(data["amount"]),
            currency=str(data["currency"]),
            due_date=date.fromisoformat(due) if isinstance(due, str) else None,
            payment_id=int(data["paymentId"]),
            subscribe_token=str(data["subscribeToken"]),
            events_url=str(data["eventsUrl"]),
            raw=data,
        )


@dataclass(frozen=True)
class Khqr:
    """``GET /khqr``: the spec's GenerateKhqrResDto plus the KHQR string, the session and stream access."""

    payment_id: int
    policy_id: str
    customer_name: str
    amount: Decimal
    currency: str
    qr_code: str = field(repr=False)  # base64 PNG
    qr_string: str  # the EMVCo/KHQR payload
    session_id: str
    expires_at: datetime
    subscribe_token: str = field(repr=False)  # a credential: kept out of logs
    events_url: str
    ws_url: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Khqr:
        expires = _time(data.get("expiresAt"))
        if expires is None:
            raise ValueError("expiresAt missing")
        return cls(
            payment_id=int(data["paymentId"]),
            policy_id=str(data["policyId"]),
            customer_name=str(data.get("customerName") or ""),
            amount=_decimal(data["amount"]),
            currency=str(data["currency"]),
            qr_code=str(data["qrCode"]),
            qr_string=str(data["qrString"]),
            session_id=str(data["sessionId"]),
            expires_at=expires,
            subscribe_token=str(data["subscribeToken"]),
            events_url=str(data["eventsUrl"]),
            ws_url=str(data.get("wsUrl") or ""),
            raw=data,
        )


@dataclass(frozen=True)
class PaymentState:
    """A payment's status: the ``data`` of a stream event, or ``GET /api/payments/{id}``."""

    payment_id: int
    policy_number: str
    method: str | None
    status: PaymentStatus
    amount: Decimal
    currency: str
    transaction_id: str | None
    occurred_at: datetime | None
    sent_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PaymentState:
        return cls(
            payment_id=int(data["paymentId"]),
            policy_number=str(data.get("policyNumber") or ""),
            method=data.get("method"),
            status=PaymentStatus(data["status"]),
            amount=_decimal(data["amount"]),
            currency=str(data["currency"]),
            transaction_id=data.get("transactionId"),
            occurred_at=_time(data.get("occurredAt")),
            sent_at=_time(data.get("sentAt")),
            raw=data,
        )


@dataclass(frozen=True)
class PaymentEvent:
    """One ``payment.status`` event: its id in the payment's event log (the resume cursor) and data."""

    id: int
    payment: PaymentState

    @property
    def status(self) -> PaymentStatus:
        return self.payment.status

    @property
    def terminal(self) -> bool:
        return self.payment.status.terminal


@dataclass(frozen=True)
class QrSession:
    """``GET /khqr/sessions/{id}``: PENDING | PAID | EXPIRED and the last event id of its payment."""

    session_id: str
    payment_id: int
    status: SessionStatus
    payment_status: PaymentStatus | None
    amount: Decimal
    currency: str
    expires_at: datetime | None
    last_event_id: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> QrSession:
        ps = data.get("paymentStatus")
        return cls(
            session_id=str(data["sessionId"]),
            payment_id=int(data["paymentId"]),
            status=SessionStatus(data["status"]),
            payment_status=PaymentStatus(ps) if ps else None,
            amount=_decimal(data["amount"]),
            currency=str(data["currency"]),
            expires_at=_time(data.get("expiresAt")),
            last_event_id=int(data.get("lastEventId") or 0),
            raw=data,
        )


@dataclass(frozen=True)
class WebhookAnswer:
    """The gateway's answer to a webhook: HTTP status and the envelope (``data`` or ``error``)."""

    status_code: int
    body: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.body.get("success") is True

    @property
    def data(self) -> Mapping[str, Any]:
        data = self.body.get("data")
        return data if isinstance(data, Mapping) else {}
