"""The notifier's tables in the in-memory store (``memory.py``), with the SQL statements' rules: one row
per (occasion, channel, recipient), claims that lease a row, DEAD rows revived by operators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from hub.domain.notification import OPEN_STATES, NewNotification, Notification, NotificationState, Preferences
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium

if TYPE_CHECKING:
    from hub.adapters.store.memory_rows import MemoryState

_OUTCOMES = (PaymentStatus.CONFIRMED, PaymentStatus.FAILED)


class MemoryNotificationRows:
    """``hub.ports.NotificationRows`` over ``MemoryState`` (units of work never overlap: nothing to skip)."""

    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def enqueue(self, n: NewNotification, now: datetime) -> bool:
        rows = self._s.notifications
        if any(row.key == n.key for row in rows.values()):
            return False  # the unique index notifications_once
        new_id = max(rows, default=0) + 1
        rows[new_id] = Notification(
            id=new_id,
            key=n.key,
            message_id=n.message_id,
            kind=n.kind,
            language=n.language,
            content=n.content,
            state=NotificationState.PENDING,
            attempts=0,
            next_attempt_at=n.next_attempt_at,
            last_error=None,
            payment_id=n.payment_id,
            premium_id=n.premium_id,
            created_at=now,
            updated_at=now,
            sent_at=None,
        )
        return True

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        due = sorted(
            (
                n
                for n in self._s.notifications.values()
                if n.state in OPEN_STATES and n.next_attempt_at is not None and n.next_attempt_at <= now
            ),
            key=lambda n: (n.next_attempt_at, n.id),
        )[:limit]
        claimed = [replace(n, attempts=n.attempts + 1, next_attempt_at=lease_until, updated_at=now) for n in due]
        for n in claimed:
            self._s.notifications[n.id] = n
        return sorted(claimed, key=lambda n: n.id)

    async def get(self, notification_id: int) -> Notification | None:
        return self._s.notifications.get(notification_id)

    async def finish(
        self,
        notification_id: int,
        state: NotificationState,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        attempts_delta: int = 0,
        claimed: int | None = None,
    ) -> bool:
        n = self._s.notifications.get(notification_id)
        if n is None:
            return False
        if claimed is not None and (
            n.state not in OPEN_STATES or (n.attempts != claimed and state is not NotificationState.SENT)
        ):
            return False
        self._s.notifications[notification_id] = replace(
            n,
            state=state,
            last_error=error if error is not None else n.last_error,
            next_attempt_at=next_attempt_at,
            attempts=n.attempts + attempts_delta,
            updated_at=now,
            sent_at=now if state is NotificationState.SENT else n.sent_at,
        )
        return True

    async def for_payment(self, payment_id: int) -> list[Notification]:
        return sorted((n for n in self._s.notifications.values() if n.payment_id == payment_id), key=lambda n: n.id)

    async def listing(self, states: Sequence[NotificationState], limit: int = 100) -> list[Notification]:
        wanted = set(states)
        return sorted((n for n in self._s.notifications.values() if n.state in wanted), key=lambda n: -n.id)[:limit]

    async def revive(self, ids: Sequence[int] | None, now: datetime) -> list[int]:
        chosen = set(ids) if ids is not None else None
        revived = [
            n
            for n in self._s.notifications.values()
            if n.state is NotificationState.DEAD and (chosen is None or n.id in chosen)
        ]
        for n in revived:
            self._s.notifications[n.id] = replace(
                n, state=NotificationState.PENDING, attempts=0, next_attempt_at=now, updated_at=now
            )
        return sorted(n.id for n in revived)

    async def count_by_state(self) -> dict[str, int]:
        counts = {s.value: 0 for s in NotificationState}
        for n in self._s.notifications.values():
            counts[n.state.value] += 1
        return counts

    async def preferences(self, policy_number: str) -> Preferences | None:
        return self._s.notification_preferences.get(policy_number)

    async def set_preferences(self, p: Preferences, now: datetime) -> None:
        self._s.notification_preferences[p.policy_number] = p

    async def cursor(self, name: str) -> int | None:
        return self._s.notifier_cursors.get(name)

    async def set_cursor(self, name: str, event_id: int, now: datetime) -> None:
        self._s.notifier_cursors[name] = event_id

    async def outcome_events_after(self, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        return sorted(
            (
                e
                for e in self._s.payment_events.values()
                if e.id > after_id and e.type == PaymentEvent.STATUS and e.status in _OUTCOMES
            ),
            key=lambda e: e.id,
        )[:limit]

    async def status_events_after(self, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        return sorted(
            (e for e in self._s.payment_events.values() if e.id > after_id and e.type == PaymentEvent.STATUS),
            key=lambda e: e.id,
        )[:limit]

    async def last_event_id(self) -> int:
        return max(self._s.payment_events, default=0)

    async def due_premiums(self, first: date, last: date, after_id: int = 0, limit: int = 500) -> list[Premium]:
        return sorted(
            (
                p
                for p in self._s.premiums.values()
                if p.status == "DUE" and first <= p.due_date <= last and p.id > after_id
            ),
            key=lambda p: p.id,
        )[:limit]
