"""Redis premium cache, shared by every gateway process. Same interface as MemoryCache."""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from hub.constants import CACHE_PREFIX

log = logging.getLogger("payhub.cache")


class RedisCache:
    """A cache that never fails a request: when Redis is away it behaves as a miss."""

    def __init__(self, url: str, *, prefix: str = CACHE_PREFIX) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except RedisError as exc:
            log.warning("Redis cache unavailable: miss", extra={"error": repr(exc)})
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))
        except RedisError as exc:
            log.warning("Redis cache unavailable", extra={"error": repr(exc)})

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except RedisError as exc:
            log.warning("Redis cache unavailable", extra={"error": repr(exc)})

    async def aclose(self) -> None:
        await self._redis.aclose()
