"""Opens the store a URL names; the driver is imported only for the scheme chosen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from typing import TYPE_CHECKING

from hub.adapters.store.sql import SqlStore

if TYPE_CHECKING:
    from hub.adapters.store.postgres import PostgresDialect
    from hub.adapters.store.sqlite import SqliteDialect


@asynccontextmanager
async def open_store(url: str, *, migrate: bool = True, pool_min: int = 2, pool_max: int = 20
                     ) -> AsyncIterator[SqlStore]:
    """``sqlite:///path`` (``sqlite:///:memory:``) or ``postgresql://…[?schema=NAME]``."""
    if url.startswith("sqlite:"):
        from hub.adapters.store.sqlite import SqliteDialect

        dialect: SqliteDialect | PostgresDialect = SqliteDialect(url.removeprefix("sqlite:///") or ":memory:")
    elif url.startswith(("postgresql:", "postgres:")):
        from hub.adapters.store.postgres import PostgresDialect

        dialect = PostgresDialect(url, min_size=pool_min, max_size=pool_max)
    else:
        raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
    await dialect.connect()
    store = SqlStore(dialect)
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.aclose()
