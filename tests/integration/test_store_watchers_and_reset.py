"""Store contract for issue 12: the payment's watchers (memory, SQLite, PostgreSQL) and the sandbox reset
(SQLite, PostgreSQL): everything PayHub's migrations made is dropped and made anew, nothing else is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.adapters.store.migrations import created_objects
from hub.adapters.store.sql import SqlStore
from hub.constants import PAYMENT_ID_FLOOR
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.errors import ConfigError
from hub.ports import Store
from hub.service import ledger
from integration.premiums import DEMO_PREMIUMS, PremiumService
from payhub.bootstrap import open_store
from payhub.demo import restore_demo
from tests.integration.test_production_surface import production
from tests.integration.test_store_contract import NOW, count, new_payment, premium, raw


async def test_watchers_are_recorded_once_per_payment_and_subject(store: Store) -> None:
    payment = await new_payment(store, premium())
    async with store.transaction() as tx:
        assert await tx.watchers.add(payment.id, "alice", NOW) is True
        assert await tx.watchers.add(payment.id, "alice", NOW) is False
        assert await tx.watchers.add(payment.id, "Alice", NOW) is True  # subjects are compared exactly
    async with store.transaction() as tx:
        assert await tx.watchers.watches(payment.id, "alice")
        assert await tx.watchers.watches(payment.id, "Alice")
        assert not await tx.watchers.watches(payment.id, "bob")
        assert not await tx.watchers.watches(payment.id + 1, "alice")
        assert not await tx.watchers.watches(2**63, "alice")  # beyond BIGINT: no payment, never an error
    assert await count(store, "payment_watchers") == 2


async def test_a_watcher_written_in_a_rolled_back_unit_is_gone(store: Store) -> None:
    payment = await new_payment(store, premium())
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.watchers.add(payment.id, "alice", NOW)
            raise RuntimeError("roll back")
    async with store.transaction() as tx:
        assert not await tx.watchers.watches(payment.id, "alice")


async def test_reset_drops_every_payhub_table_and_starts_ids_anew(sql_store: SqlStore) -> None:
    first = await new_payment(sql_store, premium())
    assert first.id == PAYMENT_ID_FLOOR
    async with sql_store.transaction() as tx:
        paid, _, _ = await ledger.transition(
            tx, first, PaymentStatus.CONFIRMED, NOW, method=PaymentMethod.BILL, transaction_id="T1"
        )
        await tx.watchers.add(first.id, "alice", NOW)
        # What is not PayHub's survives a reset: a table of someone else in the same database or schema.
        await raw(tx).execute("CREATE TABLE neighbour (id INTEGER PRIMARY KEY, note TEXT)")
        await raw(tx).execute("INSERT INTO neighbour (id, note) VALUES (1, 'keep me')")
    assert paid.status is PaymentStatus.CONFIRMED

    dropped = await sql_store.reset()

    assert set(dropped) >= {name for _, name in created_objects(sql_store.dialect)} | {"schema_migrations"}
    assert "payment_watchers" in dropped and "neighbour" not in dropped
    for table in ("premiums", "payments", "payment_events", "webhook_receipts", "payment_watchers"):
        assert await count(sql_store, table) == 0, table
    async with sql_store.transaction() as tx:
        row = await raw(tx).fetchrow("SELECT note FROM neighbour WHERE id = 1")
    assert row is not None and row["note"] == "keep me"
    assert await sql_store.migrate() == []  # migrated again by the reset
    again = await new_payment(sql_store, premium())
    assert again.id == PAYMENT_ID_FLOOR  # as on a first start: the README's tour reads this id


async def test_reset_then_seed_restores_the_demo_premiums_due(sql_store: SqlStore) -> None:
    service = PremiumService(sql_store)
    await service.seed_demo()
    demo = DEMO_PREMIUMS[0]
    async with sql_store.transaction() as tx:
        await tx.mark_premium_paid(demo.id, PAYMENT_ID_FLOOR, NOW)
    assert (await service.get(demo.id)).paid  # type: ignore[union-attr]
    await sql_store.reset()
    await service.seed_demo()
    for p in DEMO_PREMIUMS:
        restored = await service.get(p.id)
        assert restored is not None and restored.status == "DUE" and restored.amount == p.amount


async def test_restoring_the_demo_is_refused_in_production_and_touches_nothing(tmp_path: Path) -> None:
    settings = production(tmp_path)
    async with open_store(settings.database_url) as store:
        await new_payment(store, premium())
    with pytest.raises(ConfigError, match="sandbox mode only"):
        await restore_demo(settings)
    async with open_store(settings.database_url) as store:
        assert await count(store, "payments") == 1
    assert production(tmp_path).support_contact == ""  # no sandbox value in production: errors name none
