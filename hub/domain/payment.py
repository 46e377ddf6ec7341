"""The payment state machine.

A payment is one attempt to pay one premium. Its status only moves forward:

    PENDING ──► PROCESSING ──► CONFIRMED | FAILED
       │            ▲
       └──► EXPIRED ┘ (late money)   and  PENDING ──► CONFIRMED | FAILED directly

CONFIRMED is final: nothing moves it again; a late FAILED is recorded as an ignored event.
FAILED, EXPIRED are terminal for the customer's screen, but money that the bank reports after
them is never dropped: the payment is CONFIRMED and flagged for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        return self in (PaymentStatus.CONFIRMED, PaymentStatus.FAILED, PaymentStatus.EXPIRED)


class PaymentMethod(StrEnum):
    KHQR = "KHQR"
    BILL = "BILL"


class Outcome(StrEnum):
    """What a proposed status change does."""

    APPLY = "APPLY"  # the status changes
    APPLY_REVIEW = "APPLY_REVIEW"  # the status changes and the payment is flagged for review
    IGNORE = "IGNORE"  # recorded in the event log, status unchanged
    NOOP = "NOOP"  # already in that status: nothing to record


S = PaymentStatus

_ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.PENDING: frozenset({S.PROCESSING, S.CONFIRMED, S.FAILED, S.EXPIRED}),
    S.PROCESSING: frozenset({S.CONFIRMED, S.FAILED}),
    S.CONFIRMED: frozenset(),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
}

# Money reported after the customer's screen closed: accepted, flagged for a person to look at.
_LATE_MONEY: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.EXPIRED: frozenset({S.PROCESSING, S.CONFIRMED}),
    S.FAILED: frozenset({S.PROCESSING, S.CONFIRMED}),
}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str = ""

    @property
    def changes_status(self) -> bool:
        return self.outcome in (Outcome.APPLY, Outcome.APPLY_REVIEW)


def decide(current: PaymentStatus, target: PaymentStatus) -> Decision:
    """Decide what moving ``current`` to ``target`` does. Pure and total."""
    if current == target:
        return Decision(Outcome.NOOP, f"already {current.value}")
    if target in _ALLOWED[current]:
        return Decision(Outcome.APPLY)
    if target in _LATE_MONEY.get(current, frozenset()):
        return Decision(Outcome.APPLY_REVIEW, f"money reported after {current.value}")
    return Decision(Outcome.IGNORE, f"{target.value} after {current.value} ignored")


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    return decide(current, target).changes_status
