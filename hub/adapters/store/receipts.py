"""Webhook receipt, review and inquiry-log statements of a SQL unit of work (both dialects)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.adapters.store._statements import Statements
from hub.adapters.store.backoffice import SqlReviewRows, insert_review
from hub.adapters.store.rows import RECEIPT_COLS, receipt_from_row
from hub.domain.records import Receipt
from hub.domain.reviews import ReviewQuery
from hub.json_codec import dumps


def _answer(r: Receipt, now: datetime) -> tuple[Any, ...]:
    """The columns a receipt's answer sets, in statement order: state, response_status, response_body,
    attempts, next_attempt_at, updated_at."""
    return (r.state, r.response_status, dumps(r.response_body), r.attempts, r.next_attempt_at, now)


class ReceiptStatements(Statements):
    # --- webhook receipts (idempotency) ---
    async def receipt(self, key: str) -> Receipt | None:
        row = await self._c.fetchrow(f"SELECT {RECEIPT_COLS} FROM webhook_receipts WHERE key = $1", key)
        return receipt_from_row(row) if row else None

    async def insert_receipt(self, r: Receipt, now: datetime) -> bool:
        """False when the key exists already (a concurrent duplicate won)."""
        row = await self._c.fetchrow(
            "INSERT INTO webhook_receipts (key, kind, fingerprint, payment_id, payload, state,"
            " response_status, response_body, attempts, next_attempt_at, created_at, updated_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$11) ON CONFLICT (key) DO NOTHING RETURNING key",
            r.key,
            r.kind,
            r.fingerprint,
            r.payment_id,
            dumps(r.payload),
            *_answer(r, now),
        )
        return row is not None

    async def update_receipt(self, r: Receipt, now: datetime) -> None:
        """Record a receipt's answer, state and payment (the placeholder row has no payment yet)."""
        await self._c.execute(
            "UPDATE webhook_receipts SET state = $2, response_status = $3, response_body = $4,"
            " attempts = $5, next_attempt_at = $6, updated_at = $7, payment_id = $8 WHERE key = $1",
            r.key,
            *_answer(r, now),
            r.payment_id,
        )

    async def due_verifications(self, now: datetime, limit: int = 50) -> list[Receipt]:
        rows = await self._c.fetch(
            f"SELECT {RECEIPT_COLS} FROM webhook_receipts WHERE state = 'VERIFY_PENDING'"
            " AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
            now,
            limit,
        )
        return [receipt_from_row(r) for r in rows]

    async def lock_receipt(self, key: str) -> Receipt | None:
        row = await self._c.fetchrow(
            f"SELECT {RECEIPT_COLS} FROM webhook_receipts WHERE key = $1{self._for_update}", key
        )
        return receipt_from_row(row) if row else None

    # --- reviews and the inquiry log ---
    async def add_review(
        self, key: str, reason: str, payment_id: int | None, payload: dict[str, Any], now: datetime
    ) -> bool:
        """Flag something for a person, OPEN, with the ``open`` row of its history. Idempotent per key."""
        return await insert_review(self._c, key, reason, payment_id, payload, now)

    async def reviews(self, limit: int = 100) -> list[dict[str, Any]]:
        found = await SqlReviewRows(self._c, postgres=False).find(ReviewQuery(limit=limit))
        return [r.as_json() for r in found]

    async def log_inquiry(
        self, query: str, subject: str, client_ip: str, outcome: str, correlation_id: str, now: datetime
    ) -> None:
        await self._c.execute(
            "INSERT INTO inquiries (query, subject, client_ip, outcome, correlation_id, created_at)"
            " VALUES ($1,$2,$3,$4,$5,$6)",
            query,
            subject,
            client_ip,
            outcome,
            correlation_id,
            now,
        )

    async def count_reviews(self, key_prefix: str) -> int:
        """Reviews whose key starts with ``key_prefix`` (compared exactly: no pattern, any case)."""
        row = await self._c.fetchrow(
            "SELECT COUNT(*) AS n FROM reviews WHERE substr(key, 1, $2) = $1", key_prefix, len(key_prefix)
        )
        return int(row["n"]) if row else 0

    async def count(self, table: str, where: str = "1=1", *args: Any) -> int:
        """Row count, for operators and tests. ``table`` and ``where`` are code, never input."""
        row = await self._c.fetchrow(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", *args)
        return int(row["n"]) if row else 0
