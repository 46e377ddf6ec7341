"""PostgreSQL dialect (asyncpg pool): production.

``postgresql://…?schema=NAME`` puts every table in schema NAME (tests use one per run).
Connection failures become ``ServiceUnavailable`` (503, retriable): AMK retries, nothing half-written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from hub.adapters.store._conn import Row, UniqueViolation
from hub.adapters.store.migrations import apply_pending
from hub.errors import ServiceUnavailable

_MIGRATION_LOCK = 0x5041_5948  # "PAYH": one migrator at a time across processes

_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    TimeoutError,
)


def split_schema(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


class _PgConn:
    def __init__(self, con: Any) -> None:  # a Connection or the pool's proxy of one
        self._con = con

    async def execute(self, sql: str, *args: Any) -> None:
        try:
            await self._con.execute(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        return [cast(Row, r) for r in await self._con.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            row = cast(Row | None, await self._con.fetchrow(sql, *args))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        return row


class PostgresDialect:
    name = "postgres"
    locks_rows = True

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 20) -> None:
        self._dsn, self.schema = split_schema(url)
        self._min, self._max = min_size, max_size
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        settings = {"search_path": self.schema} if self.schema else {}
        try:
            if self.schema:
                con = await asyncpg.connect(self._dsn, timeout=5)
                try:
                    await con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                finally:
                    await con.close()
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min,
                max_size=self._max,
                server_settings=settings,
                timeout=5,
                command_timeout=30,
            )
        except _UNAVAILABLE as exc:
            raise ServiceUnavailable("database unreachable", details=str(exc)) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        if self._pool is None:
            raise ServiceUnavailable("database is not open")
        try:
            async with self._pool.acquire(timeout=5) as con, con.transaction():
                yield _PgConn(con)
        except _UNAVAILABLE as exc:
            raise ServiceUnavailable("database unavailable", details=str(exc)) from exc
        except asyncpg.TransactionRollbackError as exc:
            # A deadlock or serialization failure rolled everything back: safe to try again (AMK retries a 503).
            raise ServiceUnavailable("database conflict; try again", details=str(exc)) from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_PgConn]:
        """A read-only unit of work whose statements all see one snapshot (REPEATABLE READ)."""
        if self._pool is None:
            raise ServiceUnavailable("database is not open")
        try:
            async with (
                self._pool.acquire(timeout=5) as con,
                con.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield _PgConn(con)
        except _UNAVAILABLE as exc:
            raise ServiceUnavailable("database unavailable", details=str(exc)) from exc

    async def migrate(self) -> list[str]:
        async with self.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            # asyncpg sends the whole script at once; the ledger's column is text.
            return await apply_pending(conn, "postgres", lambda sql: [sql], datetime.now(UTC).isoformat())

    async def ping(self) -> None:
        async with self.transaction() as conn:
            await conn.fetchrow("SELECT 1")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
