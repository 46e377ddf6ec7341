"""Premium, payment and event-log statements of a SQL unit of work (both dialects).

A payment's rows are serialized by locking the payment (``FOR UPDATE`` on PostgreSQL; SQLite
holds the database write lock from ``BEGIN IMMEDIATE``), so its events are appended in commit
order and their ids increase along its stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.adapters.store._statements import Statements
from hub.adapters.store.rows import (
    EVENT_COLS,
    PAYMENT_COLS,
    PREMIUM_COLS,
    event_from_row,
    payment_from_row,
    premium_from_row,
    storable_id,
)
from hub.constants import OUTBOX_CHANNEL
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.json_codec import dumps


class PaymentStatements(Statements):
    # --- premiums (integration service) ---
    async def upsert_premium(self, p: Premium, now: datetime, *, overwrite: bool = True) -> None:
        """Insert or update a premium. A premium already PAID stays PAID, for the amount and currency it was
        paid for, whatever the input says."""
        conflict = (
            " ON CONFLICT (id) DO UPDATE SET policy_number = excluded.policy_number,"
            " application_number = excluded.application_number, payer = excluded.payer,"
            # a paid premium keeps the amount and currency it was paid for
            " amount = CASE WHEN premiums.status = 'PAID' THEN premiums.amount ELSE excluded.amount END,"
            " currency = CASE WHEN premiums.status = 'PAID' THEN premiums.currency ELSE excluded.currency END,"
            " due_date = excluded.due_date,"
            " status = CASE WHEN premiums.status = 'PAID' THEN 'PAID' ELSE excluded.status END,"
            " paid_payment_id = COALESCE(premiums.paid_payment_id, excluded.paid_payment_id),"
            " payer_phone = excluded.payer_phone, payer_email = excluded.payer_email,"
            " push_token = excluded.push_token, language = excluded.language,"
            " updated_at = excluded.updated_at"
            if overwrite
            else " ON CONFLICT (id) DO NOTHING"
        )
        await self._c.execute(
            "INSERT INTO premiums (id, policy_number, application_number, payer, amount, currency,"
            " due_date, status, paid_payment_id, updated_at, payer_phone, payer_email, push_token, language)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)" + conflict,
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
            p.contact.phone,
            p.contact.email,
            p.contact.push_token,
            p.contact.language.value if p.contact.language else None,
        )

    async def premium(self, premium_id: int) -> Premium | None:
        if not storable_id(premium_id):
            return None
        row = await self._c.fetchrow(f"SELECT {PREMIUM_COLS} FROM premiums WHERE id = $1", premium_id)
        return premium_from_row(row) if row else None

    async def find_due_premium(self, query: str) -> Premium | None:
        """The earliest unpaid premium of a policy or application number."""
        row = await self._c.fetchrow(
            f"SELECT {PREMIUM_COLS} FROM premiums WHERE status = 'DUE'"
            " AND (policy_number = $1 OR application_number = $1) ORDER BY due_date, id LIMIT 1",
            query,
        )
        return premium_from_row(row) if row else None

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
        if not storable_id(payment_id):
            return None  # no such row can exist; PostgreSQL would refuse the parameter
        if lock and self._for_update:
            owner = await self._c.fetchrow("SELECT premium_id FROM payments WHERE id = $1", payment_id)
            if owner is None:
                return None
            await self.lock_premium(int(owner["premium_id"]))
        suffix = self._for_update if lock else ""
        row = await self._c.fetchrow(f"SELECT {PAYMENT_COLS} FROM payments WHERE id = $1{suffix}", payment_id)
        return payment_from_row(row) if row else None

    async def open_payment_for(self, premium_id: int, *, lock: bool = False) -> Payment | None:
        """The premium's newest open attempt (PENDING, or PROCESSING: money awaiting AMK's verdict)."""
        if lock:
            await self.lock_premium(premium_id)
        suffix = self._for_update if lock else ""
        row = await self._c.fetchrow(
            f"SELECT {PAYMENT_COLS} FROM payments WHERE premium_id = $1"
            f" AND status IN ('PENDING', 'PROCESSING') ORDER BY id DESC LIMIT 1{suffix}",
            premium_id,
        )
        return payment_from_row(row) if row else None

    async def pending_payments_for(self, premium_id: int, *, excluding: int) -> list[Payment]:
        """The premium's payable attempts other than ``excluding``, row-locked. The caller holds the
        premium's lock (it locked one of its payments)."""
        rows = await self._c.fetch(
            f"SELECT {PAYMENT_COLS} FROM payments WHERE premium_id = $1 AND status = 'PENDING'"
            f" AND id <> $2 ORDER BY id{self._for_update}",
            premium_id,
            excluding,
        )
        return [payment_from_row(r) for r in rows]

    async def latest_payment_for(self, premium_id: int) -> Payment | None:
        row = await self._c.fetchrow(
            f"SELECT {PAYMENT_COLS} FROM payments WHERE premium_id = $1 ORDER BY id DESC LIMIT 1",
            premium_id,
        )
        return payment_from_row(row) if row else None

    async def payments_for(self, premium_id: int) -> list[Payment]:
        rows = await self._c.fetch(f"SELECT {PAYMENT_COLS} FROM payments WHERE premium_id = $1 ORDER BY id", premium_id)
        return [payment_from_row(r) for r in rows]

    async def confirmed_payment_for(self, premium_id: int, *, excluding: int | None = None) -> Payment | None:
        """The premium's first confirmed attempt (other than ``excluding``), if any."""
        row = await self._c.fetchrow(
            f"SELECT {PAYMENT_COLS} FROM payments WHERE premium_id = $1 AND status = 'CONFIRMED'"
            " AND id <> $2 ORDER BY id LIMIT 1",
            premium_id,
            -1 if excluding is None else excluding,
        )
        return payment_from_row(row) if row else None

    async def insert_open_payment(
        self, premium: Premium, method: PaymentMethod | None, now: datetime
    ) -> Payment | None:
        """Insert a PENDING payment; None when the premium already has a pending one (the database's
        partial unique index decides, so concurrent callers cannot both succeed)."""
        row = await self._c.fetchrow(
            "INSERT INTO payments (premium_id, policy_number, method, status, amount, currency,"
            " created_at, updated_at) VALUES ($1,$2,$3,'PENDING',$4,$5,$6,$6)"
            " ON CONFLICT (premium_id) WHERE status = 'PENDING' DO NOTHING"
            f" RETURNING {PAYMENT_COLS}",
            premium.id,
            premium.policy_number,
            method.value if method else None,
            premium.amount,
            premium.currency.value,
            now,
        )
        return payment_from_row(row) if row else None

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

    async def recent_status_events(self, limit: int) -> list[PaymentEvent]:
        """See ``hub.ports.StoreTx.recent_status_events``. Walks the status events newest first (primary
        key) and keeps each one that is its payment's newest (index ``payment_events_stream``)."""
        if limit <= 0:
            return []
        rows = await self._c.fetch(
            f"SELECT {EVENT_COLS} FROM payment_events e WHERE e.type = $1 AND e.id ="
            " (SELECT MAX(x.id) FROM payment_events x WHERE x.payment_id = e.payment_id AND x.type = $1)"
            " ORDER BY e.id DESC LIMIT $2",
            PaymentEvent.STATUS,
            limit,
        )
        return [event_from_row(r) for r in reversed(rows)]

    async def events_of_type(self, payment_id: int, type_: str) -> list[PaymentEvent]:
        return await self.events_after(payment_id, 0, types=(type_,))
