"""The back office's statements of a SQL unit of work (both dialects): reviews and their history,
payment look-ups and AMK's answers (``hub.ports.backoffice``).

The few places where the dialects differ take ``postgres``: row locks (``FOR UPDATE``) and the
payer prefix search, served on PostgreSQL by an index on ``lower(payer) text_pattern_ops`` and on
SQLite by one on ``payer COLLATE NOCASE`` (migration 0006).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from hub.adapters.store._conn import Conn, Row
from hub.adapters.store.rows import (
    EVENT_COLS,
    PAYMENT_COLS,
    PREMIUM_COLS,
    RECEIPT_COLS,
    as_datetime,
    event_from_row,
    payment_from_row,
    premium_from_row,
    receipt_from_row,
    storable_id,
)
from hub.domain.lookups import PaymentQuery, StoredReceipt
from hub.domain.money import Currency
from hub.domain.records import Payment, PaymentEvent, Premium
from hub.domain.reviews import (
    SYSTEM_ACTOR,
    AmkAnswer,
    Review,
    ReviewAction,
    ReviewEvent,
    ReviewOutcome,
    ReviewQuery,
    ReviewState,
    review_kind,
)
from hub.json_codec import dumps, loads

REVIEW_COLS = (
    "id, key, kind, reason, payment_id, policy_number, payload, state, outcome, created_at,"
    " COALESCE(updated_at, created_at) AS updated_at"
)
REVIEW_EVENT_COLS = "id, review_id, action, from_state, to_state, outcome, actor, note, occurred_at"
AMK_ANSWER_COLS = "id, payment_id, reference, source, status, amount, currency, detail, asked_at"
# The premium's columns beside a payment's, prefixed ``r_`` (built from PREMIUM_COLS: one list of them).
_PREMIUM_JOINED = ", ".join(f"r.{c.strip()} AS r_{c.strip()}" for c in PREMIUM_COLS.split(","))


def review_from_row(r: Row) -> Review:
    return Review(
        id=int(r["id"]),
        key=r["key"],
        kind=r["kind"],
        reason=r["reason"],
        payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
        policy_number=r["policy_number"],
        payload=loads(r["payload"]),
        state=ReviewState(r["state"]),
        outcome=ReviewOutcome(r["outcome"]) if r["outcome"] else None,
        created_at=as_datetime(r["created_at"]),
        updated_at=as_datetime(r["updated_at"]),
    )


def review_event_from_row(r: Row) -> ReviewEvent:
    return ReviewEvent(
        id=int(r["id"]),
        review_id=int(r["review_id"]),
        action=ReviewAction(r["action"]),
        from_state=ReviewState(r["from_state"]) if r["from_state"] else None,
        to_state=ReviewState(r["to_state"]),
        outcome=ReviewOutcome(r["outcome"]) if r["outcome"] else None,
        actor=r["actor"],
        note=r["note"],
        occurred_at=as_datetime(r["occurred_at"]),
    )


def amk_answer_from_row(r: Row) -> AmkAnswer:
    return AmkAnswer(
        id=int(r["id"]),
        payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
        reference=r["reference"],
        source=r["source"],
        status=r["status"],
        amount=None if r["amount"] is None else Decimal(str(r["amount"])),
        currency=Currency(r["currency"]) if r["currency"] else None,
        detail=loads(r["detail"]),
        asked_at=as_datetime(r["asked_at"]),
    )


def payload_policy(payload: dict[str, Any]) -> str | None:
    """The policy number a review's payload names (a bank notice's or a status event's), if any."""
    value = payload.get("policyNumber")
    return value if isinstance(value, str) and value else None


def like_prefix(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching what starts with ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class _Where:
    """AND-ed conditions with numbered parameters (``$1``…), built from code, values bound."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.args: list[Any] = []

    def mark(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def marks(self, values: Sequence[Any]) -> str:
        return ",".join(self.mark(v) for v in values)

    def add(self, condition: str) -> None:
        self.parts.append(condition)

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""


async def insert_review(
    conn: Conn, key: str, reason: str, payment_id: int | None, payload: dict[str, Any], now: datetime
) -> bool:
    """``StoreTx.add_review`` in SQL: the review, OPEN, and the ``open`` row of its history."""
    row = await conn.fetchrow(
        "INSERT INTO reviews (key, kind, reason, payment_id, policy_number, payload, state, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, COALESCE((SELECT policy_number FROM payments WHERE id = $4), $5), $6, 'OPEN',"
        " $7, $7) ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        review_kind(key),
        reason,
        payment_id,
        payload_policy(payload),
        dumps(payload),
        now,
    )
    if row is None:
        return False
    await SqlReviewRows(conn, postgres=False).append_event(
        int(row["id"]), ReviewAction.OPEN, None, ReviewState.OPEN, None, SYSTEM_ACTOR, reason, now
    )
    return True


class SqlReviewRows:
    """``hub.ports.ReviewRows`` over one SQL connection."""

    def __init__(self, conn: Conn, *, postgres: bool) -> None:
        self._c = conn
        self._for_update = " FOR UPDATE" if postgres else ""

    async def get(self, review_id: int, *, lock: bool = False) -> Review | None:
        if not storable_id(review_id):
            return None
        suffix = self._for_update if lock else ""
        row = await self._c.fetchrow(f"SELECT {REVIEW_COLS} FROM reviews WHERE id = $1{suffix}", review_id)
        return review_from_row(row) if row else None

    async def by_key(self, key: str) -> Review | None:
        row = await self._c.fetchrow(f"SELECT {REVIEW_COLS} FROM reviews WHERE key = $1", key)
        return review_from_row(row) if row else None

    async def find(self, query: ReviewQuery) -> list[Review]:
        w = _Where()
        if query.states:
            w.add(f"state IN ({w.marks([s.value for s in query.states])})")
        if query.kinds:
            w.add(f"kind IN ({w.marks(query.kinds)})")
        if query.outcomes:
            w.add(f"outcome IN ({w.marks([o.value for o in query.outcomes])})")
        if query.created_from is not None:
            w.add(f"created_at >= {w.mark(query.created_from)}")
        if query.created_to is not None:
            w.add(f"created_at < {w.mark(query.created_to)}")
        if query.policy_numbers:
            w.add(f"policy_number IN ({w.marks(query.policy_numbers)})")
        if query.payment_id is not None:
            w.add(f"payment_id = {w.mark(query.payment_id)}")
        if query.before_id is not None:
            w.add(f"id < {w.mark(query.before_id)}")
        limit = w.mark(query.limit)
        rows = await self._c.fetch(f"SELECT {REVIEW_COLS} FROM reviews{w.sql} ORDER BY id DESC LIMIT {limit}", *w.args)
        return [review_from_row(r) for r in rows]

    async def move(
        self, review_id: int, expected: ReviewState, to: ReviewState, outcome: ReviewOutcome | None, now: datetime
    ) -> bool:
        row = await self._c.fetchrow(
            "UPDATE reviews SET state = $3, outcome = $4, updated_at = $5 WHERE id = $1 AND state = $2 RETURNING id",
            review_id,
            expected.value,
            to.value,
            outcome.value if outcome else None,
            now,
        )
        return row is not None

    async def append_event(
        self,
        review_id: int,
        action: ReviewAction,
        from_state: ReviewState | None,
        to_state: ReviewState,
        outcome: ReviewOutcome | None,
        actor: str,
        note: str,
        now: datetime,
    ) -> ReviewEvent:
        row = await self._c.fetchrow(
            "INSERT INTO review_events (review_id, action, from_state, to_state, outcome, actor, note, occurred_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {REVIEW_EVENT_COLS}",
            review_id,
            action.value,
            from_state.value if from_state else None,
            to_state.value,
            outcome.value if outcome else None,
            actor,
            note,
            now,
        )
        assert row is not None
        return review_event_from_row(row)

    async def history(self, review_id: int) -> list[ReviewEvent]:
        if not storable_id(review_id):
            return []
        rows = await self._c.fetch(
            f"SELECT {REVIEW_EVENT_COLS} FROM review_events WHERE review_id = $1 ORDER BY id", review_id
        )
        return [review_event_from_row(r) for r in rows]

    async def of_payments(self, payment_ids: Sequence[int]) -> list[Review]:
        ids = [i for i in dict.fromkeys(payment_ids) if storable_id(i)]
        if not ids:
            return []
        w = _Where()
        rows = await self._c.fetch(
            f"SELECT {REVIEW_COLS} FROM reviews WHERE payment_id IN ({w.marks(ids)}) ORDER BY id", *w.args
        )
        return [review_from_row(r) for r in rows]

    async def unresolved_by_kind(self) -> dict[tuple[str, ReviewState], int]:
        rows = await self._c.fetch(
            "SELECT kind, state, COUNT(*) AS n FROM reviews WHERE state IN ('OPEN', 'ESCALATED') GROUP BY kind, state"
        )
        return {(r["kind"], ReviewState(r["state"])): int(r["n"]) for r in rows}


class SqlLookupRows:
    """``hub.ports.LookupRows`` over one SQL connection."""

    def __init__(self, conn: Conn, *, postgres: bool) -> None:
        self._c = conn
        self._postgres = postgres

    async def payments(self, query: PaymentQuery) -> list[tuple[Payment, Premium | None]]:
        w = _Where()
        # One UNION subquery per look-up (not ``a = x OR id IN (…)``, which PostgreSQL answers by
        # scanning every payment): each branch is an index search.
        if query.transaction_id is not None:
            tx_id, key = w.mark(query.transaction_id), w.mark("BILL:" + query.transaction_id)
            w.add(
                f"p.id IN (SELECT id FROM payments WHERE transaction_id = {tx_id}"
                f" UNION SELECT payment_id FROM webhook_receipts WHERE key = {key} AND payment_id IS NOT NULL)"
            )
        if query.policy_names:
            names = w.marks(query.policy_names)
            w.add(
                f"p.id IN (SELECT id FROM payments WHERE policy_number IN ({names})"
                " UNION SELECT a.id FROM payments a JOIN premiums b ON b.id = a.premium_id"
                f" WHERE b.application_number IN ({names}))"
            )
        if query.payer is not None:
            # SQLite's LIKE folds ASCII letters itself (and its index is NOCASE); PostgreSQL's is exact.
            payer, text = ("lower(payer)", query.payer.lower()) if self._postgres else ("payer", query.payer)
            w.add(
                f"p.premium_id IN (SELECT id FROM premiums WHERE {payer} LIKE {w.mark(like_prefix(text))} ESCAPE '\\')"
            )
        if query.created_from is not None:
            w.add(f"p.created_at >= {w.mark(query.created_from)}")
        if query.created_to is not None:
            w.add(f"p.created_at < {w.mark(query.created_to)}")
        if query.statuses:
            w.add(f"p.status IN ({w.marks([s.value for s in query.statuses])})")
        if query.before_id is not None:
            w.add(f"p.id < {w.mark(query.before_id)}")
        limit = w.mark(query.limit)
        cols = ", ".join(f"p.{c.strip()}" for c in PAYMENT_COLS.split(","))
        rows = await self._c.fetch(
            f"SELECT {cols}, {_PREMIUM_JOINED} FROM payments p LEFT JOIN premiums r ON r.id = p.premium_id"
            f"{w.sql} ORDER BY p.id DESC LIMIT {limit}",
            *w.args,
        )
        return [(payment_from_row(r), _joined_premium(r)) for r in rows]

    async def events_of(self, payment_id: int) -> list[PaymentEvent]:
        if not storable_id(payment_id):
            return []
        rows = await self._c.fetch(
            f"SELECT {EVENT_COLS} FROM payment_events WHERE payment_id = $1 ORDER BY id", payment_id
        )
        return [event_from_row(r) for r in rows]

    async def receipts_of(self, payment_id: int | None, keys: Sequence[str] = ()) -> list[StoredReceipt]:
        w = _Where()
        ors = []
        if payment_id is not None and storable_id(payment_id):
            ors.append(f"payment_id = {w.mark(payment_id)}")
        if keys:
            ors.append(f"key IN ({w.marks(list(dict.fromkeys(keys)))})")
        if not ors:
            return []
        rows = await self._c.fetch(
            f"SELECT {RECEIPT_COLS}, created_at, updated_at FROM webhook_receipts WHERE {' OR '.join(ors)}"
            " ORDER BY created_at, key",
            *w.args,
        )
        return [
            StoredReceipt(receipt_from_row(r), as_datetime(r["created_at"]), as_datetime(r["updated_at"])) for r in rows
        ]


class SqlAmkAnswerRows:
    """``hub.ports.AmkAnswerRows`` over one SQL connection."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    async def record(
        self,
        payment_id: int | None,
        reference: str,
        source: str,
        status: str,
        amount: Decimal | None,
        currency: Currency | None,
        detail: dict[str, Any],
        now: datetime,
    ) -> AmkAnswer:
        row = await self._c.fetchrow(
            "INSERT INTO amk_answers (payment_id, reference, source, status, amount, currency, detail, asked_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {AMK_ANSWER_COLS}",
            payment_id,
            reference,
            source,
            status,
            amount,
            currency.value if currency else None,
            dumps(detail),
            now,
        )
        assert row is not None
        return amk_answer_from_row(row)

    async def of(self, payment_ids: Sequence[int], references: Sequence[str] = ()) -> list[AmkAnswer]:
        w = _Where()
        ors = []
        ids = [i for i in dict.fromkeys(payment_ids) if storable_id(i)]
        if ids:
            ors.append(f"payment_id IN ({w.marks(ids)})")
        if references:
            ors.append(f"reference IN ({w.marks(list(dict.fromkeys(references)))})")
        if not ors:
            return []
        rows = await self._c.fetch(
            f"SELECT {AMK_ANSWER_COLS} FROM amk_answers WHERE {' OR '.join(ors)} ORDER BY id", *w.args
        )
        return [amk_answer_from_row(r) for r in rows]


def _joined_premium(r: Row) -> Premium | None:
    if r["r_id"] is None:
        return None
    return premium_from_row({k.removeprefix("r_"): r[k] for k in r.keys() if k.startswith("r_")})
