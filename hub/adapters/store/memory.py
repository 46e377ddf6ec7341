"""The in-memory store: ``hub.ports.Store`` in a few dicts, for use-case tests that run in milliseconds.

It keeps the SQL stores' rules, and ``tests/integration/test_store_contract.py`` runs against it
and against SQLite and PostgreSQL to prove it: units of work run one at a time (like SQLite) and
are all-or-nothing (a unit that raises restores the state it began with); the partial unique
rules of the schema raise ``UniqueViolation`` or answer False/None as the SQL statements do; JSON
columns go through the same encoding, so what comes back is what SQL would give back.

Not modelled: foreign keys, the append-only triggers (nothing here can update an event) and
migrations (``migrate()`` applies nothing). A new row's id is the table's largest plus one
(payments from ``PAYMENT_ID_FLOOR``), as in SQLite: an id a rolled-back unit took is handed out
again (PostgreSQL's sequences skip it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.adapters.store.memory_analytics import figures_of
from hub.adapters.store.memory_backoffice import MemoryAmkAnswerRows, MemoryLookupRows, MemoryReviewRows
from hub.adapters.store.memory_fraud import MemoryFraudRows
from hub.adapters.store.memory_notifications import MemoryNotificationRows
from hub.adapters.store.memory_receipts import MemoryReceiptStatements
from hub.adapters.store.memory_reconciliation import MemoryReconciliationRows
from hub.adapters.store.memory_rows import MemoryOutboxRows, MemorySessionRows, MemoryState, json_column
from hub.adapters.store.memory_watchers import MemoryWatcherRows
from hub.adapters.store.unit_of_work import ShortReads, run_after_commit
from hub.constants import PAYMENT_ID_FLOOR
from hub.domain.analytics import PaymentFigures
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.errors import UniqueViolation
from hub.ports import Store, StoreTx

_OPEN = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
_TABLES = frozenset(
    {
        "premiums",
        "payments",
        "payment_events",
        "webhook_receipts",
        "reviews",
        "review_events",
        "amk_answers",
        "inquiries",
        "khqr_sessions",
        "payment_watchers",
        "blocklist",
        "notifications",
    }
)


class MemoryStore(ShortReads):
    """``hub.ports.Store`` held in memory; lost when the process ends.

    Units of work run one at a time, so ``lock_premium`` and ``lock=True`` need do nothing."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self._lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return "memory"

    def next_id(self, table: str) -> int:
        ids = {
            "payments": self.state.payments.keys(),
            "payment_events": self.state.payment_events.keys(),
            "reviews": [r.id for r in self.state.reviews.values()],
            "review_events": self.state.review_events.keys(),
            "amk_answers": self.state.amk_answers.keys(),
        }[table]
        floor = PAYMENT_ID_FLOOR - 1 if table == "payments" else 0  # payment ids start at 10^12, as in SQL
        return max(ids, default=floor) + 1

    async def migrate(self) -> list[str]:
        return []

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def payment_figures(self, start: datetime, end: datetime) -> PaymentFigures:
        """``hub.ports.Store.payment_figures`` over the payments in memory (``memory_analytics.py``)."""
        async with self._lock:
            return figures_of(self.state.payments.values(), start, end)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTx]:
        """One unit of work at a time; everything it did is undone when it raises."""
        async with self._lock:
            before = self.state.snapshot()
            tx = MemoryTx(self)
            try:
                yield tx
            except BaseException:
                self.state = before
                raise
        run_after_commit(tx.committed_callbacks)


class MemoryTx(MemoryReceiptStatements):
    """``hub.ports.StoreTx`` over ``MemoryState``; each method mirrors one SQL statement."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._s = store.state
        self.khqr_sessions = MemorySessionRows(self._s.khqr_sessions)
        self.committed_callbacks: list[Callable[[], None]] = []
        self.outbox = MemoryOutboxRows(self._s.payment_events, self._s.published)
        self.notifications = MemoryNotificationRows(self._s)
        self.fraud = MemoryFraudRows(self._s.blocklist, self._s.payments)
        self.reconciliation = MemoryReconciliationRows(self._s)
        self.watchers = MemoryWatcherRows(self._s.payment_watchers)
        self.review_rows = MemoryReviewRows(self._s, store)
        self.lookups = MemoryLookupRows(self._s)
        self.amk_answers = MemoryAmkAnswerRows(self._s, store)

    # --- premiums ---
    async def upsert_premium(self, p: Premium, now: datetime, *, overwrite: bool = True) -> None:
        old = self._s.premiums.get(p.id)
        if old is None:
            self._s.premiums[p.id] = p
        elif overwrite:
            self._s.premiums[p.id] = replace(
                p,
                status="PAID" if old.status == "PAID" else p.status,
                amount=old.amount if old.status == "PAID" else p.amount,
                currency=old.currency if old.status == "PAID" else p.currency,
                paid_payment_id=old.paid_payment_id if old.paid_payment_id is not None else p.paid_payment_id,
            )

    async def premium(self, premium_id: int) -> Premium | None:
        return self._s.premiums.get(premium_id)

    async def find_due_premium(self, query: str) -> Premium | None:
        due = [
            p
            for p in self._s.premiums.values()
            if p.status == "DUE" and query in (p.policy_number, p.application_number)
        ]
        return min(due, key=lambda p: (p.due_date, p.id), default=None)

    async def mark_premium_paid(self, premium_id: int, payment_id: int, now: datetime) -> bool:
        p = self._s.premiums.get(premium_id)
        if p is None or p.status != "DUE":
            return False
        self._s.premiums[premium_id] = replace(p, status="PAID", paid_payment_id=payment_id)
        return True

    async def unsettled_confirmed(self, limit: int = 500) -> list[tuple[int, int]]:
        due = {p.id for p in self._s.premiums.values() if p.status == "DUE"}
        pairs = [
            (p.id, p.premium_id)
            for p in self._s.payments.values()
            if p.status is PaymentStatus.CONFIRMED and p.premium_id in due
        ]
        return sorted(pairs)[:limit]

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed_callbacks.append(callback)

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """``StoreTx.savepoint`` for the in-memory fake: no failed statement poisons its unit of work, and the
        one user (fraud screening) only reads, so there is nothing to undo; the exception propagates."""
        return nullcontext()

    # --- payments ---
    async def lock_premium(self, premium_id: int) -> None:
        return None  # units of work never overlap

    async def payment(self, payment_id: int, *, lock: bool = False) -> Payment | None:
        return self._s.payments.get(payment_id)

    async def open_payment_for(self, premium_id: int, *, lock: bool = False) -> Payment | None:
        attempts = (p for p in self._s.payments.values() if p.premium_id == premium_id and p.status in _OPEN)
        return max(attempts, key=_id, default=None)

    async def pending_payments_for(self, premium_id: int, *, excluding: int) -> list[Payment]:
        return sorted(
            (p for p in self._pending(premium_id) if p.id != excluding),
            key=_id,
        )

    def _pending(self, premium_id: int) -> list[Payment]:
        return [
            p for p in self._s.payments.values() if p.premium_id == premium_id and p.status is PaymentStatus.PENDING
        ]

    async def latest_payment_for(self, premium_id: int) -> Payment | None:
        return max((p for p in self._s.payments.values() if p.premium_id == premium_id), key=_id, default=None)

    async def payments_for(self, premium_id: int) -> list[Payment]:
        return sorted((p for p in self._s.payments.values() if p.premium_id == premium_id), key=_id)

    async def confirmed_payment_for(self, premium_id: int, *, excluding: int | None = None) -> Payment | None:
        confirmed = (
            p
            for p in self._s.payments.values()
            if p.premium_id == premium_id and p.status is PaymentStatus.CONFIRMED and p.id != excluding
        )
        return min(confirmed, key=_id, default=None)

    async def end_qr_sessions(self, payment_id: int, status: str, now: datetime) -> int:
        return await self.khqr_sessions.end_for_payment(payment_id, status, now)

    async def insert_open_payment(
        self, premium: Premium, method: PaymentMethod | None, now: datetime
    ) -> Payment | None:
        if self._pending(premium.id):
            return None  # the partial unique index payments_one_pending
        created = Payment(
            id=self._store.next_id("payments"),
            premium_id=premium.id,
            policy_number=premium.policy_number,
            method=method,
            status=PaymentStatus.PENDING,
            amount=premium.amount,
            currency=premium.currency,
            transaction_id=None,
            review_reason=None,
            created_at=now,
            updated_at=now,
        )
        self._s.payments[created.id] = created
        return created

    async def update_payment(self, p: Payment) -> None:
        old = self._s.payments.get(p.id)
        if old is None:
            return  # UPDATE of no row
        others = [o for o in self._s.payments.values() if o.id != p.id]
        if p.status is PaymentStatus.PENDING and any(o.id != p.id for o in self._pending(old.premium_id)):
            raise UniqueViolation("payments_one_pending")
        if p.status is PaymentStatus.CONFIRMED and any(
            o.status is PaymentStatus.CONFIRMED and o.transaction_id == p.transaction_id for o in others
        ):
            raise UniqueViolation("payments_transaction")
        self._s.payments[p.id] = replace(
            old,
            method=p.method,
            status=p.status,
            transaction_id=p.transaction_id,
            review_reason=p.review_reason,
            updated_at=p.updated_at,
        )

    # --- the event log ---
    async def append_event(
        self, payment_id: int, type_: str, status: PaymentStatus, data: dict[str, Any], at: datetime
    ) -> PaymentEvent:
        event = PaymentEvent(self._store.next_id("payment_events"), payment_id, type_, status, json_column(data), at)
        self._s.payment_events[event.id] = event
        return event

    async def events_after(
        self,
        payment_id: int,
        after_id: int,
        *,
        types: Sequence[str] = (PaymentEvent.STATUS,),
        limit: int = 500,
    ) -> list[PaymentEvent]:
        events = self._s.payment_events.values()
        return [e for e in events if e.payment_id == payment_id and e.id > after_id and e.type in types][:limit]

    async def status_events_of(self, payment_ids: Sequence[int], after_id: int) -> list[PaymentEvent]:
        wanted = set(payment_ids)
        return [
            e
            for e in self._s.payment_events.values()
            if e.type == PaymentEvent.STATUS and e.id > after_id and e.payment_id in wanted
        ]

    async def last_status_event(self, payment_id: int) -> PaymentEvent | None:
        events = await self.events_after(payment_id, 0, limit=len(self._s.payment_events))
        return events[-1] if events else None

    async def recent_status_events(self, limit: int) -> list[PaymentEvent]:
        if limit <= 0:
            return []
        newest: dict[int, PaymentEvent] = {}
        for e in self._s.payment_events.values():
            if e.type == PaymentEvent.STATUS and (e.payment_id not in newest or newest[e.payment_id].id < e.id):
                newest[e.payment_id] = e
        return sorted(newest.values(), key=lambda e: e.id)[-limit:]

    async def events_of_type(self, payment_id: int, type_: str) -> list[PaymentEvent]:
        return await self.events_after(payment_id, 0, types=(type_,))

    async def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"no table {table!r}")  # SQL would refuse it too
        rows: Any = getattr(self._s, table)
        return len(rows)


def _id(p: Payment) -> int:
    return p.id


if TYPE_CHECKING:  # mypy proves the adapter implements the port

    def _implements_port(store: MemoryStore, tx: MemoryTx) -> tuple[Store, StoreTx]:
        return store, tx


__all__ = ["MemoryState", "MemoryStore", "MemoryTx"]
