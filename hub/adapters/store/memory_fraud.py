"""The in-memory store's fraud rows (``fraud_rows.py`` in SQL): the blocklist and a policy's paid amounts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from hub.domain.blocklist import BlockEntry, BlockKind
from hub.domain.money import Currency
from hub.domain.payment import PaymentStatus
from hub.domain.records import Payment


class MemoryFraudRows:
    """``hub.ports.FraudRows`` over the in-memory tables; each method mirrors one SQL statement.

    Times are kept to the microsecond, as both SQL dialects keep them."""

    def __init__(self, blocklist: dict[int, BlockEntry], payments: dict[int, Payment]) -> None:
        self._rows = blocklist
        self._payments = payments

    async def add_block(
        self,
        kind: BlockKind,
        value: str,
        reason: str,
        added_by: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> BlockEntry:
        entry = BlockEntry(max(self._rows, default=0) + 1, kind, value, reason, added_by, now, expires_at)
        self._rows[entry.id] = entry
        return entry

    async def block(self, entry_id: int) -> BlockEntry | None:
        return self._rows.get(entry_id)

    async def blocks(self, now: datetime, *, include_inactive: bool = False, limit: int = 1000) -> list[BlockEntry]:
        chosen = [e for e in self._rows.values() if include_inactive or e.active_at(now)]
        return sorted(chosen, key=lambda e: e.id, reverse=True)[:limit]

    async def remove_block(self, entry_id: int, removed_by: str, now: datetime) -> BlockEntry | None:
        entry = self._rows.get(entry_id)
        if entry is None or entry.removed_at is not None:
            return None
        self._rows[entry_id] = removed = replace(entry, removed_at=now, removed_by=removed_by)
        return removed

    async def paid_amounts(self, policy_number: str, currency: Currency, limit: int) -> list[Decimal]:
        paid = sorted(
            (
                p
                for p in self._payments.values()
                if p.policy_number == policy_number and p.currency is currency and p.status is PaymentStatus.CONFIRMED
            ),
            key=lambda p: p.id,
            reverse=True,
        )
        return [p.amount for p in paid[:limit]]
