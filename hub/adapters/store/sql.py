"""The SQL store shared by both dialects: ``SqlStore`` implements ``hub.ports.Store``.

All writes happen inside ``SqlStore.transaction()``; a dialect provides the connection and the
value conversions (SQLite keeps decimals and times as text, PostgreSQL as NUMERIC/TIMESTAMPTZ).
The statements live by subject: ``payments.py`` (premiums, payments, the event log),
``receipts.py`` (webhook receipts, reviews, inquiries), ``sessions.py`` (KHQR sessions),
``outbox.py`` (the relay's view of the event log), ``reconciliation.py`` (reconciliation runs),
``notifications.py`` (the notifier's tables) and ``backoffice.py`` (the review workflow, look-ups,
AMK's answers); ``rows.py`` decodes rows into records.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from hub.adapters.store._conn import Conn, UniqueViolation
from hub.adapters.store.analytics import read_figures
from hub.adapters.store.backoffice import SqlAmkAnswerRows, SqlLookupRows, SqlReviewRows
from hub.adapters.store.fraud_rows import SqlFraudRows
from hub.adapters.store.migrations import drop_all
from hub.adapters.store.notifications import NotificationRows
from hub.adapters.store.outbox import OutboxRows
from hub.adapters.store.payments import PaymentStatements
from hub.adapters.store.receipts import ReceiptStatements
from hub.adapters.store.reconciliation import SqlReconciliationRows
from hub.adapters.store.rows import EVENT_COLS, as_datetime, event_from_row
from hub.adapters.store.sessions import SessionRows
from hub.adapters.store.unit_of_work import ShortReads, run_after_commit
from hub.adapters.store.watchers import SqlWatcherRows
from hub.constants import OUTBOX_CHANNEL
from hub.domain.analytics import PaymentFigures
from hub.ports import Store, StoreTx


class Dialect(Protocol):
    name: str
    locks_rows: bool

    def transaction(self) -> AbstractAsyncContextManager[Conn]: ...

    def read(self) -> AbstractAsyncContextManager[Conn]:
        """A read-only unit of work that does not hold up writers (analytics)."""
        ...

    async def migrate(self) -> list[str]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class SqlStore(ShortReads):
    """The store port over SQL. Create with ``open_store(url)``; close with ``aclose()``."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    @property
    def dialect(self) -> str:
        return self._dialect.name

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied. Safe to run concurrently."""
        return await self._dialect.migrate()

    async def ping(self) -> None:
        await self._dialect.ping()

    async def reset(self) -> list[str]:
        """Drop every table (with its rows, indexes, sequences and triggers) and function PayHub's migrations
        created, in one transaction, then migrate again: the database is as on a first start (payment ids
        from ``PAYMENT_ID_FLOOR`` again). Returns the names dropped. For the sandbox demo reset only
        (``payhub reset``, ``payhub run --fresh-demo``): callers refuse it in production mode."""
        async with self._dialect.transaction() as conn:
            dropped = await drop_all(conn, self._dialect.name)
        await self.migrate()
        return dropped

    async def aclose(self) -> None:
        await self._dialect.close()

    async def payment_figures(self, start: datetime, end: datetime) -> PaymentFigures:
        """``hub.ports.Store.payment_figures`` in SQL (``analytics.py``), in a read-only unit of work that
        does not hold up writers (``Dialect.read``)."""
        async with self._dialect.read() as conn:
            return await read_figures(conn, self._dialect.name, start, end)

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """One atomic unit of work: everything done on the Tx commits together or not at all.

        Callbacks registered with ``Tx.after_commit`` run, in order, once the commit succeeded
        (never after a rollback); one that raises is logged and does not stop the others.
        """
        return _UnitOfWork(self._dialect)


class _UnitOfWork:
    """``SqlStore.transaction()``: the dialect's transaction, its connection as a :class:`Tx`, the
    after-commit callbacks once it committed. Written as a class rather than an ``@asynccontextmanager``
    generator: a webhook opens about ten units of work, and each generator cost an async generator set up
    and registered with the loop, plus ``contextlib``'s wrapping (profiled in docs/perf/webhooks.md)."""

    __slots__ = ("_dialect", "_inner", "_tx")

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    async def __aenter__(self) -> Tx:
        self._inner = inner = self._dialect.transaction()
        conn = await inner.__aenter__()
        try:
            self._tx = Tx(conn, lock=self._dialect.locks_rows, notify=self._dialect.name == "postgres")
        except BaseException as exc:
            await inner.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self._tx

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        suppressed = bool(await self._inner.__aexit__(kind, exc, tb))
        if kind is None or suppressed:
            run_after_commit(self._tx.committed_callbacks)
        return suppressed


class Tx(PaymentStatements, ReceiptStatements):
    """``hub.ports.StoreTx`` over one SQL connection. Every method is one or two SQL statements."""

    @cached_property
    def khqr_sessions(self) -> SessionRows:
        return SessionRows(self._c, self._for_update)

    async def end_qr_sessions(self, payment_id: int, status: str, now: datetime) -> int:
        """End the KHQR sessions of an attempt: ``PAID`` (its payment was confirmed: whatever the
        session said) or ``EXPIRED`` (the attempt was closed: only a session still PENDING).
        Returns how many changed. The ledger ends them in the transaction that ends their payment,
        so a closed attempt's QR is never shown again."""
        return await self.khqr_sessions.end_for_payment(payment_id, status, now)

    @cached_property
    def outbox(self) -> OutboxRows:
        return OutboxRows(self._c, locking=bool(self._for_update))  # row locks only on PostgreSQL

    @cached_property
    def notifications(self) -> NotificationRows:
        return NotificationRows(self._c, locking=bool(self._for_update))

    @cached_property
    def fraud(self) -> SqlFraudRows:
        return SqlFraudRows(self._c)

    @cached_property
    def reconciliation(self) -> SqlReconciliationRows:
        return SqlReconciliationRows(self._c)

    @cached_property
    def watchers(self) -> SqlWatcherRows:
        return SqlWatcherRows(self._c)

    @cached_property
    def review_rows(self) -> SqlReviewRows:
        return SqlReviewRows(self._c, postgres=bool(self._for_update))

    @cached_property
    def lookups(self) -> SqlLookupRows:
        return SqlLookupRows(self._c, postgres=bool(self._for_update))

    @cached_property
    def amk_answers(self) -> SqlAmkAnswerRows:
        return SqlAmkAnswerRows(self._c)


if TYPE_CHECKING:  # mypy proves the adapter implements the port

    def _implements_port(store: SqlStore, tx: Tx) -> tuple[Store, StoreTx]:
        return store, tx


__all__ = [
    "EVENT_COLS",
    "OUTBOX_CHANNEL",
    "Dialect",
    "SqlStore",
    "Tx",
    "UniqueViolation",
    "as_datetime",
    "event_from_row",
]
