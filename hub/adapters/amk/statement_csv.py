"""AMK's settlement statement as a CSV file: the ONE module that knows its format.

**Assumption.** AMK's real statement format is not known (the spec describes webhooks and
payment-verify only). This is a plausible one, documented in docs/operations.md ("Reconciliation");
when AMK publishes theirs, write another ``hub.ports.StatementFormat`` and hand it to the reconciler:
nothing else reads the file.

The file (UTF-8, a byte-order mark allowed; RFC 4180 CSV, comma-separated, ``"`` quoting, CRLF or LF)::

    settlement_date,tx_id,channel,bill_number,amount,currency,paid_at
    2026-11-27,SBX1764223200123456789,BILL,150001,150.00,USD,2026-11-27T12:00:00+07:00
    2026-11-27,1000000000003,KHQR,P123456789,600000,KHR,2026-11-27T12:03:10.250000+07:00

- the first line that is not blank is the header; column names are read in any case and order;
  ``bill_number`` may be absent (from the header, or from the end of a row); other columns AMK may add
  are ignored (but may hold no NUL: the file is stored whole). Blank lines are skipped. Cells are trimmed.
- ``settlement_date``: ``YYYY-MM-DD``, the same on every row (one statement = one settlement day).
- ``tx_id``: what AMK's payment-verify knows the transaction by (its ``txId``): a bill payment's
  ``bankTransactionId``; a KHQR payment's invoice number (the payment id PayHub gave the QR generator).
  1-64 ASCII letters, digits or ``_-.:/`` (what a bill webhook's ``bankTransactionId`` may hold, plus
  ``/``). A ``(channel, tx_id)`` appears once.
- ``channel``: ``BILL`` or ``KHQR`` (any case). ``currency``: ``USD`` or ``KHR`` (any case, spaces).
- ``amount``: read by ``hub.domain.money.parse_amount`` (exact, the currency's decimals, no rounding).
- ``paid_at``: ISO 8601 date and time; without an offset it is Asia/Phnom_Penh time.
- Only money credited to the merchant is listed (no failed or pending transactions).

``parse`` reads it all or refuses it all: a ``StatementError`` lists every problem by line and
column (at most ``MAX_PROBLEMS``). ``render`` writes the canonical form, which ``parse`` reads back
to equal entries.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from hub.domain.money import MoneyError, format_amount, parse_amount, parse_currency
from hub.domain.payment import PaymentMethod
from hub.domain.reconciliation import Statement, StatementEntry
from hub.domain.timezones import PHNOM_PENH
from hub.errors import StatementError

COLUMNS = ("settlement_date", "tx_id", "channel", "bill_number", "amount", "currency", "paid_at")
REQUIRED = ("settlement_date", "tx_id", "channel", "amount", "currency", "paid_at")
MAX_BYTES = 64 * 1024 * 1024
MAX_PROBLEMS = 100
TX_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,64}", re.ASCII)
BILL_NUMBER = re.compile(r"[A-Za-z0-9]{1,25}", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# ISO 8601 calendar date and time, seconds optional, 0-9 fraction digits, offset optional.
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)
MEDIA_TYPE = "text/csv; charset=utf-8"


class CsvStatementFormat:
    """``hub.ports.StatementFormat`` for the CSV format described in this module's docstring."""

    media_type = MEDIA_TYPE

    def parse(self, data: bytes) -> Statement:
        return parse(data)

    def render(self, entries: Iterable[StatementEntry]) -> bytes:
        return render(entries)


def render(entries: Iterable[StatementEntry]) -> bytes:
    """The canonical file for ``entries`` (header, then one CRLF-terminated row each, in order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.settlement_date.isoformat(),
                e.tx_id,
                e.channel.value,
                e.bill_number or "",
                format_amount(e.amount, e.currency),
                e.currency.value,
                e.paid_at.isoformat(),
            ]
        )
    return out.getvalue().encode("utf-8")


def parse(data: bytes) -> Statement:
    """Every entry of the statement ``data``, or ``StatementError`` naming each bad line and column.

    ``Statement.day`` is the settlement date of its rows (None for a header-only statement);
    ``Statement.sha256`` the hex digest of ``data``.
    """
    if len(data) > MAX_BYTES:
        raise StatementError([_problem(0, "-", f"larger than {MAX_BYTES} bytes")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StatementError([_problem(line, "-", f"not UTF-8 ({exc.reason} at byte {exc.start})")]) from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[dict[str, Any]] = []
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)  # blank lines before the header
        if header is None:
            raise StatementError([_problem(1, "-", "empty file: a header line is required")])
        columns = _columns(reader.line_num, header, problems)
        others = {i: (raw.strip() or f"column {i + 1}") for i, raw in enumerate(header) if i not in columns.values()}
        entries: list[StatementEntry] = []
        seen: dict[str, int] = {}
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # a blank line
            entry = _row(line, cells, columns, problems)
            for index, value in enumerate(cells):
                if "\x00" in value and index not in columns.values():
                    # A column not read, but the file is stored whole, and PostgreSQL's text holds no NUL.
                    problems.append(_problem(line, others.get(index, f"column {index + 1}"), "holds a NUL character"))
                    entry = None
            if entry is None:
                continue
            if entry.key in seen:
                problems.append(
                    _problem(line, "tx_id", f"{entry.tx_id} ({entry.channel}) repeats line {seen[entry.key]}")
                )
            elif entries and entry.settlement_date != entries[0].settlement_date:
                problems.append(
                    _problem(
                        line,
                        "settlement_date",
                        f"{entry.settlement_date} differs from line {entries[0].line} "
                        f"({entries[0].settlement_date}): one statement covers one day",
                    )
                )
            else:
                seen[entry.key] = line
                entries.append(entry)
            if len(problems) >= MAX_PROBLEMS:
                break
    except csv.Error as exc:  # a bad quote, a NUL, a cell past csv.field_size_limit()
        problems.append(_problem(reader.line_num or 1, "-", f"not CSV: {exc}"))
    if problems:
        raise StatementError(problems[:MAX_PROBLEMS])
    day = entries[0].settlement_date if entries else None
    return Statement(day, tuple(entries), hashlib.sha256(data).hexdigest())


def _problem(line: int, column: str, message: str) -> dict[str, Any]:
    return {"line": line, "column": column, "message": message}


def _columns(line: int, header: list[str], problems: list[dict[str, Any]]) -> dict[str, int]:
    """Known column name -> cell index; a missing required or repeated column (or a NUL) is a problem of
    the header's ``line``."""
    columns: dict[str, int] = {}
    if any("\x00" in raw for raw in header):
        problems.append(_problem(line, "-", "the header holds a NUL character"))
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if name not in COLUMNS:
            continue  # a column AMK added: not ours to read
        if name in columns:
            problems.append(_problem(line, name, "appears twice in the header"))
        columns[name] = index
    for name in REQUIRED:
        if name not in columns:
            problems.append(_problem(line, name, "missing from the header"))
    if problems:
        raise StatementError(problems)
    return columns


def _shown(value: str) -> str:
    return repr(value if len(value) <= 32 else value[:32] + "…")


def _row(line: int, cells: list[str], columns: dict[str, int], problems: list[dict[str, Any]]) -> StatementEntry | None:
    found = len(problems)

    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    def bad(column: str, message: str) -> None:
        problems.append(_problem(line, column, message))

    # A row may stop short of optional columns (their cells are then empty), not of a required one.
    width = max(columns[n] for n in REQUIRED) + 1
    if len(cells) < width:
        missing = [n for n in REQUIRED if columns[n] >= len(cells)]
        bad(missing[0], f"line has {len(cells)} cell(s); {missing[0]} is cell {columns[missing[0]] + 1}")
        return None
    day = None
    raw_day = cell("settlement_date")
    if not _DATE.fullmatch(raw_day):
        bad("settlement_date", f"{_shown(raw_day)} is not a date (YYYY-MM-DD)")
    else:
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            bad("settlement_date", f"{_shown(raw_day)} is not a date (YYYY-MM-DD)")
    tx_id = cell("tx_id")
    if not TX_ID.fullmatch(tx_id):
        bad("tx_id", f"{_shown(tx_id)} must be 1-64 ASCII letters, digits or _-.:/")
    channel = None
    try:
        channel = PaymentMethod(cell("channel").upper())
    except ValueError:
        bad("channel", f"{_shown(cell('channel'))} is not BILL or KHQR")
    bill_number = cell("bill_number") or None
    if bill_number is not None and not BILL_NUMBER.fullmatch(bill_number):
        bad("bill_number", f"{_shown(bill_number)} must be 1-25 ASCII letters or digits")
    currency = amount = None
    try:
        currency = parse_currency(cell("currency"))
    except MoneyError as exc:
        bad("currency", exc.reason)
    if currency is not None:
        try:
            amount = parse_amount(cell("amount"), currency)
        except MoneyError as exc:
            bad("amount", exc.reason)
    paid_at = _paid_at(cell("paid_at"), bad)
    if len(problems) > found:
        return None
    assert day is not None and channel is not None and currency is not None and amount is not None
    assert paid_at is not None
    return StatementEntry(day, tx_id, channel, amount, currency, paid_at, bill_number, line)


def _paid_at(raw: str, bad: Any) -> datetime | None:
    if not _DATETIME.fullmatch(raw):
        bad("paid_at", f"{_shown(raw)} is not an ISO 8601 date and time (2026-11-27T12:00:00+07:00)")
        return None
    text = raw
    fraction = re.search(r"\.([0-9]+)", text)
    if fraction and len(fraction.group(1)) > 6:  # datetime keeps microseconds: extra digits are truncated
        text = text[: fraction.start(1) + 6] + text[fraction.end(1) :]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        bad("paid_at", f"{_shown(raw)} is not a valid date and time")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=PHNOM_PENH)
