"""The in-memory store's reconciliation rows (``reconciliation.py`` in SQL), statement for statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from hub.adapters.store.memory_rows import MemoryState, json_column
from hub.adapters.store.reconciliation import payment_money, receipt_money
from hub.domain.payment import PaymentStatus
from hub.domain.reconciliation import COMPLETED, MovedMoney, ReconItem, ReconRun, StoredStatement
from hub.domain.records import Payment, PaymentEvent

_MONEY_ANSWERS = (200, 202)
_HOLDS_MONEY = (PaymentStatus.PROCESSING, PaymentStatus.CONFIRMED)


class MemoryReconciliationRows:
    """``hub.ports.ReconciliationRows`` over ``MemoryState`` (units of work never overlap)."""

    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def _json_item(self, i: ReconItem) -> ReconItem:
        # What a JSON column gives back: decimals exact, tuples as lists.
        return replace(
            i, payhub=json_column(i.payhub), statement=json_column(i.statement), verify=json_column(i.verify)
        )

    # --- runs ---
    async def run(self, run_id: int) -> ReconRun | None:
        return self._s.reconciliation_runs.get(run_id)

    async def run_for_day(self, day: date) -> ReconRun | None:
        return next((r for r in self._s.reconciliation_runs.values() if r.day == day), None)

    async def runs(self, *, first: date | None = None, last: date | None = None, limit: int = 100) -> list[ReconRun]:
        chosen = [
            r
            for r in self._s.reconciliation_runs.values()
            if (first is None or r.day >= first) and (last is None or r.day <= last)
        ]
        return sorted(chosen, key=lambda r: r.day, reverse=True)[:limit]

    async def insert_run(self, day: date, trigger: str, now: datetime) -> bool:
        if await self.run_for_day(day) is not None:
            return False
        run_id = max(self._s.reconciliation_runs, default=0) + 1
        self._s.reconciliation_runs[run_id] = ReconRun(
            run_id, day, "RUNNING", 1, 0, trigger, None, None, None, None, {}, None, now, None, now
        )
        return True

    async def claim_run(self, run_id: int, owner: str, until: datetime, now: datetime) -> bool:
        run = self._s.reconciliation_runs.get(run_id)
        if run is None:
            return False
        free = (
            run.lease_owner is None
            or run.lease_owner == owner
            or (run.lease_until is not None and run.lease_until <= now)
        )
        if not free:
            return False
        self._s.reconciliation_runs[run_id] = replace(run, lease_owner=owner, lease_until=until)
        return True

    async def save_run(self, run: ReconRun, owner: str) -> bool:
        current = self._s.reconciliation_runs.get(run.id)
        if current is None or current.lease_owner != owner:
            return False
        self._s.reconciliation_runs[run.id] = replace(run, summary=json_column(run.summary))
        return True

    async def completed_days(self, first: date, last: date) -> set[date]:
        return {r.day for r in self._s.reconciliation_runs.values() if r.status == COMPLETED and first <= r.day <= last}

    async def installed_at(self) -> datetime | None:
        return None  # nothing is migrated in memory

    # --- items ---
    async def sync_items(self, run_id: int, items: Sequence[ReconItem]) -> None:
        rows = self._s.reconciliation_items
        keep = {i.key for i in items}
        for run_key in [k for k in rows if k[0] == run_id and k[1] not in keep]:
            del rows[run_key]
        for i in items:
            old = rows.get((run_id, i.key))
            if old is None:
                rows[(run_id, i.key)] = self._json_item(i)
            else:
                rows[(run_id, i.key)] = replace(
                    old,
                    channel=i.channel,
                    tx_ref=i.tx_ref,
                    payment_id=i.payment_id,
                    statement=json_column(i.statement),
                )

    async def undecided(self, run_id: int, generation: int, limit: int = 100) -> list[ReconItem]:
        chosen = [
            i
            for (rid, _), i in self._s.reconciliation_items.items()
            if rid == run_id and i.decided_generation < generation
        ]
        return sorted(chosen, key=lambda i: i.key)[:limit]

    async def save_item(self, item: ReconItem) -> None:
        if (item.run_id, item.key) in self._s.reconciliation_items:
            self._s.reconciliation_items[(item.run_id, item.key)] = self._json_item(item)

    async def unalerted(self, run_id: int) -> list[ReconItem]:
        chosen = [
            i
            for (rid, _), i in self._s.reconciliation_items.items()
            if rid == run_id and i.review_key is not None and i.alerted_at is None
        ]
        return sorted(chosen, key=lambda i: i.key)

    async def mark_alerted(self, run_id: int, key: str, at: datetime) -> None:
        item = self._s.reconciliation_items.get((run_id, key))
        if item is not None:
            self._s.reconciliation_items[(run_id, key)] = replace(item, alerted_at=at)

    async def items(self, run_id: int, *, mismatches_only: bool = False) -> list[ReconItem]:
        chosen = [
            i
            for (rid, _), i in self._s.reconciliation_items.items()
            if rid == run_id and (not mismatches_only or (i.outcome is not None and i.outcome != "matched"))
        ]
        return sorted(chosen, key=lambda i: i.key)

    # --- statements ---
    async def statement(self, day: date) -> StoredStatement | None:
        return self._s.reconciliation_statements.get(day)

    async def put_statement(self, s: StoredStatement) -> None:
        self._s.reconciliation_statements[s.day] = s

    # --- PayHub's side of a day ---
    async def money_moved(self, start: datetime, end: datetime) -> list[MovedMoney]:
        found: dict[str, MovedMoney] = {}
        for key, receipt in self._s.webhook_receipts.items():
            created = self._s.receipt_created.get(key)
            if (
                created is None
                or not start <= created < end
                or receipt.payment_id is None
                or receipt.response_status not in _MONEY_ANSWERS
            ):
                continue
            moved = receipt_money(key, receipt.kind, receipt.payment_id)
            if moved is not None:
                found.setdefault(moved.key, moved)
        moved_ids = {
            e.payment_id
            for e in self._s.payment_events.values()
            if e.type == PaymentEvent.STATUS and start <= e.occurred_at < end
        }
        for payment_id in moved_ids:
            p = self._s.payments.get(payment_id)
            if p is None or p.status not in _HOLDS_MONEY:
                continue
            moved = payment_money(p.id, p.method.value if p.method else None, p.transaction_id)
            if moved is not None:
                found.setdefault(moved.key, moved)
        return list(found.values())

    async def payments_by_transaction(self, tx_id: str, statuses: Sequence[PaymentStatus]) -> list[Payment]:
        return sorted(
            (p for p in self._s.payments.values() if p.transaction_id == tx_id and p.status in statuses),
            key=lambda p: p.id,
        )
