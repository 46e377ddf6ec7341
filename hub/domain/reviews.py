"""The review workflow's records and its state machine. Pure data and rules, no I/O.

A review flags something for a person (``StoreTx.add_review``: a possible double payment, a
webhook refused or held, money AMK does not confirm, a reconciliation mismatch, a fraud stop…).
Its state moves only along these edges (issue 9, "Review workflow")::

    OPEN ──resolve(outcome)──► RESOLVED ──reopen──► OPEN
      │                           ▲
      └──escalate──► ESCALATED ───┘ resolve(outcome)

Every move, and the creation itself (action ``open``, actor ``payhub``), is one row of the
append-only ``review_events`` log: who acted (an admin token's subject), when, and their note.
Any other move is refused (``hub.errors.Conflict``, 409) and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hub.domain.lookups import policy_spellings
from hub.domain.money import Currency, quantize

SYSTEM_ACTOR = "payhub"
"""The actor of a review's creation: PayHub itself, not a person."""

MAX_KIND_LENGTH = 40
KNOWN_REVIEW_KINDS = ("double-payment", "payment", "webhook", "reverify", "reconcile", "fraud")
"""The kinds PayHub raises (docs/operations.md, "Working the review queue"); metrics show each, 0 included."""


class ReviewState(StrEnum):
    OPEN = "OPEN"
    ESCALATED = "ESCALATED"
    RESOLVED = "RESOLVED"


class ReviewOutcome(StrEnum):
    """How a person settled a review."""

    ACCEPTED = "accepted"  # PayHub's record stands as it is
    REFUND_REQUIRED = "refund_required"  # money goes back to the payer (or is reallocated), off PayHub
    DISMISSED = "dismissed"  # nothing was wrong (a false alarm, a bank's retry)


class ReviewAction(StrEnum):
    OPEN = "open"  # the review was raised (by PayHub)
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REOPEN = "reopen"


S = ReviewState
A = ReviewAction

_EDGES: dict[tuple[ReviewAction, ReviewState], ReviewState] = {
    (A.RESOLVE, S.OPEN): S.RESOLVED,
    (A.RESOLVE, S.ESCALATED): S.RESOLVED,
    (A.ESCALATE, S.OPEN): S.ESCALATED,
    (A.REOPEN, S.RESOLVED): S.OPEN,
}

UNRESOLVED = (ReviewState.OPEN, ReviewState.ESCALATED)


def allowed_from(action: ReviewAction) -> tuple[ReviewState, ...]:
    """The states ``action`` may start from (empty for ``open``, which only creation does)."""
    return tuple(state for (a, state) in _EDGES if a is action)


def next_state(state: ReviewState, action: ReviewAction) -> ReviewState | None:
    """Where ``action`` takes a review in ``state``, or None when the move is not allowed."""
    return _EDGES.get((action, state))


def review_kind(key: str) -> str:
    """A review's kind: its key's prefix before the first ``:``, lower-cased (at most
    ``MAX_KIND_LENGTH`` characters), or ``other`` for a key without one.

    Kinds PayHub raises: ``double-payment``, ``payment``, ``webhook``, ``reverify``, ``reconcile``,
    ``fraud`` (docs/operations.md, "Working the review queue"). Migration 0006 derives the kind
    of reviews raised before it with the same rule in SQL.
    """
    prefix, colon, _ = key.partition(":")
    if not colon or not prefix:
        return "other"
    return prefix.lower()[:MAX_KIND_LENGTH]


@dataclass(frozen=True)
class Review:
    """A row of ``reviews``. ``outcome`` is set only while RESOLVED; ``policy_number`` is the
    policy of its payment, else the ``policyNumber`` its payload names, if any."""

    id: int
    key: str
    kind: str
    reason: str
    payment_id: int | None
    policy_number: str | None
    payload: dict[str, Any]
    state: ReviewState
    outcome: ReviewOutcome | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The admin API's review: ``{id, key, kind, reason, state, outcome, paymentId,
        policyNumber, payload, createdAt, updatedAt}`` (times ISO 8601 with offset)."""
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind,
            "reason": self.reason,
            "state": self.state.value,
            "outcome": self.outcome.value if self.outcome else None,
            "paymentId": self.payment_id,
            "policyNumber": self.policy_number,
            "payload": self.payload,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ReviewEvent:
    """A row of the append-only ``review_events`` log: one move of one review."""

    id: int
    review_id: int
    action: ReviewAction
    from_state: ReviewState | None  # None for ``open`` (the review did not exist)
    to_state: ReviewState
    outcome: ReviewOutcome | None
    actor: str
    note: str
    occurred_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reviewId": self.review_id,
            "action": self.action.value,
            "fromState": self.from_state.value if self.from_state else None,
            "toState": self.to_state.value,
            "outcome": self.outcome.value if self.outcome else None,
            "actor": self.actor,
            "note": self.note,
            "at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True)
class ReviewQuery:
    """Filters of a review list (all optional, combined with AND), newest first.

    ``created_from`` is inclusive and ``created_to`` exclusive; ``policy_number`` matches as given
    or upper-cased (``policy_numbers``); ``before_id`` is the keyset cursor (reviews with a smaller id);
    ``limit`` rows at most.
    """

    states: tuple[ReviewState, ...] = ()
    kinds: tuple[str, ...] = ()
    outcomes: tuple[ReviewOutcome, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
    policy_number: str | None = None
    payment_id: int | None = None
    before_id: int | None = None
    limit: int = 100

    @property
    def policy_numbers(self) -> tuple[str, ...]:
        """What ``policy_number`` matches (``hub.domain.lookups.policy_spellings``); empty without one."""
        return () if self.policy_number is None else policy_spellings(self.policy_number)


@dataclass(frozen=True)
class AmkAnswer:
    """What AMK's payment-verify answered about one transaction reference (``amk_answers``).

    ``status``: AMK's verdict (PAID, UNPAID, FAILED, NOT_FOUND) or, when AMK refused to answer,
    PayHub's error code for the refusal (MERCHANT_NOT_BIND, BANK_NOT_FOUND, AMK_UNKNOWN_ERROR);
    ``source``: who asked (``webhook``, ``reverify``, ``reconcile``…); ``detail``: the rest.
    """

    id: int
    payment_id: int | None
    reference: str
    source: str
    status: str
    amount: Decimal | None
    currency: Currency | None
    detail: dict[str, Any]
    asked_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "paymentId": self.payment_id,
            "reference": self.reference,
            "source": self.source,
            "status": self.status,
            "amount": quantize(self.amount, self.currency) if self.amount is not None and self.currency else None,
            "currency": self.currency.value if self.currency else None,
            "detail": self.detail,
            "at": self.asked_at.isoformat(),
        }
