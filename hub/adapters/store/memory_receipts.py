"""The in-memory store's webhook receipts, reviews and inquiry log (``receipts.py`` in SQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from hub.adapters.store.memory_backoffice import add_review, review_list
from hub.adapters.store.memory_rows import MemoryState, json_column
from hub.domain.records import Receipt
from hub.domain.reviews import ReviewQuery


class _Ids(Protocol):
    def next_id(self, table: str) -> int: ...


class MemoryReceiptStatements:
    """Part of ``MemoryTx``: each method mirrors one statement of ``receipts.py``."""

    _s: MemoryState
    _store: _Ids

    # --- webhook receipts ---
    async def receipt(self, key: str) -> Receipt | None:
        return self._s.webhook_receipts.get(key)

    async def insert_receipt(self, r: Receipt, now: datetime) -> bool:
        if r.key in self._s.webhook_receipts:
            return False
        self._s.webhook_receipts[r.key] = replace(
            r, payload=json_column(r.payload), response_body=json_column(r.response_body)
        )
        self._s.receipt_created[r.key] = now
        return True

    async def update_receipt(self, r: Receipt, now: datetime) -> None:
        old = self._s.webhook_receipts.get(r.key)
        if old is not None:
            self._s.webhook_receipts[r.key] = replace(
                old,
                state=r.state,
                response_status=r.response_status,
                response_body=json_column(r.response_body),
                attempts=r.attempts,
                next_attempt_at=r.next_attempt_at,
                payment_id=r.payment_id,
            )
            self._s.receipt_updated[r.key] = now

    async def due_verifications(self, now: datetime, limit: int = 50) -> list[Receipt]:
        due = [
            r
            for r in self._s.webhook_receipts.values()
            if r.state == "VERIFY_PENDING" and r.next_attempt_at is not None and r.next_attempt_at <= now
        ]
        return sorted(due, key=lambda r: r.next_attempt_at or now)[:limit]

    async def lock_receipt(self, key: str) -> Receipt | None:
        return self._s.webhook_receipts.get(key)

    # --- reviews and the inquiry log ---
    async def add_review(
        self, key: str, reason: str, payment_id: int | None, payload: dict[str, Any], now: datetime
    ) -> bool:
        return add_review(self._s, self._store, key, reason, payment_id, payload, now)

    async def reviews(self, limit: int = 100) -> list[dict[str, Any]]:
        return [r.as_json() for r in review_list(self._s, ReviewQuery(limit=limit))]

    async def count_reviews(self, key_prefix: str) -> int:
        return sum(1 for key in self._s.reviews if key.startswith(key_prefix))

    async def log_inquiry(
        self, query: str, subject: str, client_ip: str, outcome: str, correlation_id: str, now: datetime
    ) -> None:
        self._s.inquiries.append((query, subject, client_ip, outcome, correlation_id, now))
