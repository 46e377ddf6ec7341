"""SQLite dialect: the embedded default.

One writing connection guarded by an asyncio lock: transactions run one at a time, which is what SQLite
does anyway, and no statement of one task can slip into another task's transaction.

The writer's statements run on the event loop's thread (the standard library's ``sqlite3``), not through
aiosqlite's thread per statement: profiles of the webhook path (docs/perf/webhooks.md) showed the hand-off
to that thread and back (a queue, a future, a loop wake-up: some 30 per webhook) costing more than the
statements, which take microseconds on a local file in WAL mode with ``synchronous=NORMAL``. Only waiting
can take long, and nothing waits on the loop: ``BEGIN IMMEDIATE`` is tried without a busy timeout, and
when another process holds the write lock it is waited for on a thread (``busy_timeout``); once the lock
is held, no statement of the transaction waits for anyone (WAL: readers never block the writer). Long
reads (analytics) keep their own read-only connection on aiosqlite's thread (``read``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
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


class _WriterConn:
    """The writing connection inside one transaction: each statement runs at once, on the loop's thread."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, *args: Any) -> None:
        self._run(sql, args)

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        return cast(list[Row], self._run(sql, args).fetchall())

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return cast(Row | None, self._run(sql, args).fetchone())

    def _run(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._db.execute(_placeholders(sql), [_value(a) for a in args])
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            raise


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

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: aiosqlite.Connection | None = None  # read(): opened on first use
        self._reader_uri = "" if path == ":memory:" else Path(path).resolve().as_uri() + "?mode=ro"
        self._read_lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # Opening may wait for a lock (journal mode is switched under one): on a thread, off the loop.
        self._db = await asyncio.to_thread(self._open_writer)

    def _open_writer(self) -> sqlite3.Connection:
        # check_same_thread=False: BEGIN may wait on a thread (below); the asyncio lock keeps one user at a time.
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=0")  # the loop never waits: see _begin
        except BaseException:
            db.close()
            raise
        return db

    async def _begin(self, db: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE`` (the write lock): at once when no other process holds it, else waited for
        on a thread for up to ``busy_timeout_ms``."""
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            # sqlite3 reports extended codes (SQLITE_BUSY_RECOVERY while another process recovers the WAL
            # of a crashed one, …): their low byte is the primary code.
            if db.in_transaction or exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise

        def wait() -> None:
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            try:
                db.execute("BEGIN IMMEDIATE")
            finally:
                db.execute("PRAGMA busy_timeout=0")

        waiting = asyncio.ensure_future(asyncio.to_thread(wait))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread cannot be stopped: keep the lock until it is done, and undo a BEGIN it made.
            # anyio's cancel scopes (Starlette) cancel again on every await until the task leaves the
            # scope: wait through those too, or the lock is given back while the thread may still BEGIN
            # and leave the one writer connection inside a transaction for good.
            while not waiting.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait((waiting,))
            if not waiting.cancelled():
                waiting.exception()  # retrieved: its failure is moot once the request is cancelled
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def transaction(self) -> _WriteTransaction:
        """One write transaction at a time on the writer connection (``BEGIN IMMEDIATE`` … ``COMMIT``,
        rolled back when the block raises): ``ServiceUnavailable`` when the database is not open or its
        write lock cannot be had."""
        return _WriteTransaction(self)

    @staticmethod
    def _commit(db: sqlite3.Connection) -> None:
        try:
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_SqliteConn | _WriterConn]:
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
            async with self._lock:  # after the transaction under way, if any
                self._db.close()
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


class _WriteTransaction:
    """``SqliteDialect.transaction()`` as a class rather than an ``@asynccontextmanager`` generator (each
    generator was an async generator set up and registered with the loop, plus ``contextlib``'s wrapping,
    about ten times per webhook: docs/perf/webhooks.md). The store's lock is held from ``__aenter__`` to the
    end of ``__aexit__``: one transaction at a time on the one writer connection."""

    __slots__ = ("_db", "_store")

    def __init__(self, store: SqliteDialect) -> None:
        self._store = store

    async def __aenter__(self) -> _WriterConn:
        store = self._store
        if store._db is None:
            raise ServiceUnavailable("database is not open")
        await store._lock.acquire()
        try:
            db = store._db
            if db is None:  # closed while this waited for the lock (close() takes it too)
                raise ServiceUnavailable("database is not open")
            try:
                await store._begin(db)
            except sqlite3.OperationalError as exc:
                raise ServiceUnavailable("database unavailable", details=str(exc)) from exc
        except BaseException:
            store._lock.release()
            raise
        self._db = db
        return _WriterConn(db)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        db = self._db
        try:
            if kind is None:
                self._store._commit(db)
            elif db.in_transaction:
                db.execute("ROLLBACK")
        finally:
            self._store._lock.release()
