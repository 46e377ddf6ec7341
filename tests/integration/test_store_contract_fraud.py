"""The store contract of the fraud rows (blocklist, paid amounts): the in-memory fake, SQLite and
PostgreSQL (the ``store`` fixture) give the same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hub.domain.blocklist import BlockKind
from hub.domain.money import Currency
from hub.errors import NotFound
from hub.fraud.blocklist import Blocklist, NewEntry
from hub.ports import Store
from tests.fraud_support import paid_history

NOW = datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=UTC)


async def test_add_read_and_list_blocklist_entries(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    async with store.transaction() as tx:
        a = await tx.fraud.add_block(BlockKind.POLICY, "P000000007", "stolen card", "ops-1", NOW)
        b = await tx.fraud.add_block(BlockKind.IP, "10.0.0.0/24", "botnet", "ops-2", NOW, later)
    assert b.id > a.id
    async with store.transaction() as tx:
        assert await tx.fraud.block(a.id) == a
        got = await tx.fraud.block(b.id)
        assert got is not None and (got.kind, got.value, got.reason, got.added_by) == (
            BlockKind.IP,
            "10.0.0.0/24",
            "botnet",
            "ops-2",
        )
        assert got.created_at == NOW and got.expires_at == later and got.removed_at is None
        assert [e.id for e in await tx.fraud.blocks(NOW)] == [b.id, a.id]  # newest first
        assert [e.id for e in await tx.fraud.blocks(NOW, limit=1)] == [b.id]
        assert await tx.fraud.block(b.id + 100) is None
        assert await tx.count("blocklist") == 2


async def test_expired_entries_are_inactive_at_read_time(store: Store) -> None:
    expires = NOW + timedelta(seconds=30)
    async with store.transaction() as tx:
        e = await tx.fraud.add_block(BlockKind.CUSTOMER, "alice", "disputes", "ops-1", NOW, expires)
        assert [x.id for x in await tx.fraud.blocks(expires - timedelta(microseconds=1))] == [e.id]
        assert await tx.fraud.blocks(expires) == []  # exclusive
        assert [x.id for x in await tx.fraud.blocks(expires, include_inactive=True)] == [e.id]


async def test_removal_is_stamped_once_and_kept(store: Store) -> None:
    async with store.transaction() as tx:
        e = await tx.fraud.add_block(BlockKind.DEVICE, "dev-1", "stolen phone", "ops-1", NOW)
    async with store.transaction() as tx:
        removed = await tx.fraud.remove_block(e.id, "ops-2", NOW + timedelta(minutes=1))
        assert removed is not None and removed.removed_by == "ops-2"
        assert removed.removed_at == NOW + timedelta(minutes=1)
        assert await tx.fraud.remove_block(e.id, "ops-3", NOW + timedelta(minutes=2)) is None
        assert await tx.fraud.remove_block(e.id + 1, "ops-3", NOW) is None
        assert await tx.fraud.blocks(NOW) == []
        assert await tx.fraud.blocks(NOW, include_inactive=True) == [removed]


async def test_a_rolled_back_add_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.fraud.add_block(BlockKind.POLICY, "P1", "x", "ops", NOW)
            raise RuntimeError
    async with store.transaction() as tx:
        assert await tx.count("blocklist") == 0


async def test_paid_amounts_of_a_policy(store: Store) -> None:
    await paid_history(store, "P000000007", ["10.00", "20.50", "30.00"])
    await paid_history(store, "P000000007", ["400000"], Currency.KHR, first_id=800)
    await paid_history(store, "P000000008", ["99.00"], first_id=900)
    async with store.transaction() as tx:
        assert await tx.fraud.paid_amounts("P000000007", Currency.USD, 10) == [
            Decimal("30.00"),
            Decimal("20.50"),
            Decimal("10.00"),
        ]
        assert await tx.fraud.paid_amounts("P000000007", Currency.USD, 2) == [Decimal("30.00"), Decimal("20.50")]
        assert await tx.fraud.paid_amounts("P000000007", Currency.KHR, 10) == [Decimal("400000")]
        assert await tx.fraud.paid_amounts("P000000009", Currency.USD, 10) == []


async def test_the_blocklist_service_over_each_store(store: Store) -> None:
    now = [NOW]
    blocklist = Blocklist(store, cache_s=0, clock=lambda: now[0])
    entry = await blocklist.add(NewEntry(BlockKind.IP, "10.0.0.0/24", "botnet", NOW + timedelta(days=1)), "ops-1")
    assert [e.id for e in await blocklist.matching([(BlockKind.IP, "10.0.0.77")])] == [entry.id]
    assert await blocklist.matching([(BlockKind.IP, "10.0.1.77")]) == []
    now[0] = NOW + timedelta(days=1)
    assert await blocklist.matching([(BlockKind.IP, "10.0.0.77")]) == []
    removed = await blocklist.remove(entry.id, "ops-2")
    assert removed.removed_by == "ops-2"
    with pytest.raises(NotFound):
        await blocklist.remove(entry.id, "ops-2")
