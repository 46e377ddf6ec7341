"""The customers a payment was offered to (``payment_watchers``), in a SQL unit of work (both dialects)."""

from __future__ import annotations

from datetime import datetime

from hub.adapters.store._conn import Conn
from hub.adapters.store.rows import storable_id


class SqlWatcherRows:
    """``hub.ports.WatcherRows`` over one SQL connection."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    async def add(self, payment_id: int, subject: str, now: datetime) -> bool:
        row = await self._c.fetchrow(
            "INSERT INTO payment_watchers (payment_id, subject, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (payment_id, subject) DO NOTHING RETURNING payment_id",
            payment_id,
            subject,
            now,
        )
        return row is not None

    async def watches(self, payment_id: int, subject: str) -> bool:
        if not storable_id(payment_id):
            return False
        row = await self._c.fetchrow(
            "SELECT 1 AS yes FROM payment_watchers WHERE payment_id = $1 AND subject = $2", payment_id, subject
        )
        return row is not None
