"""One transaction reconciled: PayHub's record against AMK's, and the outcome. Pure: no I/O.

AMK's side has two sources. Its settlement statement lists the money it credited that day; its
payment-verify API answers for one transaction at a time. A transaction on the statement is at AMK
(payment-verify must then agree on the amount); one that is not is at AMK only if payment-verify says
PAID (it may sit on another day's statement: a payment at 23:59 settles the next day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hub.domain.money import Currency, format_amount, parse_amount, parse_currency
from hub.domain.payment import PaymentStatus


class Outcome(StrEnum):
    """The outcome of one transaction; the value is the metric label and part of the review key."""

    MATCHED = "matched"
    MISSING_IN_PAYHUB = "missing_in_payhub"  # at AMK, not in PayHub: money never recorded (most serious)
    AMOUNT_MISMATCH = "amount_mismatch"  # both hold it, for another amount or currency
    MISSING_AT_AMK = "missing_at_amk"  # PayHub recorded money AMK does not report
    STUCK_PROCESSING = "stuck_processing"  # money awaiting AMK's verdict for longer than the threshold


MISMATCHES = (Outcome.MISSING_IN_PAYHUB, Outcome.AMOUNT_MISMATCH, Outcome.MISSING_AT_AMK, Outcome.STUCK_PROCESSING)
"""Every outcome but ``matched``, most serious first."""

HEADLINES = {
    Outcome.MATCHED: "PayHub and AMK agree",
    Outcome.MISSING_IN_PAYHUB: "AMK reports money PayHub never recorded",
    Outcome.AMOUNT_MISMATCH: "amount or currency differs from AMK",
    Outcome.MISSING_AT_AMK: "PayHub recorded money AMK does not report",
    Outcome.STUCK_PROCESSING: "payment stuck in PROCESSING",
}

_HOLDS_MONEY = (PaymentStatus.PROCESSING, PaymentStatus.CONFIRMED)


@dataclass(frozen=True)
class Ours:
    """PayHub's record of one transaction: the payment it landed on and the money recorded for it.

    ``amount``/``currency`` are what the bank's notice reported and PayHub accepted (its receipt), else
    the payment's; ``since`` is when the payment began holding the money (its PROCESSING or CONFIRMED
    event)."""

    payment_id: int
    premium_id: int
    policy_number: str
    status: PaymentStatus
    amount: Decimal
    currency: Currency
    since: datetime

    @property
    def holds_money(self) -> bool:
        return self.status in _HOLDS_MONEY

    def as_json(self) -> dict[str, Any]:
        return {
            "paymentId": self.payment_id,
            "premiumId": self.premium_id,
            "policyNumber": self.policy_number,
            "status": self.status.value,
            "amount": format_amount(self.amount, self.currency),
            "currency": self.currency.value,
            "since": self.since.isoformat(),
            "holdsMoney": self.holds_money,
        }


@dataclass(frozen=True)
class Listed:
    """A statement entry as the run keeps it (from ``StatementEntry.as_json``)."""

    amount: Decimal
    currency: Currency
    line: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Listed:
        currency = parse_currency(data["currency"])
        return cls(parse_amount(data["amount"], currency), currency, int(data.get("line") or 0))


@dataclass(frozen=True)
class Verified:
    """AMK payment-verify's answer for one transaction: a status (PAID, NOT_FOUND, UNPAID, …) with the
    amount it holds, or ``error`` (``unavailable`` or a spec error code) when it gave no verdict."""

    status: str | None
    amount: Decimal | None = None
    currency: Currency | None = None
    error: str | None = None

    @property
    def paid(self) -> bool:
        return self.status == "PAID"

    def as_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        out: dict[str, Any] = {"status": self.status}
        if self.amount is not None and self.currency is not None:
            out |= {"amount": format_amount(self.amount, self.currency), "currency": self.currency.value}
        return out


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    detail: str


class Undecidable(Exception):
    """AMK's side is unknown: not on the statement and payment-verify gave no verdict. Decide later."""


def _money(amount: Decimal | None, currency: Currency | None) -> str:
    return (
        "an unknown amount" if amount is None or currency is None else f"{format_amount(amount, currency)} {currency}"
    )


def decide(
    ours: Ours | None, listed: Listed | None, verified: Verified, *, now: datetime, stuck_after: timedelta
) -> Decision:
    """The outcome of one transaction (rules in the module docstring; see also ``Outcome``).

    Raises ``Undecidable`` when AMK's side cannot be known now.
    """
    notes: list[str] = []
    amk_amount: Decimal | None
    amk_currency: Currency | None
    if listed is not None:
        at_amk = True
        amk_amount, amk_currency = listed.amount, listed.currency
        where = f"statement line {listed.line}"
        if verified.error is not None:
            notes.append(f"payment-verify gave no verdict ({verified.error}); the statement decides")
        elif not verified.paid:
            notes.append(f"payment-verify says {verified.status} although the statement lists it")
    elif verified.error is not None:
        raise Undecidable(f"not on the statement and AMK payment-verify gave no verdict ({verified.error})")
    else:
        at_amk = verified.paid
        amk_amount, amk_currency = verified.amount, verified.currency
        where = "payment-verify (not on this day's statement)"
    if ours is None or not ours.holds_money:
        if not at_amk:
            return Decision(Outcome.MATCHED, "neither PayHub nor AMK holds money for it")
        held = "no payment" if ours is None else f"payment {ours.payment_id} is {ours.status.value}"
        return Decision(
            Outcome.MISSING_IN_PAYHUB,
            f"AMK reports {_money(amk_amount, amk_currency)} ({where}); PayHub has {held}",
        )
    recorded = f"payment {ours.payment_id} holds {_money(ours.amount, ours.currency)}"
    if ours.status is PaymentStatus.PROCESSING and now - ours.since > stuck_after:
        amk = f"AMK reports {_money(amk_amount, amk_currency)}" if at_amk else "AMK does not report it"
        return Decision(Outcome.STUCK_PROCESSING, f"{recorded}, PROCESSING since {ours.since.isoformat()}; {amk}")
    if not at_amk:
        return Decision(Outcome.MISSING_AT_AMK, f"{recorded}; AMK payment-verify says {verified.status}")
    sources: list[tuple[str, Decimal | None, Currency | None]] = [(where, amk_amount, amk_currency)]
    if listed is not None and verified.paid:
        sources.append(("payment-verify", verified.amount, verified.currency))
    differs = [
        f"{source} {_money(amount, currency)}"
        for source, amount, currency in sources
        if amount is not None and currency is not None and (amount, currency) != (ours.amount, ours.currency)
    ]
    if differs:
        return Decision(Outcome.AMOUNT_MISMATCH, f"{recorded}; AMK: " + ", ".join(differs))
    return Decision(Outcome.MATCHED, "; ".join([f"{recorded}; AMK agrees ({where})", *notes]))
