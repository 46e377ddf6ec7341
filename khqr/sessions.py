"""KHQR session rows (the khqr service's own table), read and written inside a store Tx."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hub.adapters.store._conn import Row
from hub.adapters.store.sql import Tx, as_datetime
from hub.domain.money import Currency

PENDING, PAID, EXPIRED = "PENDING", "PAID", "EXPIRED"
_COLS = (
    "id, payment_id, premium_id, policy_number, customer_name, amount, currency, qr_string, qr_image,"
    " status, created_at, expires_at"
)


@dataclass(frozen=True)
class Session:
    id: str
    payment_id: int
    premium_id: int
    policy_number: str
    customer_name: str
    amount: Decimal
    currency: Currency
    qr_string: str
    qr_image: str  # base64 PNG
    status: str
    created_at: datetime
    expires_at: datetime

    def status_at(self, now: datetime) -> str:
        """PENDING turns EXPIRED at expires_at even before the scheduler has written it."""
        return EXPIRED if self.status == PENDING and now >= self.expires_at else self.status


def _session(r: Row) -> Session:
    return Session(
        id=r["id"],
        payment_id=int(r["payment_id"]),
        premium_id=int(r["premium_id"]),
        policy_number=r["policy_number"],
        customer_name=r["customer_name"],
        amount=Decimal(str(r["amount"])),
        currency=Currency(r["currency"]),
        qr_string=r["qr_string"],
        qr_image=r["qr_image"],
        status=r["status"],
        created_at=as_datetime(r["created_at"]),
        expires_at=as_datetime(r["expires_at"]),
    )


class SessionRows:
    def __init__(self, tx: Tx) -> None:
        self._c = tx.conn
        self._for_update = tx.for_update

    async def get(self, session_id: str) -> Session | None:
        row = await self._c.fetchrow(f"SELECT {_COLS} FROM khqr_sessions WHERE id = $1", session_id)
        return _session(row) if row else None

    async def pending_for_premium(self, premium_id: int) -> Session | None:
        row = await self._c.fetchrow(
            f"SELECT {_COLS} FROM khqr_sessions WHERE premium_id = $1 AND status = 'PENDING'{self._for_update}",
            premium_id,
        )
        return _session(row) if row else None

    async def insert(self, s: Session) -> bool:
        """False when the premium already has a PENDING session (a concurrent request won)."""
        row = await self._c.fetchrow(
            f"INSERT INTO khqr_sessions ({_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
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

    async def due(self, now: datetime, limit: int = 200) -> list[Session]:
        rows = await self._c.fetch(
            f"SELECT {_COLS} FROM khqr_sessions WHERE status = 'PENDING' AND expires_at <= $1"
            " ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
        return [_session(r) for r in rows]

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

    async def mark_paid(self, payment_id: int, now: datetime) -> int:
        rows = await self._c.fetch(
            "UPDATE khqr_sessions SET status = 'PAID', closed_at = $2 WHERE payment_id = $1"
            " AND status <> 'PAID' RETURNING id",
            payment_id,
            now,
        )
        return len(rows)
