"""KHQR session rows (the khqr service's table), read and written inside one SQL transaction.

The partial unique index ``khqr_sessions_one_pending`` allows one PENDING session per premium.
"""

from __future__ import annotations

from datetime import datetime

from hub.adapters.store._conn import Conn
from hub.adapters.store.rows import SESSION_COLS, as_datetime, session_from_row
from hub.domain.records import KhqrSession


class SessionRows:
    """``hub.ports.KhqrSessionRows`` over SQL: the ``khqr_sessions`` table inside one transaction."""

    def __init__(self, conn: Conn, for_update: str) -> None:
        self._c = conn
        self._for_update = for_update

    async def get(self, session_id: str) -> KhqrSession | None:
        row = await self._c.fetchrow(f"SELECT {SESSION_COLS} FROM khqr_sessions WHERE id = $1", session_id)
        return session_from_row(row) if row else None

    async def pending_for_premium(self, premium_id: int) -> KhqrSession | None:
        row = await self._c.fetchrow(
            f"SELECT {SESSION_COLS} FROM khqr_sessions WHERE premium_id = $1 AND status = 'PENDING'{self._for_update}",
            premium_id,
        )
        return session_from_row(row) if row else None

    async def insert(self, s: KhqrSession) -> bool:
        """False when the premium already has a PENDING session (a concurrent request won)."""
        row = await self._c.fetchrow(
            f"INSERT INTO khqr_sessions ({SESSION_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
            " ON CONFLICT (premium_id) WHERE status = 'PENDING' DO NOTHING RETURNING id",
            s.id,
            s.payment_id,
            s.premium_id,
            s.policy_number,
            s.customer_name,
            s.amount,
            s.currency.value,
            s.qr_string,
            s.qr_image,
            s.status,
            s.created_at,
            s.expires_at,
        )
        return row is not None

    async def due(self, now: datetime, limit: int = 200) -> list[KhqrSession]:
        rows = await self._c.fetch(
            f"SELECT {SESSION_COLS} FROM khqr_sessions WHERE status = 'PENDING' AND expires_at <= $1"
            " ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
        return [session_from_row(r) for r in rows]

    async def next_expiry(self) -> datetime | None:
        row = await self._c.fetchrow(
            "SELECT expires_at FROM khqr_sessions WHERE status = 'PENDING' ORDER BY expires_at LIMIT 1"
        )
        return as_datetime(row["expires_at"]) if row else None

    async def close(self, session_id: str, status: str, now: datetime, *, only_pending: bool = True) -> bool:
        guard = " AND status = 'PENDING'" if only_pending else " AND status <> $2"
        row = await self._c.fetchrow(
            f"UPDATE khqr_sessions SET status = $2, closed_at = $3 WHERE id = $1{guard} RETURNING id",
            session_id,
            status,
            now,
        )
        return row is not None

    async def end_for_payment(self, payment_id: int, status: str, now: datetime) -> int:
        """``PAID``: every session of the payment not yet PAID; ``EXPIRED``: only those still PENDING.
        Returns how many changed."""
        guard = "status <> 'PAID'" if status == "PAID" else "status = 'PENDING'"
        rows = await self._c.fetch(
            f"UPDATE khqr_sessions SET status = $2, closed_at = $3 WHERE payment_id = $1 AND {guard} RETURNING id",
            payment_id,
            status,
            now,
        )
        return len(rows)

    async def mark_paid(self, payment_id: int, now: datetime) -> int:
        rows = await self._c.fetch(
            "UPDATE khqr_sessions SET status = 'PAID', closed_at = $2 WHERE payment_id = $1"
            " AND status <> 'PAID' RETURNING id",
            payment_id,
            now,
        )
        return len(rows)
