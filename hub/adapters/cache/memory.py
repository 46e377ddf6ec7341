"""The in-process cache: the embedded default, and the L1 cache for premium data in front of Redis.

Contract shared with every cache adapter: values are opaque ``bytes`` stored under ``str`` keys with a
time to live; an expired entry is never returned; a miss is ``None``; ``set`` overwrites; ``delete`` of a
missing key is a no-op. This one also bounds its size: when a ``set`` would exceed ``max_entries``, the
least recently used entry (read or written) is evicted. It is meant for one event loop (no awaits inside,
so no locks) and reads time only from the injected ``clock``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from hub.errors import ConfigError


class MemoryCache:
    """A TTL + LRU cache of bytes in a dict; an async context manager that empties itself on exit."""

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ConfigError("cache max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        # key -> (expires at, value), least recently used first.
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def __aenter__(self) -> MemoryCache:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        """The value under ``key`` if it has not expired, else ``None``; a hit marks it recently used."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds; ``ttl_s <= 0`` just removes the key."""
        if ttl_s <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        """Drop every entry. The cache stays usable (empty) afterwards."""
        self._entries.clear()
