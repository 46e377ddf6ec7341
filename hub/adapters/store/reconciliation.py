"""Reconciliation statements of a SQL unit of work (both dialects): ``hub.ports.ReconciliationRows``.

Tables of migration 0005: ``reconciliation_runs`` (one per day, with a lease), ``reconciliation_items``
(one per transaction of a run) and ``reconciliation_statements`` (one per day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from hub.adapters.store._conn import Conn, Row
from hub.adapters.store.rows import PAYMENT_COLS, _date, _opt_dt, as_datetime, payment_from_row
from hub.domain.payment import PaymentStatus
from hub.domain.reconciliation import MovedMoney, ReconItem, ReconRun, StoredStatement
from hub.domain.records import Payment
from hub.json_codec import dumps, loads

RUN_COLS = (
    "id, run_date, status, generation, collected_generation, triggered_by, lease_owner, lease_until,"
    " statement_source, statement_sha256, summary, error, started_at, finished_at, updated_at"
)
ITEM_COLS = (
    "run_id, key, channel, tx_ref, payment_id, outcome, decided_generation, payhub, statement, verify,"
    " detail, review_key, decided_at, alerted_at"
)
_MONEY_ANSWERS = (200, 202)  # a webhook answered so recorded money (202: awaiting AMK's verdict)


def run_from_row(r: Row) -> ReconRun:
    return ReconRun(
        id=int(r["id"]),
        day=_date(r["run_date"]),
        status=r["status"],
        generation=int(r["generation"]),
        collected_generation=int(r["collected_generation"]),
        trigger=r["triggered_by"],
        lease_owner=r["lease_owner"],
        lease_until=_opt_dt(r["lease_until"]),
        statement_source=r["statement_source"],
        statement_sha256=r["statement_sha256"],
        summary=loads(r["summary"]),
        error=r["error"],
        started_at=as_datetime(r["started_at"]),
        finished_at=_opt_dt(r["finished_at"]),
        updated_at=as_datetime(r["updated_at"]),
    )


def _json(value: str | None) -> Any:
    return None if value is None else loads(value)


def item_from_row(r: Row) -> ReconItem:
    return ReconItem(
        run_id=int(r["run_id"]),
        key=r["key"],
        channel=r["channel"],
        tx_ref=r["tx_ref"],
        payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
        outcome=r["outcome"],
        decided_generation=int(r["decided_generation"]),
        payhub=_json(r["payhub"]),
        statement=_json(r["statement"]),
        verify=_json(r["verify"]),
        detail=r["detail"],
        review_key=r["review_key"],
        decided_at=_opt_dt(r["decided_at"]),
        alerted_at=_opt_dt(r["alerted_at"]),
    )


def _opt_dumps(value: Any) -> str | None:
    return None if value is None else dumps(value)


class SqlReconciliationRows:
    """``hub.ports.ReconciliationRows`` over one SQL connection (inside the caller's transaction)."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    # --- runs ---
    async def run(self, run_id: int) -> ReconRun | None:
        if not 0 < run_id <= 2**63 - 1:
            return None
        row = await self._c.fetchrow(f"SELECT {RUN_COLS} FROM reconciliation_runs WHERE id = $1", run_id)
        return run_from_row(row) if row else None

    async def run_for_day(self, day: date) -> ReconRun | None:
        row = await self._c.fetchrow(f"SELECT {RUN_COLS} FROM reconciliation_runs WHERE run_date = $1", day)
        return run_from_row(row) if row else None

    async def runs(self, *, first: date | None = None, last: date | None = None, limit: int = 100) -> list[ReconRun]:
        rows = await self._c.fetch(
            f"SELECT {RUN_COLS} FROM reconciliation_runs WHERE run_date >= $1 AND run_date <= $2"
            " ORDER BY run_date DESC LIMIT $3",
            first or date.min,
            last or date.max,
            limit,
        )
        return [run_from_row(r) for r in rows]

    async def insert_run(self, day: date, trigger: str, now: datetime) -> bool:
        row = await self._c.fetchrow(
            "INSERT INTO reconciliation_runs (run_date, status, generation, collected_generation, triggered_by,"
            " summary, started_at, updated_at) VALUES ($1, 'RUNNING', 1, 0, $2, '{}', $3, $3)"
            " ON CONFLICT (run_date) DO NOTHING RETURNING id",
            day,
            trigger,
            now,
        )
        return row is not None

    async def claim_run(self, run_id: int, owner: str, until: datetime, now: datetime) -> bool:
        row = await self._c.fetchrow(
            "UPDATE reconciliation_runs SET lease_owner = $2, lease_until = $3 WHERE id = $1"
            " AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until <= $4) RETURNING id",
            run_id,
            owner,
            until,
            now,
        )
        return row is not None

    async def save_run(self, run: ReconRun, owner: str) -> bool:
        row = await self._c.fetchrow(
            "UPDATE reconciliation_runs SET status = $3, generation = $4, collected_generation = $5,"
            " triggered_by = $6, lease_owner = $7, lease_until = $8, statement_source = $9, statement_sha256 = $10,"
            " summary = $11, error = $12, started_at = $13, finished_at = $14, updated_at = $15"
            " WHERE id = $1 AND lease_owner = $2 RETURNING id",
            run.id,
            owner,
            run.status,
            run.generation,
            run.collected_generation,
            run.trigger,
            run.lease_owner,
            run.lease_until,
            run.statement_source,
            run.statement_sha256,
            dumps(run.summary),
            run.error,
            run.started_at,
            run.finished_at,
            run.updated_at,
        )
        return row is not None

    async def completed_days(self, first: date, last: date) -> set[date]:
        rows = await self._c.fetch(
            "SELECT run_date FROM reconciliation_runs WHERE status = 'COMPLETED' AND run_date >= $1 AND run_date <= $2",
            first,
            last,
        )
        return {_date(r["run_date"]) for r in rows}

    async def installed_at(self) -> datetime | None:
        row = await self._c.fetchrow("SELECT MIN(applied_at) AS first FROM schema_migrations")
        return None if row is None or row["first"] is None else as_datetime(row["first"])

    # --- items ---
    async def sync_items(self, run_id: int, items: Sequence[ReconItem]) -> None:
        keep = {i.key for i in items}
        existing = {
            r["key"] for r in await self._c.fetch("SELECT key FROM reconciliation_items WHERE run_id = $1", run_id)
        }
        for key in sorted(existing - keep):
            await self._c.execute("DELETE FROM reconciliation_items WHERE run_id = $1 AND key = $2", run_id, key)
        for i in items:
            if i.key in existing:
                await self._c.execute(
                    "UPDATE reconciliation_items SET channel = $3, tx_ref = $4, payment_id = $5, statement = $6"
                    " WHERE run_id = $1 AND key = $2",
                    run_id,
                    i.key,
                    i.channel,
                    i.tx_ref,
                    i.payment_id,
                    _opt_dumps(i.statement),
                )
            else:
                await self._insert_item(i)

    async def _insert_item(self, i: ReconItem) -> None:
        await self._c.execute(
            f"INSERT INTO reconciliation_items ({ITEM_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
            i.run_id,
            i.key,
            i.channel,
            i.tx_ref,
            i.payment_id,
            i.outcome,
            i.decided_generation,
            _opt_dumps(i.payhub),
            _opt_dumps(i.statement),
            _opt_dumps(i.verify),
            i.detail,
            i.review_key,
            i.decided_at,
            i.alerted_at,
        )

    async def undecided(self, run_id: int, generation: int, limit: int = 100) -> list[ReconItem]:
        rows = await self._c.fetch(
            f"SELECT {ITEM_COLS} FROM reconciliation_items WHERE run_id = $1 AND decided_generation < $2"
            " ORDER BY key LIMIT $3",
            run_id,
            generation,
            limit,
        )
        return [item_from_row(r) for r in rows]

    async def save_item(self, item: ReconItem) -> None:
        await self._c.execute(
            "UPDATE reconciliation_items SET channel = $3, tx_ref = $4, payment_id = $5, outcome = $6,"
            " decided_generation = $7, payhub = $8, statement = $9, verify = $10, detail = $11, review_key = $12,"
            " decided_at = $13, alerted_at = $14 WHERE run_id = $1 AND key = $2",
            item.run_id,
            item.key,
            item.channel,
            item.tx_ref,
            item.payment_id,
            item.outcome,
            item.decided_generation,
            _opt_dumps(item.payhub),
            _opt_dumps(item.statement),
            _opt_dumps(item.verify),
            item.detail,
            item.review_key,
            item.decided_at,
            item.alerted_at,
        )

    async def unalerted(self, run_id: int) -> list[ReconItem]:
        rows = await self._c.fetch(
            f"SELECT {ITEM_COLS} FROM reconciliation_items WHERE run_id = $1 AND review_key IS NOT NULL"
            " AND alerted_at IS NULL ORDER BY key",
            run_id,
        )
        return [item_from_row(r) for r in rows]

    async def mark_alerted(self, run_id: int, key: str, at: datetime) -> None:
        await self._c.execute(
            "UPDATE reconciliation_items SET alerted_at = $3 WHERE run_id = $1 AND key = $2", run_id, key, at
        )

    async def items(self, run_id: int, *, mismatches_only: bool = False) -> list[ReconItem]:
        where = " AND outcome IS NOT NULL AND outcome <> 'matched'" if mismatches_only else ""
        rows = await self._c.fetch(
            f"SELECT {ITEM_COLS} FROM reconciliation_items WHERE run_id = $1{where} ORDER BY key", run_id
        )
        return [item_from_row(r) for r in rows]

    # --- statements ---
    async def statement(self, day: date) -> StoredStatement | None:
        row = await self._c.fetchrow(
            "SELECT statement_date, source, sha256, content, stored_at FROM reconciliation_statements"
            " WHERE statement_date = $1",
            day,
        )
        if row is None:
            return None
        return StoredStatement(
            _date(row["statement_date"]), row["source"], row["sha256"], row["content"], as_datetime(row["stored_at"])
        )

    async def put_statement(self, s: StoredStatement) -> None:
        await self._c.execute(
            "INSERT INTO reconciliation_statements (statement_date, source, sha256, content, stored_at)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (statement_date) DO UPDATE SET source = excluded.source,"
            " sha256 = excluded.sha256, content = excluded.content, stored_at = excluded.stored_at",
            s.day,
            s.source,
            s.sha256,
            s.content,
            s.stored_at,
        )

    # --- PayHub's side of a day ---
    async def money_moved(self, start: datetime, end: datetime) -> list[MovedMoney]:
        found: dict[str, MovedMoney] = {}
        receipts = await self._c.fetch(
            "SELECT key, kind, payment_id FROM webhook_receipts WHERE created_at >= $1 AND created_at < $2"
            " AND payment_id IS NOT NULL AND response_status IN ($3, $4)",
            start,
            end,
            *_MONEY_ANSWERS,
        )
        for r in receipts:
            moved = receipt_money(r["key"], r["kind"], int(r["payment_id"]))
            if moved is not None:
                found.setdefault(moved.key, moved)
        payments = await self._c.fetch(
            "SELECT p.id, p.method, p.transaction_id FROM payments p WHERE p.status IN ('PROCESSING', 'CONFIRMED')"
            " AND EXISTS (SELECT 1 FROM payment_events e WHERE e.payment_id = p.id AND e.type = 'payment.status'"
            " AND e.occurred_at >= $1 AND e.occurred_at < $2)",
            start,
            end,
        )
        for r in payments:
            moved = payment_money(int(r["id"]), r["method"], r["transaction_id"])
            if moved is not None:
                found.setdefault(moved.key, moved)
        return list(found.values())

    async def payments_by_transaction(self, tx_id: str, statuses: Sequence[PaymentStatus]) -> list[Payment]:
        if not statuses:
            return []
        marks = ",".join(f"${i}" for i in range(2, 2 + len(statuses)))
        rows = await self._c.fetch(
            f"SELECT {PAYMENT_COLS} FROM payments WHERE transaction_id = $1 AND status IN ({marks}) ORDER BY id",
            tx_id,
            *(s.value for s in statuses),
        )
        return [payment_from_row(r) for r in rows]


def receipt_money(key: str, kind: str, payment_id: int) -> MovedMoney | None:
    """The transaction a money-recording receipt stands for (its key is ``BILL:<bankTransactionId>`` or
    ``KHQR:<paymentId>:SUCCESS``; a KHQR failure notice records no money)."""
    if kind == "BILL" and key.startswith("BILL:"):
        return MovedMoney("BILL", key.removeprefix("BILL:"), payment_id)
    if kind == "KHQR" and key.endswith(":SUCCESS"):
        return MovedMoney("KHQR", str(payment_id), payment_id)
    return None


def payment_money(payment_id: int, method: str | None, transaction_id: str | None) -> MovedMoney | None:
    if method == "KHQR":
        return MovedMoney("KHQR", str(payment_id), payment_id)
    if method == "BILL" and transaction_id:
        return MovedMoney("BILL", transaction_id, payment_id)
    return None
