"""One AMK webhook as PayHub handles it, whatever its kind, and the rules about it that need no I/O.

A bill-payment notice names a premium; a KHQR notice names a payment by its invoice number (a
payment id or a bill id, resolved in ``gateway.webhooks``). Both become one ``Incoming``; matching
it, checking AMK's verdict and building the answer are pure functions here. ``gateway.webhooks``
holds the steps with I/O (receipt, verification, the one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.dto import BillPayment, KhqrPayment, parse_paid_datetime
from hub.domain.money import Currency, format_amount
from hub.domain.payment import Outcome, PaymentMethod, PaymentStatus
from hub.domain.records import Payment, Premium, Receipt, Verification
from hub.errors import TransactionVerifyFailed, VerificationMismatch


@dataclass(frozen=True)
class Incoming:
    """One webhook, whatever its kind, reduced to what processing needs."""

    key: str
    kind: str  # BILL | KHQR
    method: PaymentMethod
    target: PaymentStatus  # CONFIRMED or FAILED
    amount: Decimal
    currency: Currency
    transaction_id: str  # what the payment records and AMK's verify is asked about
    payload: dict[str, Any]
    premium_id: int | None = None  # BILL
    payment_id: int | None = None  # KHQR, once the invoice number is resolved
    invoice_number: str | None = None  # KHQR, as AMK sent it: a payment id or a bill id
    policy_number: str | None = None
    merchant_number: str | None = None
    paid_at: datetime | None = None  # KHQR: the notice's paid_datetime (with outcome and amount, its identity)

    @property
    def fingerprint(self) -> str:
        return f"{format_amount(self.amount, self.currency)}|{self.currency.value}"


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def bill_notice(body: BillPayment, raw: dict[str, Any]) -> Incoming:
    """A bill-payment webhook (``BillPayment``; ``raw`` its JSON) as one ``Incoming``."""
    return Incoming(
        key=f"BILL:{body.bankTransactionId}",
        kind="BILL",
        method=PaymentMethod.BILL,
        target=PaymentStatus.CONFIRMED,
        amount=body.amount,
        currency=body.currency,
        transaction_id=body.bankTransactionId,
        payload=raw,
        premium_id=body.id,
        policy_number=body.policyNumber,
    )


def khqr_notice(body: KhqrPayment, raw: dict[str, Any]) -> Incoming:
    """A KHQR payment webhook (``KhqrPayment``; ``raw`` its JSON) as one ``Incoming``.

    The key and transaction id are provisional until ``handle`` resolves the invoice number
    to a payment (``resolve_invoice``); then both name the payment, whichever id AMK echoed."""
    success = body.status == "SUCCESS"
    return Incoming(
        key=f"KHQR:{body.invoice_number}:{body.status}",
        kind="KHQR",
        method=PaymentMethod.KHQR,
        target=PaymentStatus.CONFIRMED if success else PaymentStatus.FAILED,
        amount=body.paid_amount,
        currency=body.currency,
        transaction_id=f"AMK_KHQR_{body.invoice_number}",
        payload=raw,
        invoice_number=body.invoice_number,
        merchant_number=body.merchant_number,
        paid_at=body.paid_datetime,
    )


def mismatches(w: Incoming, premium: Premium | None, payment: Payment | None, merchant_id: str) -> list[dict[str, str]]:
    """Where ``w`` differs from the premium it names (bill) or its payment (KHQR), as
    ``{"field", "expected", "received"}`` entries; empty when it matches."""
    expected: dict[str, str] = {}
    if premium is not None:
        # The premium is found by id; its policy number is a cross-check that a letter case
        # (p123456789) must not fail, as the inquiry cache keys policy numbers upper-cased.
        expected = {
            "policyNumber": premium.policy_number.upper(),
            "amount": format_amount(premium.amount, premium.currency),
            "currency": premium.currency.value,
        }
        got = {
            "policyNumber": (w.policy_number or "").upper(),
            "amount": format_amount(w.amount, w.currency),
            "currency": w.currency.value,
        }
    else:
        assert payment is not None
        expected = {
            "amount": format_amount(payment.amount, payment.currency),
            "currency": payment.currency.value,
            "merchant_number": merchant_id,
        }
        got = {
            "amount": format_amount(w.amount, w.currency),
            "currency": w.currency.value,
            "merchant_number": w.merchant_number or "",
        }
    return [{"field": k, "expected": v, "received": got[k]} for k, v in expected.items() if got[k] != v]


def paid_at_differs(receipt: Receipt, w: Incoming) -> bool:
    """A KHQR success notice repeated under its key with another paid time (money, maybe twice)."""
    if w.kind != "KHQR" or w.target is not PaymentStatus.CONFIRMED or w.paid_at is None:
        return False
    try:
        first = parse_paid_datetime(receipt.payload.get("paid_datetime"))
    except ValueError:
        return False
    return first != w.paid_at


def verify_ref(w: Incoming) -> str:
    """What AMK's payment-verify is asked about: a KHQR notice's payment id, a bill's transaction id."""
    return str(w.payment_id) if w.kind == "KHQR" else w.transaction_id


def check_verdict(w: Incoming, verdict: Verification) -> None:
    """Raise ``TransactionVerifyFailed`` unless AMK confirms the money (the caller raises the ALERT),
    ``VerificationMismatch`` when AMK's amount or currency differs from the notice's."""
    if not verdict.paid:
        raise TransactionVerifyFailed(details={"transaction": w.transaction_id, "amkStatus": verdict.status})
    if verdict.amount is not None and (verdict.amount != w.amount or verdict.currency != w.currency):
        raise VerificationMismatch(
            "AMK's record differs from the webhook",
            details=[
                {
                    "field": "amount",
                    "expected": f"{verdict.amount} {verdict.currency}",
                    "received": f"{w.amount} {w.currency.value}",
                }
            ],
        )


def answer_for(w: Incoming, p: Payment, outcome: Outcome, pending: bool) -> Answer:
    """The answer to AMK once ``w`` is applied to ``p``: 202 while AMK's verdict is pending, else 200."""
    body: dict[str, Any] = {
        "transactionId": w.transaction_id,
        "paymentId": p.id,
        "status": p.status.value,
    }
    if w.kind == "BILL":
        body["paymentReferenceId"] = str(p.id)
    if pending:
        body["message"] = "Payment recorded; verification with AMK is pending"
        return Answer(202, body)
    if outcome is Outcome.IGNORE:
        body["message"] = f"{w.target.value} ignored: payment is already {p.status.value}"
    elif p.status is PaymentStatus.CONFIRMED:
        body["message"] = (
            "KHQR payment successfully processed" if w.kind == "KHQR" else "Payment successfully processed"
        )
    else:
        body["message"] = f"Payment {p.status.value.lower()}"
    if p.review_reason:
        body["review"] = p.review_reason
    return Answer(200, body)
