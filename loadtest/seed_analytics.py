"""Benchmark: the analytics query (``GET /admin/analytics``) on a million payments, SQLite and PostgreSQL.

Seeds N payment attempts (default 1,000,000) spread over D days (default 365) before now into a fresh
database: SQLite with ``executemany`` in one transaction, PostgreSQL with ``COPY`` (asyncpg's binary
``copy_records_to_table``). The data look like a year of PayHub traffic: most payments during Phnom Penh
business hours, 85 % CONFIRMED, 4 % FAILED, 10 % EXPIRED, the attempts of the last half hour open, two
thirds KHQR, one fifth in KHR. Then it times ``Store.payment_figures`` (the endpoint's query, nothing
else) for windows ending now, prints each query plan (``EXPLAIN QUERY PLAN`` / ``EXPLAIN (ANALYZE,
BUFFERS)``), and the same query with the analytics index dropped inside a rolled-back transaction.

    .venv/bin/python loadtest/seed_analytics.py                       # both databases, 1M rows each
    .venv/bin/python loadtest/seed_analytics.py --only sqlite --rows 100000
    .venv/bin/python loadtest/seed_analytics.py --postgres-url 'postgresql://127.0.0.1:5432/test'

The SQLite file (``var/analytics-bench.db``) and the PostgreSQL schema (``analytics_bench``) are replaced
on each run; ``--keep`` leaves them for a look.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from hub.adapters.store.analytics import ENDED_SQL, OPEN_SQL
from hub.adapters.store.sql import SqlStore
from hub.adapters.store.sqlite import _value as sqlite_value  # the one text form of SQLite's stamps
from payhub.backends import open_store

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 50_000
PG_SCHEMA = "analytics_bench"
WINDOWS = (("1 hour", timedelta(hours=1)), ("24 hours", timedelta(days=1)), ("7 days", timedelta(days=7)))
WIDE = (("30 days", timedelta(days=30)), ("366 days", timedelta(days=366)))
OPEN_FOR = timedelta(minutes=30)  # attempts younger than this are still open (a QR lives 30 minutes)
COLUMNS = (
    "premium_id",
    "policy_number",
    "method",
    "status",
    "amount",
    "currency",
    "transaction_id",
    "created_at",
    "updated_at",
)
# Relative weight of each Phnom Penh hour of the day (busy 09:00-17:00, quiet at night).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 12, 14, 13, 10, 11, 14, 13, 11, 9, 7, 6, 5, 3, 2, 1]


@dataclass(frozen=True)
class Row:
    premium_id: int
    policy_number: str
    method: str | None
    status: str
    amount: Decimal
    currency: str
    transaction_id: str | None
    created_at: datetime
    updated_at: datetime

    def values(self) -> tuple[Any, ...]:
        return (
            self.premium_id,
            self.policy_number,
            self.method,
            self.status,
            self.amount,
            self.currency,
            self.transaction_id,
            self.created_at,
            self.updated_at,
        )


def _created_times(rnd: random.Random, n: int, days: int, now: datetime) -> list[datetime]:
    """``n`` creation moments over ``days`` days before ``now``, oldest first (rows are written in the
    order payments happen, as in production), most of them in Phnom Penh business hours."""
    hours = list(range(24))
    span_days = max(days, 1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)  # UTC midnight
    moments = []
    for _ in range(n):
        # a day, then a Phnom Penh hour by weight (UTC = local - 7 h), then a moment within that hour
        hour = rnd.choices(hours, HOUR_WEIGHTS)[0]
        moment = today - timedelta(days=rnd.randrange(span_days), hours=7 - hour, seconds=-rnd.random() * 3600)
        moments.append(moment if moment <= now else now - timedelta(seconds=rnd.random() * 86400))
    moments.sort()
    return moments


def generate(n: int, days: int, now: datetime, seed: int) -> Iterator[list[Row]]:
    """``n`` attempts in chunks, oldest first; deterministic for a seed."""
    rnd = random.Random(seed)
    created_times = _created_times(rnd, n, days, now)
    for start in range(0, n, CHUNK):
        chunk: list[Row] = []
        for i in range(start, min(n, start + CHUNK)):
            created = created_times[i]
            method = "KHQR" if rnd.random() < 0.65 else "BILL"
            currency = "KHR" if rnd.random() < 0.2 else "USD"
            amount = (
                Decimal(rnd.randrange(40_000, 20_000_000, 100))
                if currency == "KHR"
                else Decimal(rnd.randrange(1_000, 500_000)).scaleb(-2)
            )
            if now - created < OPEN_FOR:
                status = "PENDING" if rnd.random() < 0.8 else "PROCESSING"
                ended = created
            else:
                roll = rnd.random()
                status = "CONFIRMED" if roll < 0.86 else "FAILED" if roll < 0.90 else "EXPIRED"
                # the payer's time plus the bank's: seconds to minutes; an expiry is the QR's 30 minutes
                seconds = 1800.0 if status == "EXPIRED" else min(1790.0, math.exp(rnd.gauss(3.0, 1.2)))
                ended = created + timedelta(seconds=seconds)
            chunk.append(
                Row(
                    premium_id=i + 1,  # one premium per attempt: the one-PENDING-per-premium rule holds
                    policy_number=f"B{i:09d}",
                    method=method,
                    status=status,
                    amount=amount,
                    currency=currency,
                    transaction_id=f"BENCH{i:012d}" if status == "CONFIRMED" else None,
                    created_at=created,
                    updated_at=ended,
                )
            )
        yield chunk


# --- seeding ------------------------------------------------------------------------------------


def seed_sqlite(path: Path, rows: int, days: int, now: datetime, seed: int) -> float:
    """executemany in one transaction; returns the seconds it took."""
    began = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN")
        marks = ",".join("?" * len(COLUMNS))
        sql = f"INSERT INTO payments ({', '.join(COLUMNS)}, review_reason) VALUES ({marks}, NULL)"
        for chunk in generate(rows, days, now, seed):
            db.executemany(sql, [tuple(sqlite_value(v) for v in r.values()) for r in chunk])
        db.execute("COMMIT")
        db.execute("ANALYZE")
    finally:
        db.close()
    return time.perf_counter() - began


async def seed_postgres(url: str, rows: int, days: int, now: datetime, seed: int) -> float:
    """COPY (binary) in one transaction, then VACUUM ANALYZE; returns the seconds it took."""
    began = time.perf_counter()
    con = await asyncpg.connect(url.split("?")[0], server_settings={"search_path": PG_SCHEMA})
    try:
        async with con.transaction():
            for chunk in generate(rows, days, now, seed):
                await con.copy_records_to_table(
                    "payments", records=[r.values() for r in chunk], columns=list(COLUMNS), schema_name=PG_SCHEMA
                )
        await con.execute("VACUUM ANALYZE payments")
    finally:
        await con.close()
    return time.perf_counter() - began


# --- measuring ----------------------------------------------------------------------------------


async def time_query(store: SqlStore, start: datetime, end: datetime, repeat: int) -> tuple[float, float]:
    """Median and best milliseconds of ``payment_figures`` over ``repeat`` runs (after one warm-up)."""
    await store.payment_figures(start, end)
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await store.payment_figures(start, end)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), min(times)


async def explain(store: SqlStore, start: datetime, end: datetime) -> list[str]:
    """The plans of both statements for ``[start, end)``."""
    lines: list[str] = []
    dialect = store.dialect
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
    async with store._dialect.transaction() as conn:  # a benchmark reads the raw plan
        for sql in (ENDED_SQL[dialect], OPEN_SQL):
            rows = await conn.fetch(prefix + sql, start, end)
            lines.append(f"-- {sql[:60]}…")
            lines += [" ".join(str(v) for v in tuple(dict(r).values())[-1:]) for r in rows]
    return lines


async def without_index(store: SqlStore, start: datetime, end: datetime) -> float:
    """Milliseconds of the query with the analytics index dropped (in a transaction rolled back)."""

    class Rollback(Exception):
        pass

    elapsed = 0.0
    with contextlib.suppress(Rollback):
        async with store._dialect.transaction() as conn:
            await conn.execute("DROP INDEX payments_analytics")
            dialect = store.dialect
            began = time.perf_counter()
            await conn.fetch(ENDED_SQL[dialect], start, end)
            await conn.fetchrow(OPEN_SQL, start, end)
            elapsed = (time.perf_counter() - began) * 1000
            raise Rollback
    return elapsed


async def measure(store: SqlStore, now: datetime, repeat: int, show_plans: bool) -> list[dict[str, Any]]:
    results = []
    for label, width in (*WINDOWS, *WIDE):
        start, end = now - width, now
        runs = repeat if width <= timedelta(days=7) else max(3, repeat // 3)
        median, best = await time_query(store, start, end, runs)
        figures = await store.payment_figures(start, end)
        results.append(
            {
                "window": label,
                "median_ms": round(median, 1),
                "best_ms": round(best, 1),
                "ended": sum(figures.ended.values()),
                "active": figures.active,
            }
        )
        print(
            f"  {store.dialect:8} {label:>9}: median {median:9.1f} ms, best {best:9.1f} ms"
            f"  ({sum(figures.ended.values())} ended, {figures.active} open)",
            flush=True,
        )
    if show_plans:
        for label, width in (WINDOWS[1], WIDE[1]):
            print(f"  plan, {label}:")
            for line in await explain(store, now - width, now):
                print(f"    {line}")
    no_index = await without_index(store, now - timedelta(days=1), now)
    print(f"  {store.dialect:8} 24 hours without the analytics index: {no_index:.1f} ms", flush=True)
    return results


@contextlib.asynccontextmanager
async def fresh_postgres(base: str, keep: bool) -> AsyncIterator[str]:
    url = f"{base}?schema={PG_SCHEMA}"
    con = await asyncpg.connect(base)
    try:
        await con.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
    finally:
        await con.close()
    try:
        yield url
    finally:
        if not keep:
            con = await asyncpg.connect(base)
            try:
                await con.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
            finally:
                await con.close()


def remove_sqlite(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def bench_sqlite(args: argparse.Namespace, now: datetime) -> None:
    path = Path(args.sqlite_path)
    remove_sqlite(path)
    async with open_store(f"sqlite:///{path}"):  # creates the schema (every migration)
        pass
    took = seed_sqlite(path, args.rows, args.days, now, args.seed)
    print(f"sqlite: seeded {args.rows} payments in {took:.1f} s ({path})", flush=True)
    async with open_store(f"sqlite:///{path}") as store:
        await measure(store, now, args.repeat, args.plans)
    if not args.keep:
        remove_sqlite(path)


async def bench_postgres(args: argparse.Namespace, now: datetime) -> None:
    async with fresh_postgres(args.postgres_url, args.keep) as url, open_store(url) as store:
        took = await seed_postgres(url, args.rows, args.days, now, args.seed)
        print(f"postgres: seeded {args.rows} payments in {took:.1f} s (schema {PG_SCHEMA})", flush=True)
        await measure(store, now, args.repeat, args.plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per window (after a warm-up)")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--sqlite-path", default=str(ROOT / "var" / "analytics-bench.db"))
    parser.add_argument("--postgres-url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--no-plans", dest="plans", action="store_false")
    parser.add_argument("--keep", action="store_true", help="leave the seeded data for a look")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if args.only in (None, "sqlite"):
        asyncio.run(bench_sqlite(args, now))
    if args.only in (None, "postgres"):
        asyncio.run(bench_postgres(args, now))


if __name__ == "__main__":
    main()
