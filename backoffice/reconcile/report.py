"""A run's summary and its report, as JSON and CSV (the same content: files on disk and the admin API).

Summary: ``{"transactions": n, "mismatches": n, "undecided": n, "counts": {<outcome>: n, …},
"totals": {"payhub": {<currency>: "<amount>"}, "amk": {…}}}``; ``payhub`` totals the money PayHub holds
for the run's transactions, ``amk`` what AMK reports for them (the statement, else payment-verify).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from backoffice.reconcile.matching import MISMATCHES, Outcome
from hub.domain.money import format_amount, parse_amount, parse_currency
from hub.domain.reconciliation import ReconItem, ReconRun
from hub.json_codec import dumps

CSV_COLUMNS = (
    "date",
    "channel",
    "tx_ref",
    "outcome",
    "payment_id",
    "payhub_status",
    "payhub_amount",
    "payhub_currency",
    "statement_line",
    "statement_amount",
    "statement_currency",
    "verify_status",
    "verify_amount",
    "verify_currency",
    "review_key",
    "detail",
)


def summarize(items: Sequence[ReconItem]) -> dict[str, Any]:
    counts = {o.value: 0 for o in Outcome}
    totals: dict[str, dict[str, Decimal]] = {"payhub": {}, "amk": {}}
    undecided = 0
    for item in items:
        if item.outcome is None:
            undecided += 1
            continue
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
        if item.payhub and item.payhub.get("holdsMoney"):
            _add(totals["payhub"], item.payhub)
        amk = item.statement or (item.verify if item.verify and item.verify.get("status") == "PAID" else None)
        if amk and amk.get("amount") is not None:
            _add(totals["amk"], amk)
    return {
        "transactions": len(items),
        "mismatches": sum(counts[o.value] for o in MISMATCHES),
        "undecided": undecided,
        "counts": counts,
        "totals": {
            side: {cur: format_amount(amount, parse_currency(cur)) for cur, amount in sorted(by_currency.items())}
            for side, by_currency in totals.items()
        },
    }


def _add(by_currency: dict[str, Decimal], money: dict[str, Any]) -> None:
    currency = parse_currency(money["currency"])
    amount = parse_amount(money["amount"], currency)
    by_currency[currency.value] = by_currency.get(currency.value, Decimal(0)) + amount


def report_json(run: ReconRun, items: Sequence[ReconItem]) -> dict[str, Any]:
    return {**run.as_json(), "items": [i.as_json() for i in items]}


def report_csv(run: ReconRun, items: Sequence[ReconItem]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i in items:
        ours, listed, verified = i.payhub or {}, i.statement or {}, i.verify or {}
        writer.writerow(
            [
                run.day.isoformat(),
                i.channel,
                _safe_cell(i.tx_ref),
                i.outcome or "",
                "" if i.payment_id is None else i.payment_id,
                ours.get("status", ""),
                ours.get("amount", ""),
                ours.get("currency", ""),
                listed.get("line", ""),
                listed.get("amount", ""),
                listed.get("currency", ""),
                verified.get("status") or verified.get("error", ""),
                verified.get("amount", ""),
                verified.get("currency", ""),
                _safe_cell(i.review_key or ""),
                _safe_cell(i.detail),
            ]
        )
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """A spreadsheet must not read a cell as a formula (OWASP "CSV injection"): a leading ``= + - @``,
    tab or carriage return is quoted with ``'`` (a bank transaction id may start with ``-``)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_paths(reports_dir: Path, run: ReconRun) -> tuple[Path, Path]:
    stem = f"reconciliation-{run.day.isoformat()}"
    return reports_dir / f"{stem}.json", reports_dir / f"{stem}.csv"


async def write_reports(reports_dir: Path, run: ReconRun, items: Sequence[ReconItem]) -> tuple[Path, Path]:
    """Write (replace) the run's JSON and CSV reports; each file appears whole or not at all."""
    json_path, csv_path = report_paths(reports_dir, run)
    json_text = dumps(report_json(run, items))
    csv_text = report_csv(run, items)

    def write() -> None:
        reports_dir.mkdir(parents=True, exist_ok=True)
        for path, text in ((json_path, json_text), (csv_path, csv_text)):
            _replace(path, text)

    await asyncio.to_thread(write)
    return json_path, csv_path


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
