"""The fraud controls' rows over SQL (both dialects): the ``blocklist`` table and a policy's paid amounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hub.adapters.store._conn import Conn, Row
from hub.adapters.store.rows import as_datetime
from hub.domain.blocklist import BlockEntry, BlockKind
from hub.domain.money import Currency

BLOCK_COLS = "id, kind, value, reason, added_by, created_at, expires_at, removed_at, removed_by"


def block_from_row(r: Row) -> BlockEntry:
    return BlockEntry(
        id=int(r["id"]),
        kind=BlockKind(r["kind"]),
        value=r["value"],
        reason=r["reason"],
        added_by=r["added_by"],
        created_at=as_datetime(r["created_at"]),
        expires_at=None if r["expires_at"] is None else as_datetime(r["expires_at"]),
        removed_at=None if r["removed_at"] is None else as_datetime(r["removed_at"]),
        removed_by=r["removed_by"],
    )


class SqlFraudRows:
    """``hub.ports.FraudRows`` inside one SQL transaction."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    async def add_block(
        self,
        kind: BlockKind,
        value: str,
        reason: str,
        added_by: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> BlockEntry:
        row = await self._c.fetchrow(
            "INSERT INTO blocklist (kind, value, reason, added_by, created_at, expires_at)"
            f" VALUES ($1,$2,$3,$4,$5,$6) RETURNING {BLOCK_COLS}",
            kind.value,
            value,
            reason,
            added_by,
            now,
            expires_at,
        )
        assert row is not None
        return block_from_row(row)

    async def block(self, entry_id: int) -> BlockEntry | None:
        row = await self._c.fetchrow(f"SELECT {BLOCK_COLS} FROM blocklist WHERE id = $1", entry_id)
        return block_from_row(row) if row else None

    async def blocks(self, now: datetime, *, include_inactive: bool = False, limit: int = 1000) -> list[BlockEntry]:
        if include_inactive:
            rows = await self._c.fetch(f"SELECT {BLOCK_COLS} FROM blocklist ORDER BY id DESC LIMIT $1", limit)
        else:
            rows = await self._c.fetch(
                f"SELECT {BLOCK_COLS} FROM blocklist WHERE removed_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > $1) ORDER BY id DESC LIMIT $2",
                now,
                limit,
            )
        return [block_from_row(r) for r in rows]

    async def remove_block(self, entry_id: int, removed_by: str, now: datetime) -> BlockEntry | None:
        row = await self._c.fetchrow(
            "UPDATE blocklist SET removed_at = $2, removed_by = $3 WHERE id = $1 AND removed_at IS NULL"
            f" RETURNING {BLOCK_COLS}",
            entry_id,
            now,
            removed_by,
        )
        return block_from_row(row) if row else None

    async def paid_amounts(self, policy_number: str, currency: Currency, limit: int) -> list[Decimal]:
        rows = await self._c.fetch(
            "SELECT amount FROM payments WHERE policy_number = $1 AND currency = $2 AND status = 'CONFIRMED'"
            " ORDER BY id DESC LIMIT $3",
            policy_number,
            currency.value,
            limit,
        )
        return [Decimal(str(r["amount"])) for r in rows]
