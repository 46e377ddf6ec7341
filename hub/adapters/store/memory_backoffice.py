"""The in-memory store's back office rows (``backoffice.py`` in SQL): reviews and their history,
payment look-ups, AMK's answers. Each method mirrors one SQL statement; units of work never
overlap here, so ``lock=True`` needs nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from hub.adapters.store.backoffice import payload_policy
from hub.adapters.store.memory_rows import MemoryState, json_column
from hub.domain.lookups import PaymentQuery, StoredReceipt
from hub.domain.money import Currency
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.domain.reviews import (
    SYSTEM_ACTOR,
    UNRESOLVED,
    AmkAnswer,
    Review,
    ReviewAction,
    ReviewEvent,
    ReviewOutcome,
    ReviewQuery,
    ReviewState,
    review_kind,
)


class Ids(Protocol):
    def next_id(self, table: str) -> int: ...


def add_review(
    s: MemoryState, ids: Ids, key: str, reason: str, payment_id: int | None, payload: dict[str, Any], now: datetime
) -> bool:
    """``StoreTx.add_review``: the review, OPEN, and the ``open`` row of its history."""
    if key in s.reviews:
        return False
    payment = s.payments.get(payment_id) if payment_id is not None else None
    review = Review(
        id=ids.next_id("reviews"),
        key=key,
        kind=review_kind(key),
        reason=reason,
        payment_id=payment_id,
        policy_number=payment.policy_number if payment else payload_policy(payload),
        payload=json_column(payload),
        state=ReviewState.OPEN,
        outcome=None,
        created_at=now,
        updated_at=now,
    )
    s.reviews[key] = review
    _append(s, ids, review.id, ReviewAction.OPEN, None, ReviewState.OPEN, None, SYSTEM_ACTOR, reason, now)
    return True


def review_list(s: MemoryState, q: ReviewQuery) -> list[Review]:
    def wanted(r: Review) -> bool:
        return (
            (not q.states or r.state in q.states)
            and (not q.kinds or r.kind in q.kinds)
            and (not q.outcomes or r.outcome in q.outcomes)
            and (q.created_from is None or r.created_at >= q.created_from)
            and (q.created_to is None or r.created_at < q.created_to)
            and (not q.policy_numbers or r.policy_number in q.policy_numbers)
            and (q.payment_id is None or r.payment_id == q.payment_id)
            and (q.before_id is None or r.id < q.before_id)
        )

    return sorted(filter(wanted, s.reviews.values()), key=lambda r: r.id, reverse=True)[: q.limit]


def _append(
    s: MemoryState,
    ids: Ids,
    review_id: int,
    action: ReviewAction,
    from_state: ReviewState | None,
    to_state: ReviewState,
    outcome: ReviewOutcome | None,
    actor: str,
    note: str,
    now: datetime,
) -> ReviewEvent:
    event = ReviewEvent(
        ids.next_id("review_events"), review_id, action, from_state, to_state, outcome, actor, note, now
    )
    s.review_events[event.id] = event
    return event


class MemoryReviewRows:
    """``hub.ports.ReviewRows`` over ``MemoryState``."""

    def __init__(self, state: MemoryState, ids: Ids) -> None:
        self._s = state
        self._ids = ids

    def _by_id(self, review_id: int) -> Review | None:
        return next((r for r in self._s.reviews.values() if r.id == review_id), None)

    async def get(self, review_id: int, *, lock: bool = False) -> Review | None:
        return self._by_id(review_id)

    async def by_key(self, key: str) -> Review | None:
        return self._s.reviews.get(key)

    async def find(self, query: ReviewQuery) -> list[Review]:
        return review_list(self._s, query)

    async def move(
        self, review_id: int, expected: ReviewState, to: ReviewState, outcome: ReviewOutcome | None, now: datetime
    ) -> bool:
        review = self._by_id(review_id)
        if review is None or review.state is not expected:
            return False
        if (to is ReviewState.RESOLVED) != (outcome is not None):
            raise ValueError("an outcome exactly while RESOLVED")  # the SQL CHECK refuses it too
        self._s.reviews[review.key] = replace(review, state=to, outcome=outcome, updated_at=now)
        return True

    async def append_event(
        self,
        review_id: int,
        action: ReviewAction,
        from_state: ReviewState | None,
        to_state: ReviewState,
        outcome: ReviewOutcome | None,
        actor: str,
        note: str,
        now: datetime,
    ) -> ReviewEvent:
        if self._by_id(review_id) is None:
            raise ValueError(f"no review {review_id}")  # the SQL foreign key refuses it too
        return _append(self._s, self._ids, review_id, action, from_state, to_state, outcome, actor, note, now)

    async def history(self, review_id: int) -> list[ReviewEvent]:
        return sorted((e for e in self._s.review_events.values() if e.review_id == review_id), key=lambda e: e.id)

    async def of_payments(self, payment_ids: Sequence[int]) -> list[Review]:
        wanted = set(payment_ids)
        return sorted((r for r in self._s.reviews.values() if r.payment_id in wanted), key=lambda r: r.id)

    async def unresolved_by_kind(self) -> dict[tuple[str, ReviewState], int]:
        counts: dict[tuple[str, ReviewState], int] = {}
        for r in self._s.reviews.values():
            if r.state in UNRESOLVED:
                counts[(r.kind, r.state)] = counts.get((r.kind, r.state), 0) + 1
        return counts


class MemoryLookupRows:
    """``hub.ports.LookupRows`` over ``MemoryState``."""

    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def payments(self, query: PaymentQuery) -> list[tuple[Payment, Premium | None]]:
        q = query
        by_receipt = (
            {r.payment_id for k, r in self._s.webhook_receipts.items() if k == f"BILL:{q.transaction_id}"}
            if q.transaction_id is not None
            else set()
        )
        names = set(q.policy_names)

        def wanted(p: Payment) -> bool:
            premium = self._s.premiums.get(p.premium_id)
            return (
                (q.transaction_id is None or p.transaction_id == q.transaction_id or p.id in by_receipt)
                and (
                    q.policy is None
                    or p.policy_number in names
                    or (premium is not None and premium.application_number in names)
                )
                # the SQL stores fold ASCII letters at least (PostgreSQL: every letter)
                and (q.payer is None or (premium is not None and premium.payer.lower().startswith(q.payer.lower())))
                and (q.created_from is None or p.created_at >= q.created_from)
                and (q.created_to is None or p.created_at < q.created_to)
                and (not q.statuses or p.status in q.statuses)
                and (q.before_id is None or p.id < q.before_id)
            )

        found = sorted(filter(wanted, self._s.payments.values()), key=lambda p: p.id, reverse=True)[: q.limit]
        return [(p, self._s.premiums.get(p.premium_id)) for p in found]

    async def events_of(self, payment_id: int) -> list[PaymentEvent]:
        return sorted((e for e in self._s.payment_events.values() if e.payment_id == payment_id), key=lambda e: e.id)

    async def receipts_of(self, payment_id: int | None, keys: Sequence[str] = ()) -> list[StoredReceipt]:
        wanted = set(keys)
        found = [
            StoredReceipt(r, self._s.receipt_created[k], self._s.receipt_updated.get(k, self._s.receipt_created[k]))
            for k, r in self._s.webhook_receipts.items()
            if (payment_id is not None and r.payment_id == payment_id) or k in wanted
        ]
        return sorted(found, key=lambda x: (x.created_at, x.receipt.key))


class MemoryAmkAnswerRows:
    """``hub.ports.AmkAnswerRows`` over ``MemoryState``."""

    def __init__(self, state: MemoryState, ids: Ids) -> None:
        self._s = state
        self._ids = ids

    async def record(
        self,
        payment_id: int | None,
        reference: str,
        source: str,
        status: str,
        amount: Decimal | None,
        currency: Currency | None,
        detail: dict[str, Any],
        now: datetime,
    ) -> AmkAnswer:
        answer = AmkAnswer(
            self._ids.next_id("amk_answers"),
            payment_id,
            reference,
            source,
            status,
            amount,
            currency,
            json_column(detail),
            now,
        )
        self._s.amk_answers[answer.id] = answer
        return answer

    async def of(self, payment_ids: Sequence[int], references: Sequence[str] = ()) -> list[AmkAnswer]:
        ids, refs = set(payment_ids), set(references)
        return [a for a in self._s.amk_answers.values() if a.payment_id in ids or a.reference in refs]
