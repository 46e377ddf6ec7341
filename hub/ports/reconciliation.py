"""Ports of reconciliation with AMK: the statement's format, where statements come from, and the
store's rows for runs, their items and the statements they used (``StoreTx.reconciliation``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol

from hub.domain.payment import PaymentStatus
from hub.domain.reconciliation import MovedMoney, ReconItem, ReconRun, Statement, StatementEntry, StoredStatement
from hub.domain.records import Payment


class StatementFormat(Protocol):
    """A settlement statement file format (one module each; ``hub.adapters.amk.statement_csv`` today).

    ``parse`` returns every entry or raises ``hub.errors.StatementError`` naming line and column;
    ``render(entries)`` writes a file that ``parse`` reads back to equal entries.
    """

    media_type: str

    def parse(self, data: bytes) -> Statement: ...

    def render(self, entries: Iterable[StatementEntry]) -> bytes: ...


class StatementSource(Protocol):
    """Where AMK's statement of a settlement day is fetched (``hub.adapters.amk.statements``).

    ``fetch`` returns the file's bytes, None when AMK has no statement for that day (yet); raises
    ``AmkUnavailable`` (retriable) when it cannot be reached.
    """

    async def fetch(self, day: date) -> bytes | None: ...


class ReconciliationRows(Protocol):
    """Reconciliation runs (one per day), their items (one per transaction) and statements (one per day),
    inside one unit of work. Writes to a run check its lease (``owner``): False when another holds it.
    """

    # --- runs ---
    async def run(self, run_id: int) -> ReconRun | None: ...

    async def run_for_day(self, day: date) -> ReconRun | None: ...

    async def runs(self, *, first: date | None = None, last: date | None = None, limit: int = 100) -> list[ReconRun]:
        """Runs whose day is within ``first``..``last`` (inclusive), newest day first."""
        ...

    async def insert_run(self, day: date, trigger: str, now: datetime) -> bool:
        """A RUNNING run for ``day`` (generation 1, no lease); False when the day has one already."""
        ...

    async def claim_run(self, run_id: int, owner: str, until: datetime, now: datetime) -> bool:
        """Take the run's lease when it is free (no owner, or expired at ``now``) or already ``owner``'s."""
        ...

    async def save_run(self, run: ReconRun, owner: str) -> bool:
        """Write every field of ``run`` while ``owner`` holds its lease; False (nothing written) otherwise."""
        ...

    async def completed_days(self, first: date, last: date) -> set[date]: ...

    async def installed_at(self) -> datetime | None:
        """When the schema was first created (the earliest applied migration); None if unknown."""
        ...

    # --- items ---
    async def sync_items(self, run_id: int, items: Sequence[ReconItem]) -> None:
        """Make the run's items exactly ``items`` by key: insert new ones as given, refresh ``channel``,
        ``tx_ref``, ``payment_id`` and ``statement`` of existing ones (their decision stays), delete the rest."""
        ...

    async def undecided(self, run_id: int, generation: int, limit: int = 100) -> list[ReconItem]:
        """Items whose ``decided_generation`` is below ``generation``, by key."""
        ...

    async def save_item(self, item: ReconItem) -> None: ...

    async def unalerted(self, run_id: int) -> list[ReconItem]:
        """Items with a review whose ALERT was not logged yet (``alerted_at`` unset), by key."""
        ...

    async def mark_alerted(self, run_id: int, key: str, at: datetime) -> None: ...

    async def items(self, run_id: int, *, mismatches_only: bool = False) -> list[ReconItem]:
        """The run's items by key; ``mismatches_only``: decided with an outcome other than ``matched``."""
        ...

    # --- statements ---
    async def statement(self, day: date) -> StoredStatement | None: ...

    async def put_statement(self, s: StoredStatement) -> None:
        """Insert or replace the day's statement."""
        ...

    # --- PayHub's side of a day ---
    async def money_moved(self, start: datetime, end: datetime) -> list[MovedMoney]:
        """Transactions whose money PayHub recorded, or whose payment moved, in ``[start, end)``: webhook
        receipts created then that recorded money (answered 200 or 202; KHQR: a SUCCESS notice), and
        payments holding money (PROCESSING, CONFIRMED) with a status event then. Unordered, no repeats."""
        ...

    async def payments_by_transaction(self, tx_id: str, statuses: Sequence[PaymentStatus]) -> list[Payment]:
        """Payments whose ``transaction_id`` is ``tx_id`` and whose status is one of ``statuses``, by id."""
        ...
