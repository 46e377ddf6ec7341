"""The notifier's tables (``notifications``, ``notification_preferences``, ``notifier_cursors``) inside
one SQL transaction, for both dialects.

The unique index ``notifications_once`` (occasion, channel, recipient) makes ``enqueue`` idempotent;
``claim`` takes due rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several notifiers never
claim one row at once (SQLite runs one write transaction at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from hub.adapters.store._conn import Conn, Row
from hub.adapters.store.rows import EVENT_COLS, PREMIUM_COLS, as_datetime, event_from_row, premium_from_row
from hub.domain.notification import (
    Channel,
    Content,
    Hours,
    Kind,
    Language,
    NewNotification,
    Notification,
    NotificationKey,
    NotificationState,
    Preferences,
)
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.json_codec import dumps, loads

NOTIFICATION_COLS = (
    "id, occasion, channel, recipient, message_id, kind, language, content, state, attempts, next_attempt_at,"
    " last_error, payment_id, premium_id, created_at, updated_at, sent_at"
)
_OPEN = "state IN ('PENDING', 'FAILED')"


def notification_from_row(r: Row) -> Notification:
    return Notification(
        id=int(r["id"]),
        key=NotificationKey(r["occasion"], Channel(r["channel"]), r["recipient"]),
        message_id=r["message_id"],
        kind=Kind(r["kind"]),
        language=Language(r["language"]),
        content=Content.from_json(loads(r["content"])),
        state=NotificationState(r["state"]),
        attempts=int(r["attempts"]),
        next_attempt_at=None if r["next_attempt_at"] is None else as_datetime(r["next_attempt_at"]),
        last_error=r["last_error"],
        payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
        premium_id=None if r["premium_id"] is None else int(r["premium_id"]),
        created_at=as_datetime(r["created_at"]),
        updated_at=as_datetime(r["updated_at"]),
        sent_at=None if r["sent_at"] is None else as_datetime(r["sent_at"]),
    )


def preferences_from_row(r: Row) -> Preferences:
    channels = frozenset(Channel(c) for c in str(r["channels"]).split(",") if c)
    hours = Hours.parse(r["hours_start"], r["hours_end"]) if r["hours_start"] and r["hours_end"] else None
    return Preferences(r["policy_number"], channels, hours)


class NotificationRows:
    """``hub.ports.NotificationRows`` over SQL."""

    def __init__(self, conn: Conn, *, locking: bool) -> None:
        self._c = conn
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if locking else ""

    async def enqueue(self, n: NewNotification, now: datetime) -> bool:
        row = await self._c.fetchrow(
            "INSERT INTO notifications (occasion, channel, recipient, message_id, kind, language, content, state,"
            " attempts, next_attempt_at, payment_id, premium_id, created_at, updated_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,'PENDING',0,$8,$9,$10,$11,$11)"
            " ON CONFLICT (occasion, channel, recipient) DO NOTHING RETURNING id",
            n.key.occasion,
            n.key.channel.value,
            n.key.recipient,
            n.message_id,
            n.kind.value,
            n.language.value,
            dumps(n.content.json()),
            n.next_attempt_at,
            n.payment_id,
            n.premium_id,
            now,
        )
        return row is not None

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Notification]:
        rows = await self._c.fetch(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2, updated_at = $1"
            f" WHERE id IN (SELECT id FROM notifications WHERE {_OPEN} AND next_attempt_at <= $1"
            f" ORDER BY next_attempt_at, id LIMIT $3{self._skip_locked}) RETURNING {NOTIFICATION_COLS}",
            now,
            lease_until,
            limit,
        )
        return sorted((notification_from_row(r) for r in rows), key=lambda n: n.id)

    async def get(self, notification_id: int) -> Notification | None:
        row = await self._c.fetchrow(f"SELECT {NOTIFICATION_COLS} FROM notifications WHERE id = $1", notification_id)
        return notification_from_row(row) if row else None

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
        fence = ""
        args: list[Any] = [notification_id, state.value, error, next_attempt_at, attempts_delta, now]
        if claimed is not None:  # see the port: only the claim's own outcome, or a SENT, on an open row
            fence = f" AND {_OPEN} AND (attempts = $7 OR $2 = 'SENT')"
            args.append(claimed)
        row = await self._c.fetchrow(
            "UPDATE notifications SET state = $2, last_error = COALESCE($3, last_error), next_attempt_at = $4,"
            " attempts = attempts + $5, updated_at = $6,"
            f" sent_at = CASE WHEN $2 = 'SENT' THEN $6 ELSE sent_at END WHERE id = $1{fence} RETURNING id",
            *args,
        )
        return row is not None

    async def for_payment(self, payment_id: int) -> list[Notification]:
        rows = await self._c.fetch(
            f"SELECT {NOTIFICATION_COLS} FROM notifications WHERE payment_id = $1 ORDER BY id", payment_id
        )
        return [notification_from_row(r) for r in rows]

    async def listing(self, states: Sequence[NotificationState], limit: int = 100) -> list[Notification]:
        if not states:
            return []
        marks = ",".join(f"${i}" for i in range(2, 2 + len(states)))
        rows = await self._c.fetch(
            f"SELECT {NOTIFICATION_COLS} FROM notifications WHERE state IN ({marks}) ORDER BY id DESC LIMIT $1",
            limit,
            *(s.value for s in states),
        )
        return [notification_from_row(r) for r in rows]

    async def revive(self, ids: Sequence[int] | None, now: datetime) -> list[int]:
        chosen = ""
        args: list[Any] = [now]
        if ids is not None:
            if not ids:
                return []
            chosen = " AND id IN (" + ",".join(f"${i}" for i in range(2, 2 + len(ids))) + ")"
            args += list(ids)
        rows = await self._c.fetch(
            "UPDATE notifications SET state = 'PENDING', attempts = 0, next_attempt_at = $1, updated_at = $1"
            f" WHERE state = 'DEAD'{chosen} RETURNING id",
            *args,
        )
        return sorted(int(r["id"]) for r in rows)

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._c.fetch("SELECT state, COUNT(*) AS n FROM notifications GROUP BY state")
        counts = {s.value: 0 for s in NotificationState}
        counts.update({r["state"]: int(r["n"]) for r in rows})
        return counts

    async def preferences(self, policy_number: str) -> Preferences | None:
        row = await self._c.fetchrow(
            "SELECT policy_number, channels, hours_start, hours_end FROM notification_preferences"
            " WHERE policy_number = $1",
            policy_number,
        )
        return preferences_from_row(row) if row else None

    async def set_preferences(self, p: Preferences, now: datetime) -> None:
        hours = p.hours.text() if p.hours else None
        await self._c.execute(
            "INSERT INTO notification_preferences (policy_number, channels, hours_start, hours_end, updated_at)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (policy_number) DO UPDATE SET channels = excluded.channels,"
            " hours_start = excluded.hours_start, hours_end = excluded.hours_end, updated_at = excluded.updated_at",
            p.policy_number,
            ",".join(sorted(c.value for c in p.channels)),
            hours["start"] if hours else None,
            hours["end"] if hours else None,
            now,
        )

    async def cursor(self, name: str) -> int | None:
        row = await self._c.fetchrow("SELECT event_id FROM notifier_cursors WHERE name = $1", name)
        return None if row is None else int(row["event_id"])

    async def set_cursor(self, name: str, event_id: int, now: datetime) -> None:
        await self._c.execute(
            "INSERT INTO notifier_cursors (name, event_id, updated_at) VALUES ($1,$2,$3)"
            " ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id, updated_at = excluded.updated_at",
            name,
            event_id,
            now,
        )

    async def outcome_events_after(self, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        rows = await self._c.fetch(
            f"SELECT {EVENT_COLS} FROM payment_events WHERE id > $1 AND type = $2 AND status IN ($3, $4)"
            " ORDER BY id LIMIT $5",
            after_id,
            PaymentEvent.STATUS,
            PaymentStatus.CONFIRMED.value,
            PaymentStatus.FAILED.value,
            limit,
        )
        return [event_from_row(r) for r in rows]

    async def status_events_after(self, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        rows = await self._c.fetch(
            f"SELECT {EVENT_COLS} FROM payment_events WHERE id > $1 AND type = $2 ORDER BY id LIMIT $3",
            after_id,
            PaymentEvent.STATUS,
            limit,
        )
        return [event_from_row(r) for r in rows]

    async def last_event_id(self) -> int:
        row = await self._c.fetchrow("SELECT COALESCE(MAX(id), 0) AS n FROM payment_events")
        return int(row["n"]) if row else 0

    async def due_premiums(self, first: date, last: date, after_id: int = 0, limit: int = 500) -> list[Premium]:
        rows = await self._c.fetch(
            f"SELECT {PREMIUM_COLS} FROM premiums WHERE status = 'DUE' AND due_date >= $1 AND due_date <= $2"
            " AND id > $3 ORDER BY id LIMIT $4",
            first,
            last,
            after_id,
            limit,
        )
        return [premium_from_row(r) for r in rows]
