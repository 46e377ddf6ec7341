"""The statements every SQL unit of work runs on: its connection and the dialect's lock suffix."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

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

    def savepoint(self) -> Savepoint:
        """``hub.ports.StoreTx.savepoint``: ``SAVEPOINT`` … ``RELEASE`` (``ROLLBACK TO`` first when the block
        raises), the same SQL in both dialects."""
        return Savepoint(self._c)


class Savepoint:
    """A part of a unit of work undone alone when it raises (a class, not a generator: see
    ``hub.adapters.store.sql._UnitOfWork``). On PostgreSQL a failed statement otherwise aborts the whole
    transaction: every later statement is refused until it ends."""

    __slots__ = ("_c",)

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    async def __aenter__(self) -> None:
        await self._c.execute("SAVEPOINT payhub_part")

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            await self._c.execute("ROLLBACK TO SAVEPOINT payhub_part")
        await self._c.execute("RELEASE SAVEPOINT payhub_part")
