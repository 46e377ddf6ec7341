"""The tables of the in-memory store (``memory.py``), its JSON columns, and its KHQR session and outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

from hub.domain.blocklist import BlockEntry
from hub.domain.notification import Notification, Preferences
from hub.domain.payment import PaymentStatus
from hub.domain.reconciliation import ReconItem, ReconRun, StoredStatement
from hub.domain.records import KhqrSession, Payment, PaymentEvent, Premium, Receipt
from hub.domain.reviews import AmkAnswer, Review, ReviewEvent
from hub.errors import UniqueViolation
from hub.json_codec import dumps, loads

_PENDING = "PENDING"


def json_column(value: Any) -> Any:
    """What a JSON column gives back (decimals stay exact, tuples become lists)."""
    return loads(dumps(value))


@dataclass
class MemoryState:
    """The tables. Records are immutable, so a shallow copy of each container is a snapshot."""

    premiums: dict[int, Premium] = field(default_factory=dict)
    payments: dict[int, Payment] = field(default_factory=dict)
    payment_events: dict[int, PaymentEvent] = field(default_factory=dict)
    published: dict[int, datetime] = field(default_factory=dict)  # event id -> published_at
    webhook_receipts: dict[str, Receipt] = field(default_factory=dict)
    reviews: dict[str, Review] = field(default_factory=dict)  # by key
    review_events: dict[int, ReviewEvent] = field(default_factory=dict)
    amk_answers: dict[int, AmkAnswer] = field(default_factory=dict)
    inquiries: list[tuple[str, str, str, str, str, datetime]] = field(default_factory=list)
    khqr_sessions: dict[str, KhqrSession] = field(default_factory=dict)
    notifications: dict[int, Notification] = field(default_factory=dict)
    notification_preferences: dict[str, Preferences] = field(default_factory=dict)
    notifier_cursors: dict[str, int] = field(default_factory=dict)
    blocklist: dict[int, BlockEntry] = field(default_factory=dict)
    receipt_created: dict[str, datetime] = field(default_factory=dict)  # webhook_receipts.created_at
    receipt_updated: dict[str, datetime] = field(default_factory=dict)  # .updated_at, once updated
    reconciliation_runs: dict[int, ReconRun] = field(default_factory=dict)
    reconciliation_items: dict[tuple[int, str], ReconItem] = field(default_factory=dict)
    reconciliation_statements: dict[date, StoredStatement] = field(default_factory=dict)
    payment_watchers: dict[tuple[int, str], datetime] = field(default_factory=dict)  # -> created_at

    def snapshot(self) -> MemoryState:
        return MemoryState(**{f.name: type(getattr(self, f.name))(getattr(self, f.name)) for f in fields(self)})


class MemorySessionRows:
    """``hub.ports.KhqrSessionRows``; at most one PENDING session per premium, like the SQL index."""

    def __init__(self, sessions: dict[str, KhqrSession]) -> None:
        self._rows = sessions

    async def get(self, session_id: str) -> KhqrSession | None:
        return self._rows.get(session_id)

    async def pending_for_premium(self, premium_id: int) -> KhqrSession | None:
        return next((s for s in self._rows.values() if s.premium_id == premium_id and s.status == _PENDING), None)

    async def insert(self, s: KhqrSession) -> bool:
        if s.status == _PENDING and await self.pending_for_premium(s.premium_id) is not None:
            return False
        if s.id in self._rows:
            raise UniqueViolation("khqr_sessions_pkey")
        self._rows[s.id] = s
        return True

    async def due(self, now: datetime, limit: int = 200) -> list[KhqrSession]:
        due = [s for s in self._rows.values() if s.status == _PENDING and s.expires_at <= now]
        return sorted(due, key=lambda s: s.expires_at)[:limit]

    async def next_expiry(self) -> datetime | None:
        return min((s.expires_at for s in self._rows.values() if s.status == _PENDING), default=None)

    async def close(self, session_id: str, status: str, now: datetime, *, only_pending: bool = True) -> bool:
        s = self._rows.get(session_id)
        if s is None or (s.status != _PENDING if only_pending else s.status == status):
            return False
        self._rows[session_id] = replace(s, status=status)
        return True

    async def end_for_payment(self, payment_id: int, status: str, now: datetime) -> int:
        ending = [
            s
            for s in self._rows.values()
            if s.payment_id == payment_id and (s.status != "PAID" if status == "PAID" else s.status == _PENDING)
        ]
        for s in ending:
            self._rows[s.id] = replace(s, status=status)
        return len(ending)

    async def mark_paid(self, payment_id: int, now: datetime) -> int:
        changed = [s for s in self._rows.values() if s.payment_id == payment_id and s.status != "PAID"]
        for s in changed:
            self._rows[s.id] = replace(s, status="PAID")
        return len(changed)


class MemoryOutboxRows:
    """``hub.ports.OutboxRows`` for one process: units of work never overlap, so nothing is deferred."""

    def __init__(self, events: dict[int, PaymentEvent], published: dict[int, datetime]) -> None:
        self._events = events
        self._published = published
        self.deferred = 0

    async def claim(self, limit: int) -> list[PaymentEvent]:
        return [e for e in self._events.values() if e.id not in self._published][:limit]

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None:
        for id_ in ids:
            if id_ in self._events:
                self._published[id_] = now

    async def had_processing(self, payment_id: int, before_id: int) -> bool:
        return any(
            e.payment_id == payment_id
            and e.id < before_id
            and e.type == PaymentEvent.STATUS
            and e.status is PaymentStatus.PROCESSING
            for e in self._events.values()
        )

    async def unpublished_count(self) -> int:
        return sum(1 for id_ in self._events if id_ not in self._published)

    async def oldest_unpublished_at(self) -> datetime | None:
        waiting = [e for e in self._events.values() if e.id not in self._published]
        return min(waiting, key=lambda e: e.id).occurred_at if waiting else None
