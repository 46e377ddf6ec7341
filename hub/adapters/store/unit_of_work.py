"""What every store does around its units of work, written once for the SQL and in-memory stores."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from hub.domain.records import Payment, PaymentEvent, Receipt
from hub.ports import StoreTx

log = logging.getLogger("payhub.store")


def run_after_commit(callbacks: Iterable[Callable[[], None]]) -> None:
    """Run a committed unit's callbacks in order; one that raises is logged and does not stop the others."""
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed")


class _OpensUnits(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[StoreTx]: ...


class ShortReads:
    """Convenience reads of a store, each its own short unit of work (mixed into ``hub.ports.Store``s)."""

    async def payment(self: _OpensUnits, payment_id: int) -> Payment | None:
        async with self.transaction() as tx:
            return await tx.payment(payment_id)

    async def events_after(self: _OpensUnits, payment_id: int, after_id: int, limit: int = 500) -> list[PaymentEvent]:
        async with self.transaction() as tx:
            return await tx.events_after(payment_id, after_id, limit=limit)

    async def receipt(self: _OpensUnits, key: str) -> Receipt | None:
        async with self.transaction() as tx:
            return await tx.receipt(key)
