"""The back office's rows inside one unit of work: reviews and their history, payment look-ups,
AMK's answers. Reached from a ``StoreTx`` as ``tx.review_rows``, ``tx.lookups``, ``tx.amk_answers``.

Implementations: ``hub/adapters/store/backoffice.py`` (SQLite, PostgreSQL) and
``hub/adapters/store/memory_backoffice.py``; ``tests/integration/test_store_contract_reviews.py``
holds them to one contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from hub.domain.lookups import PaymentQuery, StoredReceipt
from hub.domain.money import Currency
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.domain.reviews import (
    AmkAnswer,
    Review,
    ReviewAction,
    ReviewEvent,
    ReviewOutcome,
    ReviewQuery,
    ReviewState,
)


class ReviewRows(Protocol):
    """Reviews (created by ``StoreTx.add_review``) and their append-only history."""

    async def get(self, review_id: int, *, lock: bool = False) -> Review | None:
        """One review; with ``lock`` its row stays locked until the unit ends (where rows lock)."""
        ...

    async def by_key(self, key: str) -> Review | None: ...

    async def find(self, query: ReviewQuery) -> list[Review]:
        """Reviews matching ``query``, newest (largest id) first, at most ``query.limit``."""
        ...

    async def move(
        self, review_id: int, expected: ReviewState, to: ReviewState, outcome: ReviewOutcome | None, now: datetime
    ) -> bool:
        """Set state, outcome and ``updated_at`` if the review is still in ``expected`` (compare and
        set); False when it is not (or does not exist), and nothing changed."""
        ...

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
        """Append one row to the review's history (never updated nor deleted)."""
        ...

    async def history(self, review_id: int) -> list[ReviewEvent]:
        """The review's history, oldest first (its ``open`` row first)."""
        ...

    async def of_payments(self, payment_ids: Sequence[int]) -> list[Review]:
        """Every review of these payments, oldest first."""
        ...

    async def unresolved_by_kind(self) -> dict[tuple[str, ReviewState], int]:
        """How many reviews wait for a person (OPEN or ESCALATED), per (kind, state); absent = 0."""
        ...


class LookupRows(Protocol):
    """Reads support staff need; none of them writes."""

    async def payments(self, query: PaymentQuery) -> list[tuple[Payment, Premium | None]]:
        """Payments matching ``query`` with their premium (None if the integration service's row is
        absent), newest (largest id) first, at most ``query.limit``."""
        ...

    async def events_of(self, payment_id: int) -> list[PaymentEvent]:
        """Every event of the payment, of every type, oldest first."""
        ...

    async def receipts_of(self, payment_id: int | None, keys: Sequence[str] = ()) -> list[StoredReceipt]:
        """The webhook receipts of a payment, and those with one of ``keys``, oldest first."""
        ...


class AmkAnswerRows(Protocol):
    """What AMK's payment-verify answered, kept for the case file (append-only by use)."""

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
    ) -> AmkAnswer: ...

    async def of(self, payment_ids: Sequence[int], references: Sequence[str] = ()) -> list[AmkAnswer]:
        """Answers about these payments or these references, oldest first."""
        ...
