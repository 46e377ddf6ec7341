"""The store contract of ``StoreTx.reconciliation`` on the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.domain.reconciliation import ReconItem, StoredStatement
from hub.domain.records import Premium, Receipt
from hub.ports import Store

DAY = date(2026, 11, 27)
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 10:00 in Phnom Penh


def item(run_id: int, key: str, **changes: object) -> ReconItem:
    channel, _, ref = key.partition(":")
    base = ReconItem(run_id, key, channel, ref, None, None, 0, None, {"amount": "1.00"}, None, "", None, None)
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_one_run_per_day_and_its_lease(store: Store) -> None:
    async with store.transaction() as tx:
        rows = tx.reconciliation
        assert await rows.insert_run(DAY, "cli", T0) is True
        assert await rows.insert_run(DAY, "schedule", T0) is False
        run = await rows.run_for_day(DAY)
        assert run is not None and (run.status, run.generation, run.collected_generation) == ("RUNNING", 1, 0)
        assert await rows.run(run.id) == run and await rows.run(10**30) is None
        lease = T0 + timedelta(minutes=2)
        assert await rows.claim_run(run.id, "a", lease, T0)
        assert await rows.claim_run(run.id, "a", lease, T0)  # its own lease, renewed
        assert not await rows.claim_run(run.id, "b", lease, T0 + timedelta(minutes=1))
        assert await rows.claim_run(run.id, "b", lease + timedelta(minutes=2), lease)  # expired: taken over
        done = replace(run, status="COMPLETED", summary={"total": Decimal("1.50")}, lease_owner=None, lease_until=None)
        assert not await rows.save_run(done, "a")
        assert await rows.save_run(done, "b")
        saved = await rows.run(run.id)
        assert saved is not None and saved.status == "COMPLETED" and saved.summary == {"total": Decimal("1.50")}
        assert saved.lease_owner is None and await rows.claim_run(run.id, "c", lease, T0)
        assert await rows.completed_days(DAY, DAY) == {DAY}
        assert await rows.completed_days(DAY + timedelta(days=1), DAY + timedelta(days=9)) == set()
        await rows.insert_run(DAY - timedelta(days=1), "cli", T0)
        assert [r.day for r in await rows.runs()] == [DAY, DAY - timedelta(days=1)]
        assert [r.day for r in await rows.runs(first=DAY, last=DAY)] == [DAY]


async def test_items_sync_in_place_and_keep_their_decision(store: Store) -> None:
    async with store.transaction() as tx:
        rows = tx.reconciliation
        await rows.insert_run(DAY, "cli", T0)
        run = await rows.run_for_day(DAY)
        assert run is not None
        await rows.sync_items(
            run.id, [item(run.id, "BILL:A"), item(run.id, "KHQR:1000000000001"), item(run.id, "BILL:C")]
        )
        assert [i.key for i in await rows.undecided(run.id, 1)] == ["BILL:A", "BILL:C", "KHQR:1000000000001"]
        decided = item(run.id, "BILL:A", outcome="amount_mismatch", decided_generation=1, verify={"status": "PAID"})
        await rows.save_item(replace(decided, detail="x", review_key="r", decided_at=T0, payment_id=7))
        assert [i.key for i in await rows.undecided(run.id, 1)] == ["BILL:C", "KHQR:1000000000001"]
        assert [i.key for i in await rows.items(run.id, mismatches_only=True)] == ["BILL:A"]
        # A rerun: C is gone, D is new, A keeps its decision until decided again in generation 2.
        await rows.sync_items(run.id, [item(run.id, "BILL:A", statement=None), item(run.id, "BILL:D")])
        items = {i.key: i for i in await rows.items(run.id)}
        assert sorted(items) == ["BILL:A", "BILL:D"]
        assert items["BILL:A"].outcome == "amount_mismatch" and items["BILL:A"].statement is None
        assert items["BILL:A"].decided_at == T0 and items["BILL:A"].payment_id is None
        assert [i.key for i in await rows.undecided(run.id, 2)] == ["BILL:A", "BILL:D"]
        # Reviews whose ALERT is not logged yet, then logged.
        assert [i.key for i in await rows.unalerted(run.id)] == ["BILL:A"]
        await rows.mark_alerted(run.id, "BILL:A", T0)
        assert await rows.unalerted(run.id) == []
        assert {i.key: i.alerted_at for i in await rows.items(run.id)} == {"BILL:A": T0, "BILL:D": None}


async def test_statements_one_per_day_replaced(store: Store) -> None:
    async with store.transaction() as tx:
        rows = tx.reconciliation
        assert await rows.statement(DAY) is None
        await rows.put_statement(StoredStatement(DAY, "fetched", "a" * 64, "settlement_date\n", T0))
        await rows.put_statement(StoredStatement(DAY, "file:x.csv", "b" * 64, "other\n", T0))
        stored = await rows.statement(DAY)
        assert stored == StoredStatement(DAY, "file:x.csv", "b" * 64, "other\n", T0)


async def test_money_moved_on_a_day(store: Store) -> None:
    premium = Premium(150001, "P123456789", "John Doe", Decimal("150.00"), Currency.USD, DAY)
    async with store.transaction() as tx:
        await tx.upsert_premium(premium, T0)
        bill = await tx.insert_open_payment(premium, PaymentMethod.BILL, T0)
        assert bill is not None
        await tx.update_payment(replace(bill, status=PaymentStatus.CONFIRMED, transaction_id="AMK1", updated_at=T0))
        await tx.append_event(bill.id, "payment.status", PaymentStatus.CONFIRMED, {}, T0)
        receipt = Receipt("BILL:AMK1", "BILL", "150.00|USD", bill.id, {}, "DONE", 200, {}, 0, None)
        await tx.insert_receipt(receipt, T0)
        # A second transaction landed on the same attempt: only its receipt remembers it.
        await tx.insert_receipt(replace(receipt, key="BILL:AMK2"), T0)
        await tx.insert_receipt(replace(receipt, key="BILL:REFUSED", payment_id=None, response_status=422), T0)
        # A KHQR attempt paid the next day, and a failure notice.
        khqr = await tx.insert_open_payment(premium, PaymentMethod.KHQR, T0)
        assert khqr is not None
        await tx.update_payment(replace(khqr, status=PaymentStatus.CONFIRMED, transaction_id=f"AMK_KHQR_{khqr.id}"))
        nextday = T0 + timedelta(days=1)
        await tx.append_event(khqr.id, "payment.status", PaymentStatus.CONFIRMED, {}, nextday)
        khqr_receipt = Receipt(f"KHQR:{khqr.id}:SUCCESS", "KHQR", "150.00|USD", khqr.id, {}, "DONE", 200, {}, 0, None)
        await tx.insert_receipt(khqr_receipt, nextday)
        await tx.insert_receipt(replace(khqr_receipt, key=f"KHQR:{khqr.id}:FAILED"), T0)
        start = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # midnight in Phnom Penh
        moved = await tx.reconciliation.money_moved(start, start + timedelta(days=1))
        assert sorted((m.channel, m.tx_ref, m.payment_id) for m in moved) == [
            ("BILL", "AMK1", bill.id),
            ("BILL", "AMK2", bill.id),
        ]
        later = await tx.reconciliation.money_moved(start + timedelta(days=1), start + timedelta(days=2))
        assert [(m.channel, m.tx_ref) for m in later] == [("KHQR", str(khqr.id))]
        found = await tx.reconciliation.payments_by_transaction("AMK1", (PaymentStatus.CONFIRMED,))
        assert [p.id for p in found] == [bill.id]
        assert await tx.reconciliation.payments_by_transaction("AMK1", (PaymentStatus.PROCESSING,)) == []
