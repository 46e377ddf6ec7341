"""The one module that turns URLs into backends; drivers are imported only for the schemes chosen.

``sqlite:``/``postgresql:`` pick the store's dialect, a Redis URL picks the shared bus, cache and rate
limiter storage (none: the in-process ones).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from hub.adapters.store.sql import Dialect, SqlStore
from hub.constants import DATABASE_SCHEMES, url_scheme
from hub.errors import ConfigError
from hub.ports import Bus, Cache


def is_postgres(url: str) -> bool:
    return DATABASE_SCHEMES.get(url_scheme(url)) == "postgres"


class OpenableDialect(Dialect, Protocol):
    async def connect(self) -> None: ...


def store_dialect(url: str, *, pool_min: int = 2, pool_max: int = 20) -> OpenableDialect:
    """``sqlite:///path`` (``sqlite:///:memory:``) or ``postgresql://…[?schema=NAME]``; not connected."""
    dialect = DATABASE_SCHEMES.get(url_scheme(url))
    if dialect == "sqlite":
        from hub.adapters.store.sqlite import SqliteDialect

        return SqliteDialect(url.removeprefix("sqlite:///") or ":memory:")
    if dialect == "postgres":
        from hub.adapters.store.postgres import PostgresDialect

        return PostgresDialect(url, min_size=pool_min, max_size=pool_max)
    raise ConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


def fanout_bus(redis_url: str) -> Bus:
    """Redis pub/sub when a URL is set (several processes), else in-process."""
    if redis_url:
        from hub.adapters.bus.redis import RedisBus

        return RedisBus(redis_url)
    from hub.adapters.bus.memory import MemoryBus

    return MemoryBus()


def shared_cache(redis_url: str) -> Cache:
    if redis_url:
        from hub.adapters.cache.redis import RedisCache

        return RedisCache(redis_url)
    from hub.adapters.cache.memory import MemoryCache

    return MemoryCache()


def limiter_storage(redis_url: str) -> str:
    """The rate limiter's storage URI (the ``limits`` library's): shared in Redis, else in memory."""
    return redis_url or "memory://"


@asynccontextmanager
async def open_store(
    url: str, *, migrate: bool = True, pool_min: int = 2, pool_max: int = 20
) -> AsyncIterator[SqlStore]:
    """A connected store (migrated unless ``migrate=False``), closed on exit."""
    dialect = store_dialect(url, pool_min=pool_min, pool_max=pool_max)
    await dialect.connect()
    store = SqlStore(dialect)
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.aclose()
