"""Reconciling one day: start, resume or rerun a run; decide each transaction; write the report.

A day has one run row. ``run(day)``:

1. **claims** the day's lease (one process at a time: the run row's ``lease_owner``/``lease_until``,
   taken by a conditional UPDATE, renewed with every write; a lease left by a killed process expires
   after ``lease_s``). A run already COMPLETED is rerun: its ``generation`` grows and every item is
   decided again. A RUNNING (killed) or FAILED run resumes where it stopped, unless the day's statement
   was replaced since it collected (an import after a failure): then it starts over as a rerun does.
2. **collects** (once per generation) the day's transactions: every entry of AMK's statement for the
   day (fetched, or imported with ``import_statement``) and every transaction PayHub recorded money for
   or whose payment moved that day; one item per transaction, refreshed in place on a rerun.
3. **decides** each item not yet decided in this generation: asks AMK's payment-verify, reads PayHub's
   record, applies ``matching.decide``, and in ONE transaction writes the item and, for a mismatch, a
   review (key ``reconcile:<outcome>:<channel>:<txRef>``, no day: neither a rerun nor the next day's
   run of a payment settled across midnight duplicates it; a later item links to the existing review
   and logs no ALERT). Its ALERT is logged after the commit, then marked logged (``alerted_at``); a run
   resumed after a kill logs the ALERTs it finds unmarked, so none is lost (the one in flight at the
   kill may be logged twice).
   Progress is kept per transaction: a ``kill -9`` loses at most the transaction in flight, and no
   review is ever written twice.
4. **reports**: the JSON and CSV report files (``report.py``), then the summary and COMPLETED status.

Transactions AMK's side cannot be known for yet (not on the statement and payment-verify unreachable)
stay undecided: the run ends FAILED naming them, and the next run of the day resumes them.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from backoffice.reconcile.days import day_bounds, local_day
from backoffice.reconcile.matching import HEADLINES, Listed, Outcome, Undecidable, Verified, decide
from backoffice.reconcile.ours import our_record
from backoffice.reconcile.report import summarize, write_reports
from hub.alerts import AlertKind, Alerts
from hub.domain.reconciliation import COMPLETED, FAILED, RUNNING, ReconItem, ReconRun, Statement, StoredStatement
from hub.errors import (
    AmkUnavailable,
    AmkUnknownError,
    BadRequest,
    PayHubError,
    ServiceUnavailable,
    StatementError,
)
from hub.ports import AmkVerifier, ReconciliationRows, StatementFormat, StatementSource, Store, StoreTx

log = logging.getLogger("payhub.reconcile")

REVIEW_PREFIX = "reconcile:"
EARLIEST = date(2000, 1, 1)  # no day before is reconciled (PayHub's records start long after)
FETCHED = "fetched"


def review_key(outcome: Outcome, item_key: str) -> str:
    """``reconcile:<outcome>:<channel>:<txRef>`` for ``item_key`` ``<channel>:<txRef>``.

    No day: a payment at 23:59 that AMK settles on the next day's statement is reconciled on both days,
    and is one finding (one review, one ALERT, counted once). The outcome first: the metric counts by
    prefix; another outcome for the same transaction (on another day or a rerun) is another review."""
    return f"{REVIEW_PREFIX}{outcome.value}:{item_key}"


class LeaseLost(ServiceUnavailable):
    """Another process took the run over (this one was too slow to renew its lease)."""


# The ALERT of each mismatch (its message is "reconciliation: " + the outcome's headline).
ALERT_KINDS = {
    Outcome.MISSING_IN_PAYHUB: AlertKind.RECONCILE_MISSING_IN_PAYHUB,
    Outcome.AMOUNT_MISMATCH: AlertKind.RECONCILE_AMOUNT_MISMATCH,
    Outcome.MISSING_AT_AMK: AlertKind.RECONCILE_MISSING_AT_AMK,
    Outcome.STUCK_PROCESSING: AlertKind.RECONCILE_STUCK_PROCESSING,
}


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Reconciler:
    store: Store
    verifier: AmkVerifier
    statement_format: StatementFormat
    source: StatementSource | None
    reports_dir: Path
    stuck_after_s: float = 3600.0
    lease_s: float = 120.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    alerts: Alerts = field(default_factory=Alerts)

    # --- statements ---
    async def import_statement(self, data: bytes, name: str, day: date | None = None) -> tuple[date, Statement]:
        """Store ``data`` as the statement of its day (or of ``day`` when it has no rows), replacing any.

        Raises ``StatementError`` (nothing stored) when the file is malformed, has no rows and no
        ``day`` is given, is for another day than ``day``, or for a day not yet begun.
        """
        statement = self.statement_format.parse(data)
        if day is not None and statement.day not in (None, day):
            line = statement.entries[0].line
            raise StatementError([_problem(line, f"the statement is for {statement.day}, not {day}")])
        chosen = statement.day or day
        if chosen is None:
            raise StatementError([_problem(1, "the statement has no rows: name its day (--date)")])
        if not EARLIEST <= chosen <= local_day(self.clock()):
            line = statement.entries[0].line if statement.entries else 1
            raise StatementError([_problem(line, f"{chosen} is in the future or before 2000")])
        stored = StoredStatement(chosen, f"file:{name}"[:200], statement.sha256, _text(data), self.clock())
        async with self.store.transaction() as tx:
            await tx.reconciliation.put_statement(stored)
        log.info("statement imported", extra={"date": chosen.isoformat(), "entries": len(statement.entries)})
        return chosen, statement

    # --- runs ---
    async def run(self, day: date, trigger: str) -> ReconRun:
        """Reconcile ``day`` (start, resume or rerun; see the module docstring) and return the run.

        Raises ``ServiceUnavailable`` when another process holds the day's run; a run that could not
        finish is returned FAILED with its ``error`` (and resumes next time).
        """
        run, owner = await self.start(day, trigger)
        return await self.work(run, owner)

    async def start(self, day: date, trigger: str) -> tuple[ReconRun, str]:
        """Claim ``day``'s run for this call: (the run, the lease owner to pass to ``work``)."""
        if day > local_day(self.clock()):
            raise BadRequest(
                "cannot reconcile a day that has not begun",
                details=[{"field": "date", "message": f"{day} is after today (Asia/Phnom_Penh)"}],
            )
        if day < EARLIEST:
            raise BadRequest(
                "no payments before 2000", details=[{"field": "date", "message": f"{day} is before {EARLIEST}"}]
            )
        owner, now = _owner(), self.clock()
        async with self.store.transaction() as tx:
            rows = tx.reconciliation
            await rows.insert_run(day, trigger, now)
            run = await rows.run_for_day(day)
            assert run is not None
            if not await rows.claim_run(run.id, owner, self._lease_until(), now):
                raise ServiceUnavailable(
                    f"the reconciliation of {day} is running in another process",
                    details={"runId": run.id, "leaseOwner": run.lease_owner, "leaseUntil": str(run.lease_until)},
                    retry_after=max(1, int(((run.lease_until or now) - now).total_seconds()) + 1),
                )
            run = replace(run, lease_owner=owner, lease_until=self._lease_until())
            if run.status == COMPLETED or await _statement_replaced(rows, run):
                run = replace(run, generation=run.generation + 1, started_at=now, finished_at=None)
            run = replace(run, status=RUNNING, trigger=trigger, error=None, updated_at=now)
            await rows.save_run(run, owner)
        log.info(
            "reconciliation started", extra={"date": day.isoformat(), "runId": run.id, "generation": run.generation}
        )
        return run, owner

    async def work(self, run: ReconRun, owner: str) -> ReconRun:
        """Collect, decide and report ``run``, whose lease ``owner`` holds (from ``start``)."""
        try:
            if run.collected_generation < run.generation:
                run = await self._collect(run, owner)
            undecided = await self._decide_all(run, owner)
            return await self._finish(run, owner, undecided)
        except LeaseLost:
            log.error("reconciliation lease lost to another process", extra={"date": run.day.isoformat()})
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, PayHubError) else repr(exc)
            log.error("reconciliation failed", extra={"date": run.day.isoformat(), "runId": run.id, "error": message})
            return await self._end(run, owner, FAILED, error=message)

    async def _collect(self, run: ReconRun, owner: str) -> ReconRun:
        statement, stored = await self._statement(run)
        start, end = day_bounds(run.day)
        async with self.store.transaction() as tx:
            rows = tx.reconciliation
            await self._renew(tx, run, owner)
            items: dict[str, ReconItem] = {}
            for entry in statement.entries if statement else ():
                items[entry.key] = _item(run.id, entry.key, entry.channel.value, entry.tx_id, None, entry.as_json())
            for moved in await rows.money_moved(start, end):
                known = items.get(moved.key)
                items[moved.key] = (
                    replace(known, payment_id=moved.payment_id)
                    if known
                    else _item(run.id, moved.key, moved.channel, moved.tx_ref, moved.payment_id, None)
                )
            await rows.sync_items(run.id, sorted(items.values(), key=lambda i: i.key))
            run = replace(
                run,
                collected_generation=run.generation,
                statement_source=stored.source if stored else None,
                statement_sha256=stored.sha256 if stored else None,
                updated_at=self.clock(),
            )
            await self._save(tx, run, owner)
        log.info("reconciliation collected", extra={"date": run.day.isoformat(), "transactions": len(items)})
        return run

    async def _statement(self, run: ReconRun) -> tuple[Statement | None, StoredStatement | None]:
        """The statement this generation reconciles against. An imported one stands until replaced; a
        fetched one is fetched again for each generation (AMK may have corrected it). With no source
        configured and nothing imported, the day is reconciled from payment-verify alone."""
        async with self.store.transaction() as tx:
            stored = await tx.reconciliation.statement(run.day)
        if self.source is not None and (stored is None or stored.source == FETCHED):
            try:
                data = await self.source.fetch(run.day)
            except AmkUnavailable:
                if stored is None:
                    raise
                log.warning("AMK statement unreachable; using the one fetched before", extra={"date": str(run.day)})
                data = None
            if data is not None:
                statement = self.statement_format.parse(data)  # StatementError: the run fails, nothing stored
                if statement.day not in (None, run.day):
                    raise StatementError(
                        [{"line": 2, "column": "settlement_date", "message": f"AMK sent {statement.day} for {run.day}"}]
                    )
                stored = StoredStatement(run.day, FETCHED, statement.sha256, _text(data), self.clock())
                async with self.store.transaction() as tx:
                    await tx.reconciliation.put_statement(stored)
                return statement, stored
        if stored is None:
            return None, None
        return self.statement_format.parse(stored.content.encode("utf-8")), stored

    async def _decide_all(self, run: ReconRun, owner: str) -> dict[str, str]:
        """Decide every undecided item; returns those AMK's side is unknown for (key -> why)."""
        await self._alert_unalerted(run)  # a process killed between a review's commit and its ALERT
        async with self.store.transaction() as tx:
            pending = await tx.reconciliation.undecided(run.id, run.generation, limit=10**9)
        undecided: dict[str, str] = {}
        for item in pending:
            verified = await self._verify(item)
            decided = await self._decide(run, owner, item, verified)
            if isinstance(decided, str):
                undecided[item.key] = decided
            elif decided is not None:
                await self._alert(run, decided)
        return undecided

    async def _alert(self, run: ReconRun, item: ReconItem) -> None:
        """Log the ALERT of ``item``'s review, then remember it was logged (at least once: a process
        killed in between logs it again on resume, never loses it)."""
        assert item.outcome is not None
        extra = {
            "date": run.day.isoformat(),
            "outcome": item.outcome,
            "channel": item.channel,
            "txRef": item.tx_ref,
            "paymentId": item.payment_id,
            "runId": run.id,
            "review": item.review_key,
            "detail": item.detail,
        }
        self.alerts.raise_(ALERT_KINDS[Outcome(item.outcome)], log, **extra)
        async with self.store.transaction() as tx:
            await tx.reconciliation.mark_alerted(run.id, item.key, self.clock())

    async def _alert_unalerted(self, run: ReconRun) -> None:
        async with self.store.transaction() as tx:
            missed = await tx.reconciliation.unalerted(run.id)
        for item in missed:
            await self._alert(run, item)

    async def _verify(self, item: ReconItem) -> Verified:
        try:
            answer = await self.verifier.verify_payment(item.tx_ref)
        except AmkUnavailable:
            return Verified(None, error="unavailable")
        except AmkUnknownError as exc:
            return Verified(None, error=exc.code)
        return Verified(answer.status, answer.amount, answer.currency)

    async def _decide(self, run: ReconRun, owner: str, item: ReconItem, verified: Verified) -> str | ReconItem | None:
        """Decide ``item`` in one unit of work: the item and, for a mismatch, its review. Returns why it
        cannot be decided yet, or the item when its review is new (its ALERT is due), else None."""
        now = self.clock()
        async with self.store.transaction() as tx:
            await self._renew(tx, run, owner)
            ours = await our_record(tx, item.channel, item.tx_ref)
            listed = Listed.from_json(item.statement) if item.statement else None
            try:
                decision = decide(ours, listed, verified, now=now, stuck_after=timedelta(seconds=self.stuck_after_s))
            except Undecidable as exc:
                return str(exc)
            payment_id = ours.payment_id if ours else item.payment_id
            decided = replace(
                item,
                payment_id=payment_id,
                outcome=decision.outcome.value,
                decided_generation=run.generation,
                payhub=ours.as_json() if ours else None,
                verify=verified.as_json(),
                detail=decision.detail,
                review_key=None,
                decided_at=now,
                alerted_at=None,
            )
            new_review = False
            if decision.outcome is not Outcome.MATCHED:
                key = review_key(decision.outcome, item.key)
                decided = replace(decided, review_key=key)
                reason = f"reconciliation {run.day}: {HEADLINES[decision.outcome]} ({item.channel} {item.tx_ref})"
                payload = {"runId": run.id, "date": run.day.isoformat(), **decided.as_json()}
                new_review = await tx.add_review(key, reason, payment_id, payload, now)
                if not new_review:  # raised (and ALERTed) by an earlier run of this or another day: not again
                    decided = replace(decided, alerted_at=item.alerted_at or now)
            await tx.reconciliation.save_item(decided)
        return decided if new_review else None

    async def _finish(self, run: ReconRun, owner: str, undecided: dict[str, str]) -> ReconRun:
        if undecided:
            shown = ", ".join(sorted(undecided)[:10]) + (" …" if len(undecided) > 10 else "")
            error = f"{len(undecided)} transaction(s) undecided, AMK's side unknown (run again later): {shown}"
            return await self._end(run, owner, FAILED, error=error)
        async with self.store.transaction() as tx:
            items = await tx.reconciliation.items(run.id)
        done = replace(
            run, status=COMPLETED, summary=summarize(items), finished_at=self.clock(), updated_at=self.clock()
        )
        paths = await write_reports(self.reports_dir, done, items)
        done = await self._end(done, owner, COMPLETED)
        summary = done.summary
        log.info(
            "reconciliation completed",
            extra={
                "date": run.day.isoformat(),
                "runId": run.id,
                "counts": summary["counts"],
                "reports": [str(p) for p in paths],
            },
        )
        return done

    async def _end(self, run: ReconRun, owner: str, status: str, *, error: str | None = None) -> ReconRun:
        """Write the final state and release the lease (if this call still holds it)."""
        now = self.clock()
        async with self.store.transaction() as tx:
            items = await tx.reconciliation.items(run.id)
            ended = replace(
                run,
                status=status,
                error=error,
                summary=summarize(items),
                finished_at=now if status == COMPLETED else run.finished_at,
                updated_at=now,
                lease_owner=None,
                lease_until=None,
            )
            await tx.reconciliation.save_run(ended, owner)
        return ended

    async def _renew(self, tx: StoreTx, run: ReconRun, owner: str) -> None:
        if not await tx.reconciliation.claim_run(run.id, owner, self._lease_until(), self.clock()):
            raise LeaseLost(f"lost the lease of the reconciliation of {run.day}")

    async def _save(self, tx: StoreTx, run: ReconRun, owner: str) -> None:
        if not await tx.reconciliation.save_run(
            replace(run, lease_owner=owner, lease_until=self._lease_until()), owner
        ):
            raise LeaseLost(f"lost the lease of the reconciliation of {run.day}")

    def _lease_until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.lease_s)

    # --- reads for the admin API ---
    async def get(self, run_id: int) -> tuple[ReconRun, list[ReconItem]] | None:
        async with self.store.transaction() as tx:
            run = await tx.reconciliation.run(run_id)
            return (run, await tx.reconciliation.items(run_id)) if run else None

    async def runs(self, first: date | None, last: date | None, limit: int) -> list[ReconRun]:
        async with self.store.transaction() as tx:
            return await tx.reconciliation.runs(first=first, last=last, limit=limit)

    async def for_day(self, day: date) -> ReconRun | None:
        async with self.store.transaction() as tx:
            return await tx.reconciliation.run_for_day(day)


async def _statement_replaced(rows: ReconciliationRows, run: ReconRun) -> bool:
    """Whether the day's statement is no longer the one ``run`` collected its items from (one was
    imported after the run failed): resuming would reconcile against the old one, so it starts over."""
    if run.collected_generation < run.generation:
        return False  # not collected yet: collecting reads the statement there is now
    stored = await rows.statement(run.day)
    return stored is not None and stored.sha256 != run.statement_sha256


def _problem(line: int, message: str) -> dict[str, Any]:
    return {"line": line, "column": "settlement_date", "message": message}


def _item(run_id: int, key: str, channel: str, tx_ref: str, payment_id: int | None, statement: Any) -> ReconItem:
    return ReconItem(run_id, key, channel, tx_ref, payment_id, None, 0, None, statement, None, "", None, None)


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig")  # parse() has proved it is UTF-8
