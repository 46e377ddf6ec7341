"""``Store.payment_figures`` on SQLite and PostgreSQL: a long read holds up no writer, reads one snapshot,
and uses the analytics index."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

import hub.adapters.store.sql as sql_module
from hub.adapters.store._conn import Conn
from hub.adapters.store.analytics import ENDED_SQL, OPEN_SQL
from hub.adapters.store.sql import SqlStore
from hub.domain.analytics import PaymentFigures
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from tests.integration.analytics_data import add_attempt

T0 = datetime(2026, 11, 1, 3, tzinfo=UTC)
DAY = (T0 - timedelta(hours=3), T0 + timedelta(hours=21))


async def test_a_long_analytics_read_holds_up_no_writer_and_sees_one_snapshot(
    sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_attempt(sql_store, PaymentStatus.CONFIRMED, PaymentMethod.KHQR, "10.00", Currency.USD, T0, T0)
    reading, release = asyncio.Event(), asyncio.Event()
    real = sql_module.read_figures
    seen: list[PaymentFigures] = []

    async def slow(conn: Conn, dialect: str, start: datetime, end: datetime) -> PaymentFigures:
        seen.append(await real(conn, dialect, start, end))
        reading.set()
        await release.wait()  # the read stays open ...
        return await real(conn, dialect, start, end)  # ... and reads again inside the same unit

    monkeypatch.setattr(sql_module, "read_figures", slow)
    task = asyncio.create_task(sql_store.payment_figures(*DAY))
    await reading.wait()
    async with asyncio.timeout(5):  # a webhook's transaction commits meanwhile
        await add_attempt(sql_store, PaymentStatus.CONFIRMED, PaymentMethod.BILL, "5.00", Currency.USD, T0, T0)
    release.set()
    during = await task
    assert during == seen[0]  # one snapshot: the write committed mid-read is not half in it
    assert during.volume == {"USD": 10}
    monkeypatch.undo()
    assert (await sql_store.payment_figures(*DAY)).volume == {"USD": 15}


async def test_both_statements_use_the_analytics_index(sql_store: SqlStore) -> None:
    """The plans name ``payments_analytics`` (on an empty table PostgreSQL would rather scan: told not to)."""
    dialect = sql_store.dialect
    async with sql_store._dialect.transaction() as conn:  # the raw plan, for this test only
        for sql in (ENDED_SQL[dialect], OPEN_SQL):
            if dialect == "sqlite":
                plan = " ".join(str(r["detail"]) for r in await conn.fetch("EXPLAIN QUERY PLAN " + sql, *DAY))
            else:
                await conn.execute("SET LOCAL enable_seqscan = off")
                plan = " ".join(str(r[0]) for r in await conn.fetch("EXPLAIN " + sql, *DAY))
            assert "payments_analytics" in plan, plan
