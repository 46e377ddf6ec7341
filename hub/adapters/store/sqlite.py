"""SQLite dialect (aiosqlite): the embedded default.

One connection guarded by an asyncio lock: transactions run one at a time, which is what SQLite
does anyway, and no statement of one task can slip into another task's transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import aiosqlite

from hub.adapters.store._conn import Row, UniqueViolation
from hub.adapters.store.migrations import apply_pending
from hub.errors import ServiceUnavailable


def _placeholders(sql: str) -> str:
    # $1 -> ?1: SQLite understands numbered parameters, so one SQL text serves both dialects.
    return sql.replace("$", "?")


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        # Fixed width, UTC: text comparison then orders like time.
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if isinstance(v, date):
        return v.isoformat()
    return v


class _SqliteConn:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, *args: Any) -> None:
        await self._run(sql, args)

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        cur = await self._run(sql, args)
        return [cast(Row, r) for r in await cur.fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        cur = await self._run(sql, args)
        return cast(Row | None, await cur.fetchone())

    async def _run(self, sql: str, args: tuple[Any, ...]) -> aiosqlite.Cursor:
        try:
            return await self._db.execute(_placeholders(sql), [_value(a) for a in args])
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            raise


class SqliteDialect:
    name = "sqlite"
    locks_rows = False

    def __init__(self, path: str) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: aiosqlite.Connection | None = None  # read(): opened on first use
        self._reader_uri = "" if path == ":memory:" else Path(path).resolve().as_uri() + "?mode=ro"
        self._read_lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self._path, isolation_level=None)
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("PRAGMA synchronous=NORMAL")
        self._db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteConn]:
        if self._db is None:
            raise ServiceUnavailable("database is not open")
        async with self._lock:
            db = self._db
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise ServiceUnavailable("database unavailable", details=str(exc)) from exc
            try:
                yield _SqliteConn(db)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_SqliteConn]:
        """A read-only unit of work on a second, read-only connection: in WAL mode it reads one snapshot
        while the writer goes on committing, so a long read (analytics over a year) never holds up a
        webhook. An in-memory database has one connection only: its reads take the write lock."""
        if not self._reader_uri:
            async with self.transaction() as conn:
                yield conn
            return
        async with self._read_lock:
            if self._db is None:  # checked under the lock: close() takes it too, so no reader outlives it
                raise ServiceUnavailable("database is not open")
            if self._reader is None:
                self._reader = reader = await aiosqlite.connect(self._reader_uri, uri=True, isolation_level=None)
                reader.row_factory = sqlite3.Row
                await reader.execute("PRAGMA busy_timeout=5000")
            db = self._reader
            try:
                await db.execute("BEGIN")  # deferred: the snapshot is taken by the first read
            except sqlite3.OperationalError as exc:
                raise ServiceUnavailable("database unavailable", details=str(exc)) from exc
            try:
                yield _SqliteConn(db)
            finally:
                await db.execute("ROLLBACK")

    async def migrate(self) -> list[str]:
        async with self.transaction() as conn:
            return await apply_pending(conn, "sqlite", _statements, datetime.now(UTC))

    async def ping(self) -> None:
        async with self.transaction() as conn:
            await conn.fetchrow("SELECT 1")

    async def close(self) -> None:
        async with self._read_lock:  # after the read under way, if any
            if self._reader is not None:
                await self._reader.close()
                self._reader = None
        if self._db is not None:
            await self._db.close()
            self._db = None


def _statements(script: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
