"""The in-memory ``payment_watchers`` table (``memory.py``), mirroring ``watchers.py`` (no foreign key, as
nowhere in the in-memory store)."""

from __future__ import annotations

from datetime import datetime


class MemoryWatcherRows:
    """``hub.ports.WatcherRows`` over the in-memory store's dict ``(payment id, subject) -> created_at``."""

    def __init__(self, rows: dict[tuple[int, str], datetime]) -> None:
        self._rows = rows

    async def add(self, payment_id: int, subject: str, now: datetime) -> bool:
        if (payment_id, subject) in self._rows:
            return False
        self._rows[(payment_id, subject)] = now
        return True

    async def watches(self, payment_id: int, subject: str) -> bool:
        return (payment_id, subject) in self._rows
