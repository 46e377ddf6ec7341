"""Wiring of the back office's reconciliation: for the gateway process (builder) and for ``payhub reconcile``.

The reconciler needs the store, AMK's payment-verify client, the statement format (the one CSV module,
``hub.adapters.amk.statement_csv``) and where statements come from (``PAYHUB_AMK_STATEMENT_URL``; in
sandbox mode the sandbox bank's ``/statements/{date}.csv``; in production without it, imported files only).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import httpx

from backoffice.reconcile.matching import MISMATCHES
from backoffice.reconcile.runner import REVIEW_PREFIX, Reconciler
from backoffice.reconcile.schedule import DailyReconciliation
from hub.adapters.amk.client import AmkClient, AmkConfig
from hub.adapters.amk.statement_csv import CsvStatementFormat
from hub.adapters.amk.statements import HttpStatementSource
from hub.alerts import Alerts
from hub.domain.reconciliation import COMPLETED, ReconRun
from hub.errors import StatementError
from hub.metrics import Metrics
from hub.ports import AmkVerifier, StatementSource, Store
from hub.settings import Settings

SANDBOX_STATEMENTS = "/statements/{date}.csv"  # under the sandbox bank's base URL


def statement_source(settings: Settings, amk_http: httpx.AsyncClient) -> StatementSource | None:
    template = settings.amk_statement_url or (SANDBOX_STATEMENTS if settings.sandbox else "")
    return HttpStatementSource(amk_http, template) if template else None


def reconciler(
    settings: Settings,
    store: Store,
    amk: AmkVerifier,
    source: StatementSource | None,
    alerts: Alerts | None = None,
) -> Reconciler:
    """``alerts``: the process's ALERT sink (counted in its /metrics); the CLI's one-shot run only logs."""
    return Reconciler(
        store,
        amk,
        CsvStatementFormat(),
        source,
        Path(settings.reports_dir),
        stuck_after_s=settings.reconcile_stuck_after_s,
        lease_s=settings.reconcile_lease_s,
        alerts=alerts if alerts is not None else Alerts(),
    )


def daily(settings: Settings, r: Reconciler) -> DailyReconciliation:
    return DailyReconciliation(
        r, settings.reconcile_time, catch_up_days=settings.reconcile_catch_up_days, poll_s=settings.reconcile_poll_s
    )


def mismatch_metric(metrics: Metrics, store: Store) -> None:
    """``payhub_reconciliation_mismatches_total{outcome}``: reconciliation reviews ever raised, read from
    the reviews table (the same on every process, never reset by a restart; a rerun adds none)."""

    async def read() -> dict[str, float]:
        async with store.transaction() as tx:
            return {o.value: float(await tx.count_reviews(f"{REVIEW_PREFIX}{o.value}:")) for o in MISMATCHES}

    metrics.stored_counters(
        "payhub_reconciliation_mismatches_total", "Reconciliation mismatches flagged for review", "outcome", read
    )


# --- payhub reconcile ------------------------------------------------------------------------------


@asynccontextmanager
async def _cli_reconciler(settings: Settings, amk: AmkConfig) -> AsyncIterator[Reconciler]:
    """The CLI's reconciler. In sandbox mode without ``PAYHUB_AMK_BASE_URL`` it asks the sandbox bank of
    the ``payhub run`` on ``PAYHUB_HOST:PAYHUB_PORT`` (the sandbox bank lives in that process)."""
    from payhub.backends import open_store

    base = settings.amk_base_url or (f"http://{settings.host}:{settings.port}/sandbox/amk" if settings.sandbox else "")
    async with (
        open_store(settings.database_url) as store,
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(settings.amk_timeout_s)) as http,
    ):
        yield reconciler(settings, store, AmkClient(http, amk), statement_source(settings, http))


def reconcile_command(settings: Settings, amk: AmkConfig, day: date | None, statement: Path | None) -> int:
    """``payhub reconcile``: import ``statement`` (if given), then reconcile its day (or ``day``).

    Exit status: 0 completed, 1 refused or failed (the message says why), 2 bad arguments.
    """
    data = None
    if statement is not None:
        try:
            data = statement.read_bytes()
        except OSError as exc:
            print(f"payhub: cannot read {statement}: {exc.strerror}", file=sys.stderr)
            return 2
    elif day is None:
        print("payhub: reconcile needs --date YYYY-MM-DD or --statement FILE.csv", file=sys.stderr)
        return 2

    async def go() -> ReconRun:
        async with _cli_reconciler(settings, amk) as r:
            chosen = day
            if data is not None and statement is not None:
                chosen, parsed = await r.import_statement(data, statement.name, day)
                print(f"imported {len(parsed.entries)} statement entr(y/ies) for {chosen} from {statement}")
            assert chosen is not None
            return await r.run(chosen, "cli")

    try:
        run = asyncio.run(go())
    except StatementError as exc:
        print(f"payhub: {statement}: nothing imported, {len(exc.problems)} problem(s):", file=sys.stderr)
        for p in exc.problems:
            print(f"  line {p['line']}, column {p['column']}: {p['message']}", file=sys.stderr)
        return 1
    summary = run.summary
    counts = ", ".join(f"{k} {v}" for k, v in summary.get("counts", {}).items())
    print(f"reconciliation of {run.day} (run {run.id}, generation {run.generation}): {run.status}")
    print(f"  {summary.get('transactions', 0)} transaction(s): {counts}")
    print(f"  totals: {summary.get('totals', {})}")
    if run.status != COMPLETED:
        print(f"payhub: {run.error}", file=sys.stderr)
        return 1
    stem = Path(settings.reports_dir) / f"reconciliation-{run.day}"
    print(f"  reports: {stem}.json {stem}.csv")
    return 0
