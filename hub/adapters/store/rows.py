"""Rows to records and back, shared by the SQL statement modules of both dialects.

SQLite hands decimals and times back as text, PostgreSQL as NUMERIC/TIMESTAMPTZ; these functions
accept both. JSON columns go through the one codec (``hub.json_codec``): decimals stay exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hub.adapters.store._conn import Row
from hub.domain.money import Currency
from hub.domain.notification import Contact, Language
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import KhqrSession, Payment, PaymentEvent, Premium, Receipt
from hub.json_codec import loads

PAYMENT_COLS = (
    "id, premium_id, policy_number, method, status, amount, currency, transaction_id, "
    "review_reason, created_at, updated_at"
)
PREMIUM_COLS = (
    "id, policy_number, application_number, payer, amount, currency, due_date, status, paid_payment_id,"
    " payer_phone, payer_email, push_token, language"
)
EVENT_COLS = "id, payment_id, type, status, data, occurred_at"
RECEIPT_COLS = (
    "key, kind, fingerprint, payment_id, payload, state, response_status, response_body, attempts, next_attempt_at"
)
SESSION_COLS = (
    "id, payment_id, premium_id, policy_number, customer_name, amount, currency, qr_string, qr_image,"
    " status, created_at, expires_at"
)


def storable_id(value: int) -> bool:
    return 0 < value <= 2**63 - 1


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _opt_dt(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def premium_from_row(r: Row) -> Premium:
    return Premium(
        id=int(r["id"]),
        policy_number=r["policy_number"],
        application_number=r["application_number"],
        payer=r["payer"],
        amount=Decimal(str(r["amount"])),
        currency=Currency(r["currency"]),
        due_date=_date(r["due_date"]),
        status=r["status"],
        paid_payment_id=None if r["paid_payment_id"] is None else int(r["paid_payment_id"]),
        contact=Contact(
            phone=r["payer_phone"],
            email=r["payer_email"],
            push_token=r["push_token"],
            language=Language(r["language"]) if r["language"] else None,
        ),
    )


def payment_from_row(r: Row) -> Payment:
    return Payment(
        id=int(r["id"]),
        premium_id=int(r["premium_id"]),
        policy_number=r["policy_number"],
        method=PaymentMethod(r["method"]) if r["method"] else None,
        status=PaymentStatus(r["status"]),
        amount=Decimal(str(r["amount"])),
        currency=Currency(r["currency"]),
        transaction_id=r["transaction_id"],
        review_reason=r["review_reason"],
        created_at=as_datetime(r["created_at"]),
        updated_at=as_datetime(r["updated_at"]),
    )


def event_from_row(r: Row) -> PaymentEvent:
    return PaymentEvent(
        id=int(r["id"]),
        payment_id=int(r["payment_id"]),
        type=r["type"],
        status=PaymentStatus(r["status"]),
        data=loads(r["data"]),
        occurred_at=as_datetime(r["occurred_at"]),
    )


def receipt_from_row(r: Row) -> Receipt:
    return Receipt(
        key=r["key"],
        kind=r["kind"],
        fingerprint=r["fingerprint"],
        payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
        payload=loads(r["payload"]),
        state=r["state"],
        response_status=int(r["response_status"]),
        response_body=loads(r["response_body"]),
        attempts=int(r["attempts"]),
        next_attempt_at=_opt_dt(r["next_attempt_at"]),
    )


def session_from_row(r: Row) -> KhqrSession:
    return KhqrSession(
        id=r["id"],
        payment_id=int(r["payment_id"]),
        premium_id=int(r["premium_id"]),
        policy_number=r["policy_number"],
        customer_name=r["customer_name"],
        amount=Decimal(str(r["amount"])),
        currency=Currency(r["currency"]),
        qr_string=r["qr_string"],
        qr_image=r["qr_image"],
        status=r["status"],
        created_at=as_datetime(r["created_at"]),
        expires_at=as_datetime(r["expires_at"]),
    )
