"""The store contract: every test runs against the in-memory fake, SQLite and PostgreSQL (the
``store`` fixture), so the fake the use-case unit tests run on behaves like the real stores.
Tests of what only SQL has (migrations, the append-only triggers, a failing statement) take
``sql_store``: SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hub.adapters.store._conn import Conn
from hub.adapters.store.migrations import migrations_for
from hub.adapters.store.sql import SqlStore, Tx, UniqueViolation
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.records import Payment, PaymentEvent, Premium, Receipt
from hub.ports import Store
from hub.service import ledger
from payhub.bootstrap import open_store

NOW = datetime(2026, 11, 27, 5, 0, 0, 123456, tzinfo=UTC)
STATUS = PaymentEvent.STATUS


def premium(
    pid: int = 1,
    policy: str = "P000000001",
    amount: str = "150.00",
    currency: Currency = Currency.USD,
    due: date = date(2026, 12, 15),
    application: str | None = None,
) -> Premium:
    return Premium(pid, policy, "Jane Roe", Decimal(amount), currency, due, application_number=application)


def raw(tx: Any) -> Conn:
    """The transaction's connection, to run SQL that the Tx API deliberately does not offer."""
    assert isinstance(tx, Tx)
    return tx._c


async def count(store: Store, table: str) -> int:
    async with store.transaction() as tx:
        return await tx.count(table)


async def new_payment(store: Store, p: Premium, method: PaymentMethod | None = None) -> Payment:
    async with store.transaction() as tx:
        await tx.upsert_premium(p, NOW)
        payment, _ = await ledger.open_payment(tx, p, method, NOW)
    return payment


# --- migrations ---


async def test_migrations_apply_once(db_url: str) -> None:
    names = [m.name for m in migrations_for("sqlite")]
    assert names == [m.name for m in migrations_for("postgres")] and names
    async with open_store(db_url, migrate=False) as store:
        assert await store.migrate() == names
        assert await store.migrate() == []
        assert await count(store, "schema_migrations") == len(names)


async def test_concurrent_migrators_apply_each_migration_once(db_url: str) -> None:
    async with open_store(db_url, migrate=False) as store:
        results = await asyncio.gather(store.migrate(), store.migrate(), store.migrate())
        assert sorted(n for r in results for n in r) == sorted(m.name for m in migrations_for("sqlite"))


async def test_migrate_on_a_migrated_store_applies_nothing(store: Store) -> None:
    assert await store.migrate() == []
    assert await store.migrate() == []


# --- premiums ---


async def test_premium_upsert_round_trips_and_updates(store: Store) -> None:
    khr = premium(2, "P000000002", "600000", Currency.KHR, application="A1")
    async with store.transaction() as tx:
        await tx.upsert_premium(premium(), NOW)
        await tx.upsert_premium(khr, NOW)
    async with store.transaction() as tx:
        assert await tx.premium(1) == premium()
        got = await tx.premium(2)
        assert await tx.premium(3) is None
    assert got is not None
    assert got == khr and got.amount == Decimal("600000") and got.currency is Currency.KHR
    changed = replace(premium(), amount=Decimal("175.25"), payer="Jane Doe", due_date=date(2027, 1, 1))
    async with store.transaction() as tx:
        await tx.upsert_premium(changed, NOW)
    async with store.transaction() as tx:
        assert await tx.premium(1) == changed
        # overwrite=False (the demo seed) never touches an existing row
        await tx.upsert_premium(premium(), NOW, overwrite=False)
        assert await tx.premium(1) == changed


async def test_find_due_premium_by_policy_and_application_earliest_first(store: Store) -> None:
    later = premium(10, "P000000010", due=date(2027, 3, 1), application="APP10")
    earlier = premium(11, "P000000010", due=date(2027, 1, 1), application="APP10")
    other = premium(12, "P000000012", due=date(2026, 1, 1))
    async with store.transaction() as tx:
        for p in (later, other, earlier):  # insertion order must not matter
            await tx.upsert_premium(p, NOW)
    async with store.transaction() as tx:
        by_policy = await tx.find_due_premium("P000000010")
        by_application = await tx.find_due_premium("APP10")
        assert await tx.find_due_premium("P999999999") is None
        assert await tx.find_due_premium("A%") is None  # a query is a value, never a pattern
    assert by_policy is not None and by_policy.id == earlier.id
    assert by_application is not None and by_application.id == earlier.id
    async with store.transaction() as tx:
        assert await tx.mark_premium_paid(earlier.id, 99, NOW)
    async with store.transaction() as tx:
        nxt = await tx.find_due_premium("APP10")
        assert nxt is not None and nxt.id == later.id
        assert await tx.mark_premium_paid(later.id, 100, NOW)
    async with store.transaction() as tx:
        assert await tx.find_due_premium("P000000010") is None
        assert await tx.find_due_premium("APP10") is None


async def test_mark_premium_paid_is_idempotent_and_reimport_never_unpays(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.upsert_premium(premium(), NOW)
    async with store.transaction() as tx:
        assert await tx.mark_premium_paid(1, 41, NOW) is True
    async with store.transaction() as tx:
        assert await tx.mark_premium_paid(1, 42, NOW) is False
    async with store.transaction() as tx:
        # a re-import says DUE with no payment: the premium stays PAID by the first payment
        await tx.upsert_premium(replace(premium(), payer="Renamed"), NOW + timedelta(days=1))
    async with store.transaction() as tx:
        got = await tx.premium(1)
        assert await tx.find_due_premium("P000000001") is None
    assert got is not None
    assert (got.status, got.paid, got.paid_payment_id, got.payer) == ("PAID", True, 41, "Renamed")


async def test_reimport_never_changes_what_a_paid_premium_was_paid_for(store: Store) -> None:
    """A paid premium keeps the amount and currency it was paid for; a re-import changes only its
    descriptive fields (money the bank collected is never silently re-valued)."""
    async with store.transaction() as tx:
        await tx.upsert_premium(premium(), NOW)
        assert await tx.mark_premium_paid(1, 41, NOW)
    async with store.transaction() as tx:
        await tx.upsert_premium(replace(premium(), amount=Decimal("999.99"), currency=Currency.KHR), NOW)
    async with store.transaction() as tx:
        got = await tx.premium(1)
    assert got is not None and (got.amount, got.currency) == (premium().amount, premium().currency)
    assert got.status == "PAID"


async def test_concurrent_mark_premium_paid_has_one_winner(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.upsert_premium(premium(), NOW)

    async def mark(payment_id: int) -> bool:
        async with store.transaction() as tx:
            return await tx.mark_premium_paid(1, payment_id, NOW)

    results = await asyncio.gather(*(mark(i) for i in range(1, 9)))
    assert sorted(results) == [False] * 7 + [True]


# --- payments ---


async def test_one_open_payment_per_premium(store: Store) -> None:
    p = premium()
    async with store.transaction() as tx:
        await tx.upsert_premium(p, NOW)
        first = await tx.insert_open_payment(p, None, NOW)
        assert first is not None
        assert await tx.insert_open_payment(p, PaymentMethod.BILL, NOW) is None
    assert first.status is PaymentStatus.PENDING
    assert (first.premium_id, first.policy_number, first.amount, first.currency) == (
        1,
        "P000000001",
        Decimal("150.00"),
        Currency.USD,
    )
    assert first.created_at == NOW and first.updated_at == NOW
    assert await store.payment(first.id) == first
    assert await count(store, "payments") == 1


async def test_ledger_open_payment_returns_the_same_payment_and_one_event(store: Store) -> None:
    p = premium()
    async with store.transaction() as tx:
        await tx.upsert_premium(p, NOW)
        a, events_a = await ledger.open_payment(tx, p, None, NOW)
    async with store.transaction() as tx:
        b, events_b = await ledger.open_payment(tx, p, PaymentMethod.KHQR, NOW + timedelta(seconds=1))
    assert b.id == a.id and b.method is PaymentMethod.KHQR  # the method is filled in once known
    assert len(events_a) == 1 and events_b == []
    event = events_a[0]
    assert (event.type, event.status, event.payment_id) == (STATUS, PaymentStatus.PENDING, a.id)
    assert event.data["paymentId"] == a.id and event.data["status"] == "PENDING"
    assert await store.events_after(a.id, 0) == [event]


async def test_concurrent_open_payment_creates_one(store: Store) -> None:
    p = premium()
    async with store.transaction() as tx:
        await tx.upsert_premium(p, NOW)

    async def open_() -> tuple[Payment, list[PaymentEvent]]:
        async with store.transaction() as tx:
            return await ledger.open_payment(tx, p, None, NOW)

    results = await asyncio.gather(*(open_() for _ in range(10)))
    assert len({payment.id for payment, _ in results}) == 1
    assert sum(len(events) for _, events in results) == 1
    assert await count(store, "payments") == 1
    assert await count(store, "payment_events") == 1


async def test_a_closed_payment_frees_the_premium_for_a_new_one(store: Store) -> None:
    first = await new_payment(store, premium())
    async with store.transaction() as tx:
        locked = await tx.payment(first.id, lock=True)
        assert locked is not None
        await ledger.transition(tx, locked, PaymentStatus.EXPIRED, NOW)
    async with store.transaction() as tx:
        second = await tx.insert_open_payment(premium(), None, NOW)
        assert await tx.open_payment_for(1) == second
        assert await tx.latest_payment_for(1) == second
    assert second is not None and second.id > first.id


async def test_a_bank_transaction_confirms_one_payment(store: Store) -> None:
    a = await new_payment(store, premium(1, "P000000001"))
    b = await new_payment(store, premium(2, "P000000002"))
    async with store.transaction() as tx:
        await tx.update_payment(replace(a, status=PaymentStatus.CONFIRMED, transaction_id="TX1"))
    with pytest.raises(UniqueViolation):
        async with store.transaction() as tx:
            await tx.update_payment(replace(b, status=PaymentStatus.CONFIRMED, transaction_id="TX1"))
    got = await store.payment(b.id)
    assert got is not None and got.status is PaymentStatus.PENDING


# --- the event log ---


async def test_payment_events_are_append_only(sql_store: SqlStore) -> None:
    store = sql_store
    payment = await new_payment(store, premium())
    async with store.transaction() as tx:
        event = await tx.append_event(payment.id, STATUS, PaymentStatus.PROCESSING, {"n": 1}, NOW)
    for sql in (
        "UPDATE payment_events SET data = '{}' WHERE id = $1",
        "UPDATE payment_events SET status = 'CONFIRMED' WHERE id = $1",
        "UPDATE payment_events SET type = 'payment.review' WHERE id = $1",
        "DELETE FROM payment_events WHERE id = $1",
    ):
        with pytest.raises(Exception, match="append-only"):
            async with store.transaction() as tx:
                await raw(tx).execute(sql, event.id)
    # the outbox marker is the one column that may be set
    async with store.transaction() as tx:
        await raw(tx).execute("UPDATE payment_events SET published_at = $2 WHERE id = $1", event.id, NOW)
    async with store.transaction() as tx:
        assert await tx.count("payment_events", "published_at IS NOT NULL") == 1
        assert (await tx.events_after(payment.id, 0))[-1] == event


async def test_events_after_returns_one_payments_status_events_in_order(store: Store) -> None:
    a = await new_payment(store, premium(1, "P000000001"))
    b = await new_payment(store, premium(2, "P000000002"))
    async with store.transaction() as tx:
        a1 = await tx.append_event(a.id, STATUS, PaymentStatus.PROCESSING, {"step": 1}, NOW)
        await tx.append_event(b.id, STATUS, PaymentStatus.PROCESSING, {"step": "b"}, NOW)
        ignored = await tx.append_event(a.id, ledger.IGNORED, PaymentStatus.PROCESSING, {"x": 1}, NOW)
        a2 = await tx.append_event(a.id, STATUS, PaymentStatus.CONFIRMED, {"amount": Decimal("1.50")}, NOW)
    async with store.transaction() as tx:
        everything = await tx.events_after(a.id, 0)
        assert [e.status for e in everything] == [
            PaymentStatus.PENDING,
            PaymentStatus.PROCESSING,
            PaymentStatus.CONFIRMED,
        ]
        assert all(e.payment_id == a.id and e.type == STATUS for e in everything)
        ids = [e.id for e in everything]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert await tx.events_after(a.id, a1.id) == [a2]
        assert await tx.events_after(a.id, a1.id - 1) == [a1, a2]
        assert await tx.events_after(a.id, a2.id) == []
        assert await tx.events_after(a.id, 0, limit=1) == everything[:1]
        assert await tx.events_of_type(a.id, ledger.IGNORED) == [ignored]
        assert await tx.last_status_event(a.id) == a2
    assert a2.data == {"amount": Decimal("1.50")}  # decimals survive the round trip exactly
    assert a2.occurred_at == NOW
    assert [e.data for e in await store.events_after(b.id, 0)][1:] == [{"step": "b"}]


async def test_recent_status_events_is_each_recent_payments_newest_status_bounded(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.recent_status_events(10) == []
    a = await new_payment(store, premium(1, "P000000001"))
    b = await new_payment(store, premium(2, "P000000002"))
    c = await new_payment(store, premium(3, "P000000003"))
    async with store.transaction() as tx:
        await tx.append_event(a.id, STATUS, PaymentStatus.PROCESSING, {}, NOW)
        b2 = await tx.append_event(b.id, STATUS, PaymentStatus.PROCESSING, {"step": "b"}, NOW)
        a3 = await tx.append_event(a.id, STATUS, PaymentStatus.CONFIRMED, {"amount": Decimal("1.50")}, NOW)
        await tx.append_event(c.id, ledger.IGNORED, PaymentStatus.PROCESSING, {"x": 1}, NOW)  # not a status
    async with store.transaction() as tx:
        c1 = await tx.last_status_event(c.id)  # its PENDING, older than b2 and a3
        everything = await tx.recent_status_events(10)
        assert everything == [c1, b2, a3]  # one per payment, its newest status event, oldest first
        assert await tx.recent_status_events(2) == [b2, a3]  # the payments that changed last
        assert await tx.recent_status_events(1) == [a3]
        assert await tx.recent_status_events(0) == []
        for event in everything:
            assert event == await tx.last_status_event(event.payment_id)


# --- receipts and reviews ---


def receipt(key: str = "BILL:TX1", **changes: Any) -> Receipt:
    base = Receipt(
        key=key,
        kind="BILL",
        fingerprint="150.00|USD",
        payment_id=None,
        payload={"amount": Decimal("150.00"), "bankTransactionId": "TX1"},
        state="DONE",
        response_status=200,
        response_body={"status": "CONFIRMED"},
        attempts=0,
        next_attempt_at=None,
    )
    return replace(base, **changes)


async def test_insert_receipt_refuses_a_duplicate_key(store: Store) -> None:
    payment = await new_payment(store, premium())
    first = receipt(payment_id=payment.id)
    async with store.transaction() as tx:
        assert await tx.insert_receipt(first, NOW) is True
    async with store.transaction() as tx:
        assert await tx.insert_receipt(receipt(fingerprint="1.00|USD", response_status=409), NOW) is False
    assert await store.receipt(first.key) == first  # the original answer is kept untouched
    assert await store.receipt("BILL:other") is None
    assert await count(store, "webhook_receipts") == 1


async def test_receipt_update_and_due_verifications(store: Store) -> None:
    payment = await new_payment(store, premium())
    pending = receipt(
        payment_id=payment.id, state="VERIFY_PENDING", attempts=1, next_attempt_at=NOW + timedelta(seconds=30)
    )
    async with store.transaction() as tx:
        assert await tx.insert_receipt(pending, NOW)
        assert await tx.insert_receipt(receipt("BILL:TX2", payment_id=payment.id), NOW)
    async with store.transaction() as tx:
        assert await tx.due_verifications(NOW) == []
        assert await tx.due_verifications(NOW + timedelta(seconds=30)) == [pending]
        assert await tx.lock_receipt(pending.key) == pending
    done = replace(pending, state="DONE", response_body={"status": "CONFIRMED"}, attempts=2)
    async with store.transaction() as tx:
        await tx.update_receipt(done, NOW)
    assert await store.receipt(pending.key) == done
    async with store.transaction() as tx:
        assert await tx.due_verifications(NOW + timedelta(days=1)) == []


async def test_update_receipt_records_the_payment(store: Store) -> None:
    # The webhook path inserts a placeholder before the payment is known, then fills it in.
    payment = await new_payment(store, premium())
    async with store.transaction() as tx:
        assert await tx.insert_receipt(receipt(state="DONE", response_status=0, response_body={}), NOW)
        filled = receipt(payment_id=payment.id, state="VERIFY_PENDING", attempts=1, next_attempt_at=NOW)
        await tx.update_receipt(filled, NOW)
    assert await store.receipt(filled.key) == filled


async def test_add_review_is_idempotent_per_key(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.add_review("k1", "first reason", None, {"a": Decimal("1.00")}, NOW) is True
    async with store.transaction() as tx:
        assert await tx.add_review("k1", "second reason", 7, {}, NOW) is False
        assert await tx.add_review("k2", "other", None, {}, NOW) is True
    async with store.transaction() as tx:
        reviews = await tx.reviews()
    assert [(r["key"], r["reason"]) for r in reviews] == [("k2", "other"), ("k1", "first reason")]
    assert reviews[1]["payload"] == {"a": Decimal("1.00")} and reviews[1]["paymentId"] is None


# --- transactions ---


async def test_a_failing_transaction_leaves_nothing_behind(store: Store) -> None:
    class Boom(Exception):
        pass

    p = premium()
    with pytest.raises(Boom):
        async with store.transaction() as tx:
            await tx.upsert_premium(p, NOW)
            payment, _ = await ledger.open_payment(tx, p, PaymentMethod.BILL, NOW)
            await ledger.transition(tx, payment, PaymentStatus.CONFIRMED, NOW, review="r")
            await tx.insert_receipt(receipt(payment_id=payment.id), NOW)
            await tx.add_review("k", "r2", payment.id, {}, NOW)
            await tx.log_inquiry("P000000001", "t", "127.0.0.1", "found", "cid", NOW)
            raise Boom
    for table in ("premiums", "payments", "payment_events", "webhook_receipts", "reviews", "inquiries"):
        assert await count(store, table) == 0, table
    # the store is still usable afterwards
    assert (await new_payment(store, p)).status is PaymentStatus.PENDING


async def test_a_failed_savepoint_is_undone_alone_and_the_unit_goes_on(sql_store: SqlStore) -> None:
    """StoreTx.savepoint: what fails inside is undone, what came before and after commits (PostgreSQL
    would otherwise refuse every statement after the failed one)."""
    store = sql_store
    async with store.transaction() as tx:
        await tx.upsert_premium(premium(1), NOW)
        with pytest.raises(UniqueViolation):
            async with tx.savepoint():
                await tx.upsert_premium(premium(2, "P000000002"), NOW)
                await raw(tx).execute("INSERT INTO premiums SELECT * FROM premiums WHERE id = 1")
        await tx.upsert_premium(premium(3, "P000000003"), NOW)
    async with store.transaction() as tx:
        assert [p is not None for p in [await tx.premium(i) for i in (1, 2, 3)]] == [True, False, True]


async def test_a_failed_statement_rolls_back_the_whole_transaction(sql_store: SqlStore) -> None:
    store = sql_store
    with pytest.raises(UniqueViolation):
        async with store.transaction() as tx:
            await tx.upsert_premium(premium(), NOW)
            await raw(tx).execute(
                "INSERT INTO reviews (key, reason, payload, created_at) VALUES ($1, $2, $3, $4)",
                "dup",
                "r",
                "{}",
                NOW,
            )
            await raw(tx).execute(
                "INSERT INTO reviews (key, reason, payload, created_at) VALUES ($1, $2, $3, $4)",
                "dup",
                "r",
                "{}",
                NOW,
            )
    assert await count(store, "premiums") == 0
    assert await count(store, "reviews") == 0
