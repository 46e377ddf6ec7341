"""The store contract of the back office (``store``: memory, SQLite, PostgreSQL): reviews, their
state and append-only history, the look-ups and AMK's answers (``hub.ports.backoffice``).
What only SQL has (triggers, CHECKs, the migration of older reviews) takes ``sql_store``/``db_url``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from hub.adapters.store.migrations import migrations_for
from hub.adapters.store.sql import SqlStore
from hub.adapters.store.sqlite import _statements
from hub.domain.lookups import PaymentQuery
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Premium
from hub.domain.reviews import ReviewAction, ReviewOutcome, ReviewQuery, ReviewState, review_kind
from hub.ports import Store
from payhub.bootstrap import open_store
from tests.integration.test_store_contract import NOW, STATUS, new_payment, premium, raw, receipt

S = ReviewState


async def _review(store: Store, key: str, payment_id: int | None = None, **payload: object) -> int:
    async with store.transaction() as tx:
        assert await tx.add_review(key, f"reason of {key}", payment_id, dict(payload), NOW)
        found = await tx.review_rows.by_key(key)
    assert found is not None
    return found.id


async def test_a_new_review_is_open_with_its_kind_policy_and_first_history_row(store: Store) -> None:
    payment = await new_payment(store, premium(1, "P000000001"))
    with_payment = await _review(store, "double-payment:1:paid", payment.id, policyNumber="IGNORED")
    without = await _review(store, "webhook:BILL:TX9:unknown premium id", None, policyNumber="P000000009")
    bare = await _review(store, "no-prefix-here", None)
    async with store.transaction() as tx:
        rows = tx.review_rows
        a, b, c = [await rows.get(i) for i in (with_payment, without, bare)]
        history = await rows.history(with_payment)
    assert a is not None and b is not None and c is not None
    assert (a.kind, a.state, a.outcome, a.policy_number, a.payment_id) == (
        "double-payment",
        S.OPEN,
        None,
        "P000000001",  # the payment's policy wins over the payload's
        payment.id,
    )
    assert (b.kind, b.policy_number, c.kind, c.policy_number) == ("webhook", "P000000009", "other", None)
    assert a.created_at == a.updated_at == NOW
    [opened] = history
    assert (opened.action, opened.from_state, opened.to_state, opened.outcome) == (
        ReviewAction.OPEN,
        None,
        S.OPEN,
        None,
    )
    assert (opened.actor, opened.note, opened.occurred_at) == ("payhub", "reason of double-payment:1:paid", NOW)


async def test_a_repeated_key_adds_no_review_and_no_history(store: Store) -> None:
    first = await _review(store, "payment:1:CONFIRMED")
    async with store.transaction() as tx:
        assert await tx.add_review("payment:1:CONFIRMED", "again", None, {}, NOW) is False
        assert await tx.count("reviews") == 1
        assert len(await tx.review_rows.history(first)) == 1
        assert await tx.count("review_events") == 1


async def test_move_is_a_compare_and_set_and_history_appends(store: Store) -> None:
    rid = await _review(store, "webhook:x")
    later = NOW + timedelta(minutes=5)
    async with store.transaction() as tx:
        rows = tx.review_rows
        assert await rows.move(rid, S.ESCALATED, S.RESOLVED, ReviewOutcome.ACCEPTED, later) is False
        assert await rows.move(rid, S.OPEN, S.RESOLVED, ReviewOutcome.REFUND_REQUIRED, later) is True
        assert await rows.move(rid, S.OPEN, S.RESOLVED, ReviewOutcome.DISMISSED, later) is False
        assert await rows.move(10**9, S.OPEN, S.ESCALATED, None, later) is False
        event = await rows.append_event(
            rid, ReviewAction.RESOLVE, S.OPEN, S.RESOLVED, ReviewOutcome.REFUND_REQUIRED, "alice", "refund it", later
        )
    async with store.transaction() as tx:
        moved = await tx.review_rows.get(rid)
        history = await tx.review_rows.history(rid)
    assert moved is not None
    assert (moved.state, moved.outcome, moved.updated_at, moved.created_at) == (
        S.RESOLVED,
        ReviewOutcome.REFUND_REQUIRED,
        later,
        NOW,
    )
    assert [e.action for e in history] == [ReviewAction.OPEN, ReviewAction.RESOLVE]
    assert history[-1] == event
    assert (event.actor, event.note, event.occurred_at, event.review_id) == ("alice", "refund it", later, rid)


async def test_a_failed_unit_leaves_neither_the_move_nor_its_history(store: Store) -> None:
    rid = await _review(store, "webhook:y")
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            assert await tx.review_rows.move(rid, S.OPEN, S.ESCALATED, None, NOW)
            await tx.review_rows.append_event(rid, ReviewAction.ESCALATE, S.OPEN, S.ESCALATED, None, "a", "n", NOW)
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        review = await tx.review_rows.get(rid)
        assert review is not None and review.state is S.OPEN
        assert len(await tx.review_rows.history(rid)) == 1


async def test_review_filters_and_keyset_pages(store: Store) -> None:
    p1 = await new_payment(store, premium(1, "P000000001"))
    p2 = await new_payment(store, premium(2, "P000000002"))
    ids = {}
    for n, (key, payment, at) in enumerate(
        [
            ("double-payment:a", p1.id, NOW),
            ("webhook:b", None, NOW + timedelta(days=1)),
            ("webhook:c", p2.id, NOW + timedelta(days=2)),
            ("reconcile:d", p1.id, NOW + timedelta(days=3)),
        ]
    ):
        async with store.transaction() as tx:
            assert await tx.add_review(key, f"r{n}", payment, {"policyNumber": "P000000007"}, at)
            found = await tx.review_rows.by_key(key)
        assert found is not None
        ids[key[-1]] = found.id
    async with store.transaction() as tx:
        await tx.review_rows.move(ids["c"], S.OPEN, S.ESCALATED, None, NOW)
        await tx.review_rows.move(ids["a"], S.OPEN, S.RESOLVED, ReviewOutcome.DISMISSED, NOW)

    async def keys(**q: object) -> list[str]:
        async with store.transaction() as tx:
            return [r.key[-1] for r in await tx.review_rows.find(ReviewQuery(**q))]  # type: ignore[arg-type]

    assert await keys() == ["d", "c", "b", "a"]  # newest first
    assert await keys(states=(S.OPEN,)) == ["d", "b"]
    assert await keys(states=(S.OPEN, S.ESCALATED)) == ["d", "c", "b"]
    assert await keys(kinds=("webhook",)) == ["c", "b"]
    assert await keys(kinds=("webhook", "reconcile"), states=(S.OPEN,)) == ["d", "b"]
    assert await keys(outcomes=(ReviewOutcome.DISMISSED,)) == ["a"]
    assert await keys(created_from=NOW + timedelta(days=1), created_to=NOW + timedelta(days=3)) == ["c", "b"]
    assert await keys(policy_number="P000000001") == ["d", "a"]
    assert await keys(policy_number="p000000007") == ["b"]  # the payload's policy, letter case ignored
    assert await keys(payment_id=p2.id) == ["c"]
    assert await keys(limit=2) == ["d", "c"]
    assert await keys(limit=2, before_id=ids["c"]) == ["b", "a"]
    assert await keys(before_id=ids["a"]) == []
    async with store.transaction() as tx:
        assert [r.key for r in await tx.review_rows.of_payments([p1.id, p1.id, 99])] == [
            "double-payment:a",
            "reconcile:d",
        ]
        assert await tx.review_rows.of_payments([]) == []
        assert await tx.review_rows.unresolved_by_kind() == {
            ("webhook", S.OPEN): 1,
            ("webhook", S.ESCALATED): 1,
            ("reconcile", S.OPEN): 1,
        }
        # the original list keeps its contract, and shows the new fields
        listed = await tx.reviews(limit=1)
    assert listed[0]["key"] == "reconcile:d" and listed[0]["state"] == "OPEN" and listed[0]["kind"] == "reconcile"
    assert set(listed[0]) >= {"id", "key", "reason", "paymentId", "payload", "createdAt"}


async def test_payment_lookups(store: Store) -> None:
    jane = Premium(1, "P000000001", "Jane Roe", Decimal("150.00"), Currency.USD, date(2026, 12, 15), "A0001")
    john = Premium(2, "P000000002", "john O'Doe", Decimal("600000"), Currency.KHR, date(2026, 12, 15))
    wild = Premium(3, "P000000003", "50%_off Ltd", Decimal("1.00"), Currency.USD, date(2026, 12, 15))
    a = await new_payment(store, jane, PaymentMethod.BILL)
    b = await new_payment(store, john)
    c = await new_payment(store, wild)
    async with store.transaction() as tx:
        await tx.update_payment(replace(a, status=PaymentStatus.CONFIRMED, transaction_id="AMK-TX-1"))
        # a second bank transaction reached payment a: found through its receipt
        assert await tx.insert_receipt(receipt("BILL:AMK-TX-2", payment_id=a.id), NOW)
        assert await tx.insert_receipt(receipt("BILL:AMK-TX-3"), NOW)  # reached no payment

    async def ids(**q: object) -> list[int]:
        async with store.transaction() as tx:
            return [p.id for p, _ in await tx.lookups.payments(PaymentQuery(**q))]  # type: ignore[arg-type]

    assert await ids() == [c.id, b.id, a.id]
    assert await ids(transaction_id="AMK-TX-1") == [a.id]
    assert await ids(transaction_id="AMK-TX-2") == [a.id]
    assert await ids(transaction_id="AMK-TX-3") == []
    assert await ids(transaction_id="amk-tx-1") == []  # a bank's id is exact
    assert await ids(policy="P000000002") == [b.id]
    assert await ids(policy="p000000002") == [b.id]
    assert await ids(policy="A0001") == [a.id]  # the application number
    assert await ids(policy="a0001") == [a.id]
    assert await ids(payer="JOHN o'") == [b.id]  # a prefix, ASCII letter case ignored
    assert await ids(payer="Roe") == []  # not a prefix
    assert await ids(payer="50%") == [c.id]  # LIKE's wildcards are plain characters
    assert await ids(payer="5_%") == []
    assert await ids(payer="%") == []
    assert await ids(statuses=(PaymentStatus.PENDING,)) == [c.id, b.id]
    assert await ids(created_from=NOW, created_to=NOW + timedelta(seconds=1)) == [c.id, b.id, a.id]
    assert await ids(created_to=NOW) == []
    assert await ids(limit=1, before_id=c.id) == [b.id]
    async with store.transaction() as tx:
        [(found, its_premium)] = await tx.lookups.payments(PaymentQuery(transaction_id="AMK-TX-1"))
    assert found.status is PaymentStatus.CONFIRMED and its_premium == jane


async def test_events_and_receipts_of_a_payment(store: Store) -> None:
    a = await new_payment(store, premium(1, "P000000001"))
    b = await new_payment(store, premium(2, "P000000002"))
    async with store.transaction() as tx:
        e1 = await tx.append_event(a.id, "payment.ignored", PaymentStatus.PENDING, {"why": 1}, NOW)
        e2 = await tx.append_event(a.id, STATUS, PaymentStatus.PROCESSING, {"n": 2}, NOW)
        await tx.append_event(b.id, STATUS, PaymentStatus.PROCESSING, {}, NOW)
        assert await tx.insert_receipt(receipt("BILL:T1", payment_id=a.id), NOW)
        assert await tx.insert_receipt(receipt("BILL:T2", payment_id=b.id), NOW + timedelta(seconds=1))
        assert await tx.insert_receipt(receipt("BILL:T3"), NOW + timedelta(seconds=2))
        await tx.update_receipt(receipt("BILL:T1", payment_id=a.id, attempts=3), NOW + timedelta(seconds=9))
    async with store.transaction() as tx:
        events = await tx.lookups.events_of(a.id)
        mine = await tx.lookups.receipts_of(a.id)
        with_keys = await tx.lookups.receipts_of(a.id, ["BILL:T3", "BILL:nope"])
        only_keys = await tx.lookups.receipts_of(None, ["BILL:T2"])
        none = await tx.lookups.receipts_of(None)
    assert [e.type for e in events] == [STATUS, "payment.ignored", STATUS]  # every type, oldest first
    assert events[1:] == [e1, e2]
    assert [(r.receipt.key, r.receipt.attempts) for r in mine] == [("BILL:T1", 3)]
    assert (mine[0].created_at, mine[0].updated_at) == (NOW, NOW + timedelta(seconds=9))
    assert mine[0].receipt.payload == {"amount": Decimal("150.00"), "bankTransactionId": "TX1"}
    assert [r.receipt.key for r in with_keys] == ["BILL:T1", "BILL:T3"]
    assert [r.receipt.key for r in only_keys] == ["BILL:T2"] and none == []


async def test_amk_answers_are_kept_per_payment_and_reference(store: Store) -> None:
    a = await new_payment(store, premium(1, "P000000001"))
    async with store.transaction() as tx:
        paid = await tx.amk_answers.record(
            a.id, "TX1", "webhook", "PAID", Decimal("150.00"), Currency.USD, {"txId": "TX1"}, NOW
        )
        refused = await tx.amk_answers.record(
            None, "TX2", "webhook", "MERCHANT_NOT_BIND", None, None, {"amkCode": "MERCHANT_NOT_BIND"}, NOW
        )
    async with store.transaction() as tx:
        assert await tx.amk_answers.of([a.id]) == [paid]
        assert await tx.amk_answers.of([], ["TX2"]) == [refused]
        assert await tx.amk_answers.of([a.id], ["TX2", "TX1"]) == [paid, refused]
        assert await tx.amk_answers.of([]) == []
        assert await tx.count("amk_answers") == 2
    assert paid.as_json()["amount"] == Decimal("150.00") and paid.as_json()["currency"] == "USD"
    assert refused.as_json()["amount"] is None


async def test_concurrent_moves_of_one_review_have_one_winner(store: Store) -> None:
    # Each unit reads the review under its lock, then sets its state only if unchanged.
    rid = await _review(store, "webhook:race")

    async def resolve(n: int) -> bool:
        async with store.transaction() as tx:
            review = await tx.review_rows.get(rid, lock=True)
            assert review is not None
            await asyncio.sleep(0)  # let the others reach the same point
            if review.state is not S.OPEN:
                return False
            moved = await tx.review_rows.move(rid, S.OPEN, S.RESOLVED, ReviewOutcome.ACCEPTED, NOW)
            if moved:
                await tx.review_rows.append_event(
                    rid, ReviewAction.RESOLVE, S.OPEN, S.RESOLVED, ReviewOutcome.ACCEPTED, f"admin{n}", "n", NOW
                )
            return moved

    results = await asyncio.gather(*(resolve(n) for n in range(8)))
    assert results.count(True) == 1
    async with store.transaction() as tx:
        assert [e.action for e in await tx.review_rows.history(rid)] == [ReviewAction.OPEN, ReviewAction.RESOLVE]


# --- what only SQL has ---


async def test_review_history_is_append_only(sql_store: SqlStore) -> None:
    store = sql_store
    rid = await _review(store, "webhook:z")
    for sql in (
        "UPDATE review_events SET note = 'rewritten' WHERE review_id = $1",
        "UPDATE review_events SET actor = 'someone else' WHERE review_id = $1",
        "DELETE FROM review_events WHERE review_id = $1",
    ):
        with pytest.raises(Exception, match="append-only"):
            async with store.transaction() as tx:
                await raw(tx).execute(sql, rid)
    async with store.transaction() as tx:
        [opened] = await tx.review_rows.history(rid)
    assert opened.note == "reason of webhook:z"


async def test_an_outcome_exists_exactly_while_resolved(sql_store: SqlStore) -> None:
    rid = await _review(sql_store, "webhook:w")
    for sql in (
        "UPDATE reviews SET state = 'RESOLVED' WHERE id = $1",  # no outcome
        "UPDATE reviews SET outcome = 'accepted' WHERE id = $1",  # an outcome while OPEN
        "UPDATE reviews SET state = 'RESOLVED', outcome = 'maybe' WHERE id = $1",
        "UPDATE reviews SET state = 'CLOSED' WHERE id = $1",
    ):
        with pytest.raises(Exception, match=r"(?i)check"):
            async with sql_store.transaction() as tx:
                await raw(tx).execute(sql, rid)


async def test_migration_0006_carries_older_reviews_over(db_url: str) -> None:
    """Reviews raised before the workflow existed: kind from the key, policy from the payment or
    the payload, state OPEN, and an ``open`` row in their history."""
    keys = [
        "double-payment:P:paid",
        "webhook:BILL:AMK1:unknown premium id",
        "Reverify:KHQR:5:SUCCESS:refused:MERCHANT_NOT_BIND",
        "payment:P:CONFIRMED",
        "no prefix",
        ":leading-colon",
        "x" * 60 + ":long",
    ]
    async with open_store(db_url, migrate=False) as store:
        async with store.transaction() as tx:
            conn = raw(tx)
            dialect = "postgres" if store.dialect == "postgres" else "sqlite"
            await conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            for m in migrations_for(dialect):
                if m.name >= "0006":
                    break
                if dialect == "sqlite":
                    for statement in _statements(m.sql):
                        await conn.execute(statement)
                else:
                    await conn.execute(m.sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, 'before')", m.name)
            paid = await conn.fetchrow(
                "INSERT INTO payments (premium_id, policy_number, status, amount, currency, created_at, updated_at)"
                " VALUES (1, 'P000000001', 'CONFIRMED', $1, 'USD', $2, $2) RETURNING id",
                Decimal("150.00"),
                NOW,
            )
            assert paid is not None
            for n, key in enumerate(keys):
                payload = '{"policyNumber": "P000000042"}' if n == 1 else ('{"policyNumber": 42}' if n == 4 else "{}")
                await conn.execute(
                    "INSERT INTO reviews (key, reason, payment_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
                    key,
                    f"why {n}",
                    int(paid["id"]) if key.startswith(("double", "payment")) else None,
                    payload,
                    NOW + timedelta(seconds=n),
                )
        assert [m for m in await store.migrate() if m.startswith("0006")] == ["0006_review_workflow"]
        async with store.transaction() as tx:
            rows = sorted(await tx.review_rows.find(ReviewQuery()), key=lambda r: r.id)
            histories = [await tx.review_rows.history(r.id) for r in rows]
    assert [r.kind for r in rows] == [review_kind(k) for k in keys]
    assert [r.kind for r in rows][:4] == ["double-payment", "webhook", "reverify", "payment"]
    assert [r.policy_number for r in rows][:5] == ["P000000001", "P000000042", None, "P000000001", None]
    assert {r.state for r in rows} == {S.OPEN} and all(r.updated_at == r.created_at for r in rows)
    for n, (r, history) in enumerate(zip(rows, histories, strict=True)):
        [opened] = history
        assert (opened.action, opened.actor, opened.note, opened.to_state) == (
            ReviewAction.OPEN,
            "payhub",
            f"why {n}",
            S.OPEN,
        )
        assert opened.occurred_at == r.created_at == NOW + timedelta(seconds=n)


def test_review_kind_rule() -> None:
    assert review_kind("double-payment:1:paid") == "double-payment"
    assert review_kind("Reconcile:2026-11-27:AMK1") == "reconcile"
    assert review_kind("fraud:velocity:ip:1.2.3.4") == "fraud"
    assert review_kind("no colon") == review_kind(":x") == "other"
    assert review_kind("y" * 50 + ":z") == "y" * 40
