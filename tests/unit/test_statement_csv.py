"""AMK's settlement statement (the assumed CSV format of ``hub.adapters.amk.statement_csv``).

Properties: every valid statement round-trips (render, then parse, gives equal entries, whatever the
column order, extra columns, line endings, byte-order mark, cell padding or amount spelling); any
malformed statement is refused with a ``StatementError`` naming the line and column (never another
exception); and importing a refused statement changes nothing.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.reconcile.report import report_csv
from backoffice.reconcile.runner import Reconciler
from hub.adapters.amk.statement_csv import COLUMNS, CsvStatementFormat, parse, render
from hub.adapters.store.memory import MemoryStore
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod
from hub.domain.reconciliation import ReconItem, ReconRun, StatementEntry
from hub.domain.records import Verification
from hub.errors import StatementError

DAY = date(2026, 11, 27)

tx_ids = st.from_regex(r"[A-Za-z0-9_.:/-]{1,30}", fullmatch=True)
usd = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999999.99"), places=2)
khr = st.integers(min_value=1, max_value=9_999_999_999_999).map(Decimal)
offsets = st.sampled_from([timezone(timedelta(hours=7)), UTC, timezone(timedelta(hours=-5, minutes=-30))])
paid_times = st.builds(
    lambda day_offset, seconds, micro, tz: (
        datetime.combine(DAY, datetime.min.time(), tz) + timedelta(days=day_offset, seconds=seconds, microseconds=micro)
    ),
    st.integers(-1, 1),
    st.integers(0, 86399),
    st.integers(0, 999_999),
    offsets,
)


@st.composite
def entries(draw: st.DrawFn) -> StatementEntry:
    currency = draw(st.sampled_from(Currency))
    amount = draw(usd if currency is Currency.USD else khr)
    return StatementEntry(
        DAY,
        draw(tx_ids),
        draw(st.sampled_from(PaymentMethod)),
        amount,
        currency,
        draw(paid_times),
        draw(st.none() | st.from_regex(r"[A-Za-z0-9]{1,25}", fullmatch=True)),
    )


statements = st.lists(entries(), max_size=8, unique_by=lambda e: e.key)


@given(statements)
def test_a_rendered_statement_reads_back_to_equal_entries(chosen: list[StatementEntry]) -> None:
    parsed = parse(render(chosen))
    assert list(parsed.entries) == chosen
    assert parsed.day == (DAY if chosen else None)
    assert [e.line for e in parsed.entries] == list(range(2, 2 + len(chosen)))


def _rewrite(data: bytes, order: list[int], extra: bool, crlf: bool, bom: bool, pad: bool, upper: bool) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    for n, row in enumerate(rows):
        cells = [row[i] for i in order]
        if n == 0 and upper:
            cells = [c.upper() for c in cells]
        if pad:
            cells = [f"  {c} " for c in cells]
        if extra:
            cells.append("fee" if n == 0 else "0.00")
        writer.writerow(cells)
    if crlf:
        out.write("\r\n")  # a trailing blank line
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


@given(
    statements,
    st.permutations(range(len(COLUMNS))),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_layout_details_never_change_what_is_read(
    chosen: list[StatementEntry], order: list[int], extra: bool, crlf: bool, bom: bool, pad: bool, upper: bool
) -> None:
    data = _rewrite(render(chosen), list(order), extra, crlf, bom, pad, upper)
    assert list(parse(data).entries) == chosen


@pytest.mark.parametrize(
    ("written", "currency", "amount"),
    [("1.5E+2", "USD", "150.00"), ("150", "usd", "150.00"), ("6E+5", " KHR ", "600000"), ("0150.0", "USD", "150.00")],
)
def test_amounts_and_currencies_are_read_by_the_one_money_parser(written: str, currency: str, amount: str) -> None:
    data = f"settlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},T1,bill,{written},{currency},{DAY}T09:00:00\n"
    (entry,) = parse(data.encode()).entries
    assert entry.amount == Decimal(amount) and entry.currency.value == currency.strip().upper()
    assert entry.paid_at.utcoffset() == timedelta(hours=7)  # no offset: Asia/Phnom_Penh


# --- malformed statements: one bad cell, and the error names its line and column ---

BAD_CELLS = {
    "settlement_date": ["", "2026-02-30", "27/11/2026", "2026-11-27T00:00", "２０２６-11-27"],
    "tx_id": ["", "=HYPERLINK()", "+1", "@SUM(A1)", "has space", "é", "x" * 65],
    "channel": ["", "CARD", "BIL", "KHQR "[:3]],
    "amount": ["", "0", "-1.00", "1.234", "abc", "NaN", "1e999999999999999999999", "1,00", "99999999999.99"],
    "currency": ["", "EUR", "US D", "1"],
    "paid_at": ["", "yesterday", "2026-11-27", "2026-11-27T25:00:00", "2026-11-27T10:00:00+25:00"],
    "bill_number": ["has space", "x" * 26, "P-1"],
}


@given(
    statements.filter(bool),
    st.data(),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_one_bad_cell_is_refused_naming_its_line_and_column(chosen: list[StatementEntry], data: st.DataObject) -> None:
    column = data.draw(st.sampled_from(sorted(BAD_CELLS)))
    bad = data.draw(st.sampled_from(BAD_CELLS[column]))
    row = data.draw(st.integers(0, len(chosen) - 1))
    rows = list(csv.reader(io.StringIO(render(chosen).decode())))
    rows[row + 1][COLUMNS.index(column)] = bad
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    with pytest.raises(StatementError) as refused:
        parse(out.getvalue().encode())
    assert {"line": row + 2, "column": column} in [
        {"line": p["line"], "column": p["column"]} for p in refused.value.problems
    ]
    assert refused.value.code == "BAD_REQUEST" and "line" in refused.value.message


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        (b"", 1, "-"),
        (b"tx_id,channel,amount,currency,paid_at\n", 1, "settlement_date"),
        (b"settlement_date,tx_id,tx_id,channel,amount,currency,paid_at\n", 1, "tx_id"),
        (f"settlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},T1,BILL,1.00\n".encode(), 2, "currency"),
        (
            f"settlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},T1,BILL,1,USD,{DAY}T01:00\n"
            f"{DAY},T1,BILL,2,USD,{DAY}T02:00\n".encode(),
            3,
            "tx_id",
        ),
        (
            f"settlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},T1,BILL,1,USD,{DAY}T01:00\n"
            f"2026-11-28,T2,BILL,2,USD,{DAY}T02:00\n".encode(),
            3,
            "settlement_date",
        ),
        (b'settlement_date,tx_id,channel,amount,currency,paid_at\n"2026-11-27,T1\n', 2, "-"),
        (b"settlement_date,tx_id,channel,amount,currency,paid_at\n\n\xff\xfe\n", 3, "-"),
        (
            b"settlement_date,tx_id,channel,amount,currency,paid_at\n2026-11-27,T\x001,BILL,1,USD,2026-11-27T01:00\n",
            2,
            "tx_id",
        ),
    ],
)
def test_malformed_files_name_the_line_and_column(text: bytes, line: int, column: str) -> None:
    with pytest.raises(StatementError) as refused:
        parse(text)
    first = refused.value.problems[0]
    assert (first["line"], first["column"]) == (line, column), refused.value.problems


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_input_is_read_or_refused_with_a_statement_error(data: bytes) -> None:
    try:
        statement = parse(data)
    except StatementError as exc:
        assert exc.problems and all({"line", "column", "message"} <= set(p) for p in exc.problems)
    else:
        assert all(e.settlement_date == statement.day for e in statement.entries)


@given(
    statements.filter(bool),
    st.sampled_from(sorted(BAD_CELLS)),
    st.data(),
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_importing_a_refused_statement_changes_nothing(
    tmp_path: Path, chosen: list[StatementEntry], column: str, data: st.DataObject
) -> None:
    bad = data.draw(st.sampled_from(BAD_CELLS[column]))
    rows = list(csv.reader(io.StringIO(render(chosen).decode())))
    rows[1][COLUMNS.index(column)] = bad
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    store = MemoryStore()
    reconciler = Reconciler(store, _NoVerifier(), CsvStatementFormat(), None, tmp_path)
    good = await reconciler.import_statement(render(chosen), "good.csv")
    before = store.state.snapshot()
    with pytest.raises(StatementError):
        await reconciler.import_statement(out.getvalue().encode(), "bad.csv")
    assert store.state == before
    assert good[0] == DAY


async def test_a_statement_for_another_day_or_of_no_day_is_refused(tmp_path: Path) -> None:
    reconciler = Reconciler(MemoryStore(), _NoVerifier(), CsvStatementFormat(), None, tmp_path)
    one = render([StatementEntry(DAY, "T1", PaymentMethod.BILL, Decimal("1.00"), Currency.USD, datetime.now(UTC))])
    with pytest.raises(StatementError, match="is for 2026-11-27, not 2026-11-28"):
        await reconciler.import_statement(one, "x.csv", date(2026, 11, 28))
    with pytest.raises(StatementError, match="no rows"):
        await reconciler.import_statement(render([]), "empty.csv")
    later = date(2999, 1, 1)
    future = render([StatementEntry(later, "T1", PaymentMethod.BILL, Decimal(1), Currency.USD, datetime.now(UTC))])
    with pytest.raises(StatementError, match="line 2, column settlement_date: 2999-01-01 is in the future"):
        await reconciler.import_statement(future, "future.csv")
    day, statement = await reconciler.import_statement(render([]), "empty.csv", DAY)
    assert (day, statement.entries) == (DAY, ())


class _NoVerifier:
    async def verify_payment(self, tx_id: str) -> Verification:  # pragma: no cover - never asked here
        raise AssertionError("no verify expected")


def test_a_spreadsheet_never_reads_a_report_cell_as_a_formula() -> None:
    """Statement ids refuse ``= + @`` outright; a bank id may start with ``-``: the report quotes it."""
    for bad in ("=1+1", "+1", "@SUM(A1)"):
        text = f"settlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},{bad},BILL,1,USD,{DAY}T01:00\n"
        with pytest.raises(StatementError):
            parse(text.encode())
    run = ReconRun(
        1, DAY, "COMPLETED", 1, 1, "cli", None, None, None, None, {}, None, datetime.now(UTC), None, datetime.now(UTC)
    )
    item = ReconItem(1, "BILL:-2", "BILL", "-2", None, "missing_at_amk", 1, None, None, None, "-x", "k", None)
    row = list(csv.reader(io.StringIO(report_csv(run, [item]))))[1]
    assert row[2] == "'-2" and row[-1] == "'-x"


# --- found by breaking it (issue 9): layout details that refused a whole statement, and a NUL ---


@pytest.mark.parametrize(
    "text",
    [
        # blank lines before the header, as some exports write them
        f"\n\r\nsettlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},T1,BILL,1.00,USD,{DAY}T01:00\n",
        f"\ufeff\n  \nsettlement_date,tx_id,channel,amount,currency,paid_at\n{DAY},T1,BILL,1.00,USD,{DAY}T01:00\n",
        # an optional last column left off a row whose cell is empty (no trailing comma written)
        f"settlement_date,tx_id,channel,amount,currency,paid_at,bill_number\n{DAY},T1,BILL,1.00,USD,{DAY}T01:00\n",
        f"settlement_date,tx_id,channel,amount,currency,paid_at,bill_number,fee\n{DAY},T1,BILL,1.00,USD,{DAY}T01:00\n",
    ],
)
def test_layout_details_around_the_rows_do_not_refuse_the_statement(text: str) -> None:
    (entry,) = parse(text.encode()).entries
    assert (entry.tx_id, entry.amount, entry.bill_number) == ("T1", Decimal("1.00"), None)


def test_a_row_missing_a_required_cell_is_still_refused() -> None:
    text = f"settlement_date,tx_id,channel,amount,paid_at,currency\n{DAY},T1,BILL,1.00,{DAY}T01:00\n"
    with pytest.raises(StatementError) as refused:
        parse(text.encode())
    assert [(p["line"], p["column"]) for p in refused.value.problems] == [(2, "currency")]


def test_a_nul_in_a_column_not_read_is_refused_naming_its_line_and_column() -> None:
    # PostgreSQL's text cannot hold NUL: a statement the parser read must be storable on every store.
    text = f"settlement_date,tx_id,channel,amount,currency,paid_at,note\n{DAY},T1,BILL,1.00,USD,{DAY}T01:00,a\x00b\n"
    with pytest.raises(StatementError) as refused:
        parse(text.encode())
    assert [(p["line"], p["column"]) for p in refused.value.problems] == [(2, "note")]
    with pytest.raises(StatementError) as refused:
        parse(b"settlement_date,tx_id,channel,amount,currency,paid_at,no\x00te\n")
    assert [(p["line"], p["column"]) for p in refused.value.problems] == [(1, "-")]


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_statement_read_holds_no_nul_to_store(header: str, note: str) -> None:
    rows = [["settlement_date", "tx_id", "channel", "amount", "currency", "paid_at", header]]
    rows.append([DAY.isoformat(), "T1", "BILL", "1.00", "USD", f"{DAY}T01:00", note])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    try:
        parse(out.getvalue().encode())
    except StatementError:
        return
    assert "\x00" not in out.getvalue()
