"""Which payment a KHQR webhook's ``invoice_number`` names.

AMK may echo PayHub's payment id (the ``invoiceNumber`` PayHub gave AMK's QR generator) or the
bill id the inquiry returned (the premium id; the spec's own example sends ``"150001"``). The two
id spaces are disjoint by construction (``hub.constants.PAYMENT_ID_FLOOR``): payment ids start at
10^12, premium ids stay below it. So:

- a number at or above the floor is a payment id: that payment, or nothing;
- a number below it is a bill id: the premium's open attempt (PENDING or PROCESSING; at most one,
  enforced by the database), else its most recent attempt (money after EXPIRED or FAILED is then
  accepted and flagged, as for any late money), else nothing.

Whatever the number, a notice AMK already delivered lands where it landed (``earlier_notice``): the
same notice (same outcome, paid time, amount and currency) echoed once with the payment id and once
with the bill id is one notice, even when the premium's open attempt changed in between.

Only a database that holds payments from before migration 0003 (ids below the floor) can have a
number that reads both ways; such a number lands on a payment only when both readings name the
same premium, and is otherwise refused for a person to decide, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.dto import parse_paid_datetime
from hub.constants import PAYMENT_ID_FLOOR
from hub.domain.records import Payment
from hub.ports import StoreTx


@dataclass(frozen=True)
class InvoiceProblem:
    reason: str
    ambiguous: bool = False
    candidates: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


async def resolve_invoice(tx: StoreTx, number: int) -> Payment | InvoiceProblem:
    """The payment ``number`` names, or why there is none (see the module's rule)."""
    if number >= PAYMENT_ID_FLOOR:
        payment = await tx.payment(number)
        return payment if payment is not None else InvoiceProblem("unknown invoice number")
    attempt = await tx.open_payment_for(number) or await tx.latest_payment_for(number)
    legacy = await tx.payment(number)  # only a payment from before migration 0003 can have this id
    if legacy is not None and (attempt is None or legacy.premium_id == number):
        return legacy
    if legacy is not None and attempt is not None:
        return InvoiceProblem(
            "ambiguous invoice number: a bill id and an old payment id",
            ambiguous=True,
            candidates=[legacy.id, attempt.id],
            details={"asPaymentId": legacy.id, "asBillId": number, "billAttempt": attempt.id},
        )
    if attempt is not None:
        return attempt
    return InvoiceProblem("unknown invoice number")


@dataclass(frozen=True)
class EarlierNotice:
    """A KHQR receipt already stored for the same bank notice: its key and payment."""

    key: str
    payment_id: int


async def earlier_notice(
    tx: StoreTx,
    premium_id: int,
    outcome: str,
    paid_at: datetime,
    fingerprint: str,
    invoice_number: int,
) -> EarlierNotice | None:
    """The receipt of this very notice on any attempt of ``premium_id``, if AMK delivered it before.

    A KHQR notice carries no bank transaction id; what identifies it, whichever id AMK echoed in
    ``invoice_number``, is its outcome (``SUCCESS``/``FAILED``, the receipt key's last part), its
    ``paid_datetime`` (an instant, read by ``gateway.dto.parse_paid_datetime``), its amount and
    currency (the receipt's fingerprint), and that one of the two echoes named the bill id: two
    notices naming two payment ids are two payments, however alike. Called under the premium's
    lock, it also sees a concurrent echo that committed first.
    """
    for attempt in await tx.payments_for(premium_id):
        receipt = await tx.receipt(f"KHQR:{attempt.id}:{outcome}")
        if receipt is None or receipt.payment_id is None or receipt.fingerprint != fingerprint:
            continue
        if not isinstance(receipt.payload, dict):
            continue
        if invoice_number >= PAYMENT_ID_FLOOR and _names_payment(receipt.payload.get("invoice_number")):
            continue
        try:
            same_time = parse_paid_datetime(receipt.payload.get("paid_datetime")) == paid_at
        except ValueError:
            same_time = False
        if same_time:
            return EarlierNotice(receipt.key, attempt.id)
    return None


def _names_payment(invoice_number: Any) -> bool:
    text = str(invoice_number)
    return text.isascii() and text.isdigit() and int(text) >= PAYMENT_ID_FLOOR
