"""SQLite's writer when another process holds the database's write lock: the wait for it runs on a thread
(hub/adapters/store/sqlite.py ``_begin``). A request cancelled during that wait (a client that hangs up)
must leave the one writer connection usable: no transaction the waiting thread began is left open once
the cancelled unit of work has given the connection back.

anyio's cancel scopes (Starlette, uvicorn) deliver a cancellation again and again until the task leaves
the scope, so the wait must survive a second cancellation too.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from hub.adapters.store.sqlite import SqliteDialect


async def _writer(path: Path) -> SqliteDialect:
    dialect = SqliteDialect(str(path), busy_timeout_ms=3000)
    await dialect.connect()
    async with dialect.transaction() as conn:
        await conn.execute("CREATE TABLE t (v INTEGER)")
    return dialect


@pytest.mark.parametrize("cancellations", [1, 3])
async def test_cancelled_wait_for_another_process_lock_leaves_the_writer_usable(
    tmp_path: Path, cancellations: int
) -> None:
    path = tmp_path / "payhub.db"
    dialect = await _writer(path)
    other = sqlite3.connect(path, isolation_level=None)  # "another payhub process"
    try:
        other.execute("BEGIN IMMEDIATE")
        entered = asyncio.Event()

        async def request() -> None:
            async with dialect.transaction() as conn:
                entered.set()
                await conn.execute("INSERT INTO t VALUES (1)")

        task = asyncio.create_task(request())
        await asyncio.sleep(0.2)  # the writer now waits for the lock on its thread
        assert not entered.is_set()
        for _ in range(cancellations):
            task.cancel()
            await asyncio.sleep(0.05)
        other.execute("COMMIT")  # the other process lets go: the waiting thread's BEGIN now succeeds
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not entered.is_set()
        await asyncio.sleep(0.2)  # whatever the thread still does is done

        async with dialect.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")
        async with dialect.transaction() as conn:
            rows = await conn.fetch("SELECT v FROM t")
        assert [r[0] for r in rows] == [2]
    finally:
        other.close()
        await dialect.close()


async def test_body_raising_midway_rolls_back_and_the_writer_stays_usable(tmp_path: Path) -> None:
    dialect = await _writer(tmp_path / "payhub.db")
    try:
        with pytest.raises(RuntimeError):
            async with dialect.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("fraud rule failed")
        async with dialect.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")
            rows = await conn.fetch("SELECT v FROM t")
        assert [r[0] for r in rows] == [2]
    finally:
        await dialect.close()


async def test_two_processes_writing_one_file_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two writers on one file (as two ``payhub`` processes), each with many concurrent units of work that
    await in the middle: every one commits whole, none is lost or half-written."""
    path = tmp_path / "payhub.db"
    first = await _writer(path)
    second = SqliteDialect(str(path), busy_timeout_ms=5000)
    await second.connect()

    async def write(dialect: SqliteDialect, v: int) -> None:
        async with dialect.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES ($1)", v)
            await asyncio.sleep(0.001)  # the other writer's BEGIN waits on its thread meanwhile
            await conn.execute("INSERT INTO t VALUES ($1)", -v)

    try:
        await asyncio.gather(*(write(first if v % 2 else second, v) for v in range(1, 61)))
        async with first.transaction() as conn:
            rows = await conn.fetch("SELECT v FROM t")
        assert sorted(r[0] for r in rows) == sorted([*range(1, 61), *range(-60, 0)])
    finally:
        await second.close()
        await first.close()


_KILLED_MID_TRANSACTION = """
import asyncio, os, signal, sys
from hub.adapters.store.sqlite import SqliteDialect

async def main() -> None:
    dialect = SqliteDialect(sys.argv[1])
    await dialect.connect()
    async with dialect.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1)")
        await conn.execute("INSERT INTO t VALUES (-1)")
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between the statements and the commit

asyncio.run(main())
"""


async def test_a_process_killed_mid_transaction_leaves_nothing_half_written(tmp_path: Path) -> None:
    path = tmp_path / "payhub.db"
    dialect = await _writer(path)
    await dialect.close()
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", _KILLED_MID_TRANSACTION, str(path))
    assert await child.wait() == -signal.SIGKILL
    dialect = await _writer_again(path)
    try:
        async with dialect.transaction() as conn:
            assert await conn.fetch("SELECT v FROM t") == []
            await conn.execute("INSERT INTO t VALUES (2)")
        async with dialect.transaction() as conn:
            assert [r[0] for r in await conn.fetch("SELECT v FROM t")] == [2]
    finally:
        await dialect.close()


async def _writer_again(path: Path) -> SqliteDialect:
    dialect = SqliteDialect(str(path), busy_timeout_ms=3000)
    await dialect.connect()
    return dialect


async def test_a_request_cancelled_mid_transaction_rolls_back_whole(tmp_path: Path) -> None:
    dialect = await _writer(tmp_path / "payhub.db")
    written = asyncio.Event()

    async def request() -> None:
        async with dialect.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (1)")
            written.set()
            await asyncio.sleep(10)  # the client hangs up here
            await conn.execute("INSERT INTO t VALUES (-1)")

    try:
        task = asyncio.create_task(request())
        await written.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with dialect.transaction() as conn:
            assert await conn.fetch("SELECT v FROM t") == []
    finally:
        await dialect.close()


class _BusyOnce:
    """A writer connection whose first ``BEGIN IMMEDIATE`` meets another process's lock with an extended
    busy code (as ``sqlite3`` reports them: SQLITE_BUSY_RECOVERY while that process recovers the WAL of a
    crashed one), then gets it."""

    def __init__(self, code: int) -> None:
        self.code = code
        self.in_transaction = False
        self.begun = 0

    def execute(self, sql: str) -> None:
        if sql == "BEGIN IMMEDIATE":
            self.begun += 1
            if self.begun == 1:
                exc = sqlite3.OperationalError("database is locked")
                exc.sqlite_errorcode = self.code  # type: ignore[attr-defined]
                raise exc
            self.in_transaction = True


@pytest.mark.parametrize(
    "code", [261, 517, 773, 262], ids=["busy_recovery", "busy_snapshot", "busy_timeout", "locked_sharedcache"]
)
async def test_an_extended_busy_code_is_waited_for_like_plain_busy(tmp_path: Path, code: int) -> None:
    dialect = SqliteDialect(str(tmp_path / "payhub.db"))
    db = _BusyOnce(code)
    await dialect._begin(db)  # type: ignore[arg-type]
    assert db.begun == 2 and db.in_transaction
