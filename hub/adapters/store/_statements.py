"""The statements every SQL unit of work runs on: its connection and the dialect's lock suffix."""

from __future__ import annotations

from collections.abc import Callable

from hub.adapters.store._conn import Conn


class Statements:
    """State shared by the statement groups a ``Tx`` is made of."""

    def __init__(self, conn: Conn, *, lock: bool, notify: bool = False) -> None:
        self._c = conn
        self._for_update = " FOR UPDATE" if lock else ""
        self._notify = notify  # PostgreSQL: wake outbox relays when this transaction commits
        self.committed_callbacks: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after this transaction commits (alerts about what it wrote)."""
        self.committed_callbacks.append(callback)
