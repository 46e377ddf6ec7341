"""The outbox side of ``payment_events``: rows not yet relayed (``published_at IS NULL``).

Used inside one store transaction by the relay: ``claim`` → publish → ``mark_published`` → commit.

On PostgreSQL, claimed rows are locked ``FOR UPDATE SKIP LOCKED``: concurrent relays take disjoint
rows, and a relay that dies releases its rows with its transaction. ``claim`` also keeps each
payment's events in order across relays: it leaves out every event of a payment that has an earlier
unpublished event this relay did not get (another relay holds it), so one payment's events are
never published out of id order in the normal path. SQLite has a single writer, so a plain SELECT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hub.adapters.store._conn import Conn
from hub.adapters.store.rows import EVENT_COLS, as_datetime, event_from_row
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent

_COLS = EVENT_COLS


def _marks(start: int, count: int) -> str:
    return ",".join(f"${i}" for i in range(start, start + count))


class OutboxRows:
    """``hub.ports.OutboxRows`` over SQL; ``locking`` (PostgreSQL) claims with ``SKIP LOCKED``."""

    def __init__(self, conn: Conn, *, locking: bool) -> None:
        self._c = conn
        self._locking = locking
        self.deferred = 0  # events the last claim left out, waiting for another relay's earlier ones

    async def claim(self, limit: int) -> list[PaymentEvent]:
        """Up to ``limit`` unpublished events, oldest first, locked until the transaction ends."""
        lock = " FOR UPDATE SKIP LOCKED" if self._locking else ""
        rows = await self._c.fetch(
            f"SELECT {_COLS} FROM payment_events WHERE published_at IS NULL ORDER BY id LIMIT $1{lock}", limit
        )
        events = [event_from_row(r) for r in rows]
        if not self._locking or not events:
            return events
        return await self._in_payment_order(events)

    async def _in_payment_order(self, events: list[PaymentEvent]) -> list[PaymentEvent]:
        mine = {e.id for e in events}
        payments = sorted({e.payment_id for e in events})
        # A plain read sees rows other relays hold locked (not yet marked), so it finds their gaps.
        rows = await self._c.fetch(
            f"SELECT id, payment_id FROM payment_events WHERE published_at IS NULL AND id <= $1"
            f" AND payment_id IN ({_marks(2, len(payments))})",
            max(mine),
            *payments,
        )
        held: dict[int, int] = {}  # payment -> smallest unpublished id held by someone else
        for r in rows:
            if int(r["id"]) not in mine:
                pid = int(r["payment_id"])
                held[pid] = min(held.get(pid, int(r["id"])), int(r["id"]))
        ready = [e for e in events if e.id < held.get(e.payment_id, e.id + 1)]
        self.deferred = len(events) - len(ready)
        return ready

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None:
        if ids:
            await self._c.execute(
                f"UPDATE payment_events SET published_at = $1 WHERE id IN ({_marks(2, len(ids))})", now, *ids
            )

    async def had_processing(self, payment_id: int, before_id: int) -> bool:
        """Whether a PROCESSING status event of this payment precedes event ``before_id``."""
        row = await self._c.fetchrow(
            "SELECT id FROM payment_events WHERE payment_id = $1 AND id < $2 AND type = $3 AND status = $4 LIMIT 1",
            payment_id,
            before_id,
            PaymentEvent.STATUS,
            PaymentStatus.PROCESSING.value,
        )
        return row is not None

    async def unpublished_count(self) -> int:
        row = await self._c.fetchrow("SELECT COUNT(*) AS n FROM payment_events WHERE published_at IS NULL")
        return int(row["n"]) if row else 0

    async def oldest_unpublished_at(self) -> datetime | None:
        # The lowest unpublished id is the oldest event: ids increase in commit order (partial index).
        row = await self._c.fetchrow(
            "SELECT occurred_at FROM payment_events WHERE published_at IS NULL ORDER BY id LIMIT 1"
        )
        return as_datetime(row["occurred_at"]) if row else None
