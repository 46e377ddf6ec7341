"""The SQL store shared by both dialects.

All writes happen inside ``Store.transaction()``; a dialect provides the connection and the
value conversions (SQLite keeps decimals and times as text, PostgreSQL as NUMERIC/TIMESTAMPTZ).
Rows of one payment are serialized by locking that payment (``FOR UPDATE`` on PostgreSQL; SQLite
takes the database write lock at ``BEGIN IMMEDIATE``), so a payment's events are appended in
commit order and their ids increase along its stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from hub.adapters.store._conn import Conn, Row, UniqueViolation
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Premium, Receipt
from hub.json_codec import dumps, loads


class Dialect(Protocol):
    name: str
    locks_rows: bool

    def transaction(self) -> AbstractAsyncContextManager[Conn]: ...

    async def migrate(self) -> list[str]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


OUTBOX_CHANNEL = "payhub_outbox"
log = logging.getLogger("payhub.store")

_PAYMENT_COLS = (
    "id, premium_id, policy_number, method, status, amount, currency, transaction_id, "
    "review_reason, created_at, updated_at"
)
_PREMIUM_COLS = "id, policy_number, application_number, payer, amount, currency, due_date, status, paid_payment_id"
EVENT_COLS = "id, payment_id, type, status, data, occurred_at"
_RECEIPT_COLS = (
    "key, kind, fingerprint, payment_id, payload, state, response_status, response_body, attempts, next_attempt_at"
)


class SqlStore:
    """The store port over SQL. Create with ``open_store(url)``; close with ``aclose()``."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    @property
    def dialect(self) -> str:
        return self._dialect.name

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied. Safe to run concurrently."""
        return await self._dialect.migrate()

    async def ping(self) -> None:
        await self._dialect.ping()

    async def aclose(self) -> None:
        await self._dialect.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One atomic unit of work: everything done on the Tx commits together or not at all.

        Callbacks registered with ``Tx.after_commit`` run, in order, once the commit succeeded
        (never after a rollback); one that raises is logged and does not stop the others.
        """
        async with self._dialect.transaction() as conn:
            tx = Tx(conn, lock=self._dialect.locks_rows, notify=self._dialect.name == "postgres")
            yield tx
        for callback in tx.committed_callbacks:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")

    # Convenience reads, each its own short transaction.
    async def payment(self, payment_id: int) -> Payment | None:
        async with self.transaction() as tx:
            return await tx.payment(payment_id)

    async def events_after(self, payment_id: int, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        async with self.transaction() as tx:
            return await tx.events_after(payment_id, after_id, limit=limit)

    async def receipt(self, key: str) -> Receipt | None:
        async with self.transaction() as tx:
            return await tx.receipt(key)


class Tx:
    """Operations inside one transaction. Every method is one or two SQL statements."""

    def __init__(self, conn: Conn, *, lock: bool, notify: bool = False) -> None:
        self._c = conn
        self._for_update = " FOR UPDATE" if lock else ""
        self._notify = notify  # PostgreSQL: wake outbox relays when this transaction commits
        self.committed_callbacks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after this transaction commits (alerts about what it wrote)."""
        self.committed_callbacks.append(callback)

    @property
    def conn(self) -> Conn:
        """The connection, for row modules of other services (e.g. KHQR sessions)."""
        return self._c

    @property
    def for_update(self) -> str:
        return self._for_update

    # --- premiums (integration service) ---
    async def upsert_premium(self, p: Premium, now: datetime, *, overwrite: bool = True) -> None:
        """Insert or update a premium. A premium already PAID stays PAID whatever the input says."""
        conflict = (
            " ON CONFLICT (id) DO UPDATE SET policy_number = excluded.policy_number,"
            " application_number = excluded.application_number, payer = excluded.payer,"
            " amount = excluded.amount, currency = excluded.currency, due_date = excluded.due_date,"
            " status = CASE WHEN premiums.status = 'PAID' THEN 'PAID' ELSE excluded.status END,"
            " paid_payment_id = COALESCE(premiums.paid_payment_id, excluded.paid_payment_id),"
            " updated_at = excluded.updated_at"
            if overwrite
            else " ON CONFLICT (id) DO NOTHING"
        )
        await self._c.execute(
            "INSERT INTO premiums (id, policy_number, application_number, payer, amount, currency,"
            " due_date, status, paid_payment_id, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)" + conflict,
            p.id,
            p.policy_number,
            p.application_number,
            p.payer,
            p.amount,
            p.currency.value,
            p.due_date,
            p.status,
            p.paid_payment_id,
            now,
        )

    async def premium(self, premium_id: int) -> Premium | None:
        if not _storable_id(premium_id):
            return None
        row = await self._c.fetchrow(f"SELECT {_PREMIUM_COLS} FROM premiums WHERE id = $1", premium_id)
        return _premium(row) if row else None

    async def find_due_premium(self, query: str) -> Premium | None:
        """The earliest unpaid premium of a policy or application number."""
        row = await self._c.fetchrow(
            f"SELECT {_PREMIUM_COLS} FROM premiums WHERE status = 'DUE'"
            " AND (policy_number = $1 OR application_number = $1) ORDER BY due_date, id LIMIT 1",
            query,
        )
        return _premium(row) if row else None

    async def mark_premium_paid(self, premium_id: int, payment_id: int, now: datetime) -> bool:
        """Idempotent: True only for the call that moved DUE to PAID."""
        row = await self._c.fetchrow(
            "UPDATE premiums SET status = 'PAID', paid_payment_id = $2, paid_at = $3, updated_at = $3"
            " WHERE id = $1 AND status = 'DUE' RETURNING id",
            premium_id,
            payment_id,
            now,
        )
        return row is not None

    async def unsettled_confirmed(self, limit: int = 500) -> list[tuple[int, int]]:
        """(payment id, premium id) of confirmed payments whose premium is still DUE."""
        rows = await self._c.fetch(
            "SELECT p.id, p.premium_id FROM payments p JOIN premiums r ON r.id = p.premium_id"
            " WHERE p.status = 'CONFIRMED' AND r.status = 'DUE' ORDER BY p.id LIMIT $1",
            limit,
        )
        return [(int(r["id"]), int(r["premium_id"])) for r in rows]

    # --- payments ---
    async def lock_premium(self, premium_id: int) -> None:
        """Serialize, until this transaction ends, everything done to the attempts of one premium.

        Every row lock of a payment (``payment(lock=True)``, ``open_payment_for(lock=True)``) takes
        it first, so the attempts of a premium are always locked in one order (premium, then
        payments) and a transaction that confirms one attempt sees every other attempt as it is
        committed: two attempts cannot both be paid without the second one noticing, and no new
        attempt opens beside one being paid. PostgreSQL: a transaction-scoped advisory lock keyed by
        schema and premium (the premium row may live with the integration service); SQLite already
        runs one write transaction at a time.
        """
        if self._for_update:
            await self._c.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('payhub.premium:' || current_schema()"
                " || ':' || ($1::bigint)::text, 0))",
                premium_id,
            )

    async def payment(self, payment_id: int, *, lock: bool = False) -> Payment | None:
        """One payment; with ``lock`` its premium's lock (see ``lock_premium``) and its row lock."""
        if not _storable_id(payment_id):
            return None  # no such row can exist; PostgreSQL would refuse the parameter
        if lock and self._for_update:
            owner = await self._c.fetchrow("SELECT premium_id FROM payments WHERE id = $1", payment_id)
            if owner is None:
                return None
            await self.lock_premium(int(owner["premium_id"]))
        suffix = self._for_update if lock else ""
        row = await self._c.fetchrow(f"SELECT {_PAYMENT_COLS} FROM payments WHERE id = $1{suffix}", payment_id)
        return _payment(row) if row else None

    async def open_payment_for(self, premium_id: int, *, lock: bool = False) -> Payment | None:
        """The premium's newest open attempt (PENDING, or PROCESSING: money awaiting AMK's verdict)."""
        if lock:
            await self.lock_premium(premium_id)
        suffix = self._for_update if lock else ""
        row = await self._c.fetchrow(
            f"SELECT {_PAYMENT_COLS} FROM payments WHERE premium_id = $1"
            f" AND status IN ('PENDING', 'PROCESSING') ORDER BY id DESC LIMIT 1{suffix}",
            premium_id,
        )
        return _payment(row) if row else None

    async def pending_payments_for(self, premium_id: int, *, excluding: int) -> list[Payment]:
        """The premium's payable attempts other than ``excluding``, row-locked. The caller holds the
        premium's lock (it locked one of its payments)."""
        rows = await self._c.fetch(
            f"SELECT {_PAYMENT_COLS} FROM payments WHERE premium_id = $1 AND status = 'PENDING'"
            f" AND id <> $2 ORDER BY id{self._for_update}",
            premium_id,
            excluding,
        )
        return [_payment(r) for r in rows]

    async def latest_payment_for(self, premium_id: int) -> Payment | None:
        row = await self._c.fetchrow(
            f"SELECT {_PAYMENT_COLS} FROM payments WHERE premium_id = $1 ORDER BY id DESC LIMIT 1",
            premium_id,
        )
        return _payment(row) if row else None

    async def confirmed_payment_for(self, premium_id: int, *, excluding: int | None = None) -> Payment | None:
        """The premium's first confirmed attempt (other than ``excluding``), if any."""
        row = await self._c.fetchrow(
            f"SELECT {_PAYMENT_COLS} FROM payments WHERE premium_id = $1 AND status = 'CONFIRMED'"
            " AND id <> $2 ORDER BY id LIMIT 1",
            premium_id,
            -1 if excluding is None else excluding,
        )
        return _payment(row) if row else None

    async def end_qr_sessions(self, payment_id: int, status: str, now: datetime) -> int:
        """End the KHQR sessions of an attempt: ``PAID`` (its payment was confirmed: whatever the
        session said) or ``EXPIRED`` (the attempt was closed: only a session still PENDING).
        Returns how many changed. The table is the KHQR service's; the ledger ends its sessions in
        the transaction that ends their payment, so a closed attempt's QR is never shown again."""
        guard = "status <> 'PAID'" if status == "PAID" else "status = 'PENDING'"
        rows = await self._c.fetch(
            f"UPDATE khqr_sessions SET status = $2, closed_at = $3 WHERE payment_id = $1 AND {guard} RETURNING id",
            payment_id,
            status,
            now,
        )
        return len(rows)

    async def insert_open_payment(
        self, premium: Premium, method: PaymentMethod | None, now: datetime
    ) -> Payment | None:
        """Insert a PENDING payment; None when the premium already has a pending one (the database's
        partial unique index decides, so concurrent callers cannot both succeed)."""
        row = await self._c.fetchrow(
            "INSERT INTO payments (premium_id, policy_number, method, status, amount, currency,"
            " created_at, updated_at) VALUES ($1,$2,$3,'PENDING',$4,$5,$6,$6)"
            " ON CONFLICT (premium_id) WHERE status = 'PENDING' DO NOTHING"
            f" RETURNING {_PAYMENT_COLS}",
            premium.id,
            premium.policy_number,
            method.value if method else None,
            premium.amount,
            premium.currency.value,
            now,
        )
        return _payment(row) if row else None

    async def update_payment(self, p: Payment) -> None:
        await self._c.execute(
            "UPDATE payments SET method = $2, status = $3, transaction_id = $4, review_reason = $5,"
            " updated_at = $6 WHERE id = $1",
            p.id,
            p.method.value if p.method else None,
            p.status.value,
            p.transaction_id,
            p.review_reason,
            p.updated_at,
        )

    # --- the event log ---
    async def append_event(
        self, payment_id: int, type_: str, status: PaymentStatus, data: dict[str, Any], at: datetime
    ) -> PaymentEvent:
        row = await self._c.fetchrow(
            "INSERT INTO payment_events (payment_id, type, status, data, occurred_at)"
            f" VALUES ($1,$2,$3,$4,$5) RETURNING {EVENT_COLS}",
            payment_id,
            type_,
            status.value,
            dumps(data),
            at,
        )
        assert row is not None
        if self._notify:
            self._notify = False  # once per transaction; delivered by PostgreSQL at COMMIT only
            await self._c.execute(f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')")
        return event_from_row(row)

    async def events_after(
        self,
        payment_id: int,
        after_id: int,
        *,
        types: Sequence[str] = (PaymentEvent.STATUS,),
        limit: int = 500,
    ) -> list[PaymentEvent]:
        """Events of one payment with id > after_id, oldest first."""
        marks = ",".join(f"${i}" for i in range(4, 4 + len(types)))
        rows = await self._c.fetch(
            f"SELECT {EVENT_COLS} FROM payment_events WHERE payment_id = $1 AND id > $2"
            f" AND type IN ({marks}) ORDER BY id LIMIT $3",
            payment_id,
            after_id,
            limit,
            *types,
        )
        return [event_from_row(r) for r in rows]

    async def status_events_of(self, payment_ids: Sequence[int], after_id: int) -> list[PaymentEvent]:
        """Status events of several payments with id > after_id, oldest first (catch-up reads)."""
        if not payment_ids:
            return []
        marks = ",".join(f"${i}" for i in range(3, 3 + len(payment_ids)))
        rows = await self._c.fetch(
            f"SELECT {EVENT_COLS} FROM payment_events WHERE type = $1 AND id > $2"
            f" AND payment_id IN ({marks}) ORDER BY id",
            PaymentEvent.STATUS,
            after_id,
            *payment_ids,
        )
        return [event_from_row(r) for r in rows]

    async def last_status_event(self, payment_id: int) -> PaymentEvent | None:
        row = await self._c.fetchrow(
            f"SELECT {EVENT_COLS} FROM payment_events WHERE payment_id = $1 AND type = $2 ORDER BY id DESC LIMIT 1",
            payment_id,
            PaymentEvent.STATUS,
        )
        return event_from_row(row) if row else None

    async def events_of_type(self, payment_id: int, type_: str) -> list[PaymentEvent]:
        return await self.events_after(payment_id, 0, types=(type_,))

    # --- webhook receipts (idempotency) ---
    async def receipt(self, key: str) -> Receipt | None:
        row = await self._c.fetchrow(f"SELECT {_RECEIPT_COLS} FROM webhook_receipts WHERE key = $1", key)
        return _receipt(row) if row else None

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
            _dumps(r.payload),
            r.state,
            r.response_status,
            _dumps(r.response_body),
            r.attempts,
            r.next_attempt_at,
            now,
        )
        return row is not None

    async def update_receipt(self, r: Receipt, now: datetime) -> None:
        """Record a receipt's answer, state and payment (the placeholder row has no payment yet)."""
        await self._c.execute(
            "UPDATE webhook_receipts SET state = $2, response_status = $3, response_body = $4,"
            " attempts = $5, next_attempt_at = $6, updated_at = $7, payment_id = $8 WHERE key = $1",
            r.key,
            r.state,
            r.response_status,
            _dumps(r.response_body),
            r.attempts,
            r.next_attempt_at,
            now,
            r.payment_id,
        )

    async def due_verifications(self, now: datetime, limit: int = 50) -> list[Receipt]:
        rows = await self._c.fetch(
            f"SELECT {_RECEIPT_COLS} FROM webhook_receipts WHERE state = 'VERIFY_PENDING'"
            " AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
            now,
            limit,
        )
        return [_receipt(r) for r in rows]

    async def lock_receipt(self, key: str) -> Receipt | None:
        row = await self._c.fetchrow(
            f"SELECT {_RECEIPT_COLS} FROM webhook_receipts WHERE key = $1{self._for_update}", key
        )
        return _receipt(row) if row else None

    # --- reviews and the inquiry log ---
    async def add_review(
        self, key: str, reason: str, payment_id: int | None, payload: dict[str, Any], now: datetime
    ) -> bool:
        """Flag something for a person. Idempotent per key."""
        row = await self._c.fetchrow(
            "INSERT INTO reviews (key, reason, payment_id, payload, created_at) VALUES ($1,$2,$3,$4,$5)"
            " ON CONFLICT (key) DO NOTHING RETURNING id",
            key,
            reason,
            payment_id,
            _dumps(payload),
            now,
        )
        return row is not None

    async def reviews(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._c.fetch(
            "SELECT id, key, reason, payment_id, payload, created_at FROM reviews ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [
            {
                "id": int(r["id"]),
                "key": r["key"],
                "reason": r["reason"],
                "paymentId": r["payment_id"],
                "payload": loads(r["payload"]),
                "createdAt": as_datetime(r["created_at"]).isoformat(),
            }
            for r in rows
        ]

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

    async def count(self, table: str, where: str = "1=1", *args: Any) -> int:
        """Row count, for operators and tests. ``table`` and ``where`` are code, never input."""
        row = await self._c.fetchrow(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", *args)
        return int(row["n"]) if row else 0


def _storable_id(value: int) -> bool:
    return 0 < value <= 2**63 - 1


def _dumps(value: Any) -> str:
    return dumps(value)


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _opt_dt(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _premium(r: Row) -> Premium:
    return Premium(
        id=int(r["id"]),
        policy_number=r["policy_number"],
        application_number=r["application_number"],
        payer=r["payer"],
        amount=Decimal(str(r["amount"])),
        currency=Currency(r["currency"]),
        due_date=_date(r["due_date"]),
        status=r["status"],
        paid_payment_id=None if r["paid_payment_id"] is None else int(r["paid_payment_id"]),
    )


def _payment(r: Row) -> Payment:
    return Payment(
        id=int(r["id"]),
        premium_id=int(r["premium_id"]),
        policy_number=r["policy_number"],
        method=PaymentMethod(r["method"]) if r["method"] else None,
        status=PaymentStatus(r["status"]),
        amount=Decimal(str(r["amount"])),
        currency=Currency(r["currency"]),
        transaction_id=r["transaction_id"],
        review_reason=r["review_reason"],
        created_at=as_datetime(r["created_at"]),
        updated_at=as_datetime(r["updated_at"]),
    )


def event_from_row(r: Row) -> PaymentEvent:
    return PaymentEvent(
        id=int(r["id"]),
        payment_id=int(r["payment_id"]),
        type=r["type"],
        status=PaymentStatus(r["status"]),
        data=loads(r["data"]),
        occurred_at=as_datetime(r["occurred_at"]),
    )


def _receipt(r: Row) -> Receipt:
    return Receipt(
        key=r["key"],
        kind=r["kind"],
        fingerprint=r["fingerprint"],
        payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
        payload=loads(r["payload"]),
        state=r["state"],
        response_status=int(r["response_status"]),
        response_body=loads(r["response_body"]),
        attempts=int(r["attempts"]),
        next_attempt_at=_opt_dt(r["next_attempt_at"]),
    )


__all__ = ["Dialect", "SqlStore", "Tx", "UniqueViolation"]
