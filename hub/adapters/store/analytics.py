"""The analytics figures in SQL, for SQLite and PostgreSQL (``Store.payment_figures``).

Two statements in one read-only unit of work, each a range scan of the covering index of migration
0009 (``payments_analytics``: status, updated_at, created_at, method, currency, amount):

* the attempts that ended in ``[start, end)``, grouped by status, method, currency, amount scale and
  Phnom Penh hour, with their count, summed amount and summed length;
* the attempts created in the range and still open.

Everything is exact. PostgreSQL sums ``NUMERIC`` amounts and intervals (microseconds; their epoch is
``numeric`` since PostgreSQL 14). SQLite keeps amounts and times as text, so it sums integers read out of the text: the
amount without its point (minor units, grouped by the number of decimals, so ``150.00`` and ``600000``
are never added as equals) and the epoch seconds of ``strftime('%s')`` plus the microseconds of the
fixed-width stamp (``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, always UTC: ``sqlite.py`` writes it so).
SQLite's ``SUM`` of integers fails with "integer overflow" rather than round: far past any real volume.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hub.adapters.store._conn import Conn
from hub.domain.analytics import PHNOM_PENH, PHNOM_PENH_OFFSET_HOURS, FiguresBuilder, PaymentFigures
from hub.domain.payment import PaymentStatus

_ENDED_WHERE = "status IN ('CONFIRMED', 'FAILED', 'EXPIRED') AND updated_at >= $1 AND updated_at < $2"
_OPEN_WHERE = "status IN ('PENDING', 'PROCESSING') AND created_at >= $1 AND created_at < $2"

_SQLITE_EPOCH_US = (
    "(CAST(strftime('%s', substr({c}, 1, 19)) AS INTEGER) * 1000000 + CAST(substr({c}, 21, 6) AS INTEGER))"
)
ENDED_SQL = {
    "sqlite": (
        "SELECT status, method, currency,"
        " CASE WHEN instr(amount, '.') > 0 THEN length(amount) - instr(amount, '.') ELSE 0 END AS scale,"
        f" (CAST(substr(updated_at, 12, 2) AS INTEGER) + {PHNOM_PENH_OFFSET_HOURS}) % 24 AS hour,"
        " COUNT(*) AS n,"
        " SUM(CAST(replace(amount, '.', '') AS INTEGER)) AS amount,"
        f" SUM({_SQLITE_EPOCH_US.format(c='updated_at')} - {_SQLITE_EPOCH_US.format(c='created_at')}) AS us"
        f" FROM payments WHERE {_ENDED_WHERE}"
        " GROUP BY status, method, currency, scale, hour"
    ),
    "postgres": (
        "SELECT status, method, currency, 0 AS scale,"
        f" CAST(EXTRACT(HOUR FROM updated_at AT TIME ZONE '{PHNOM_PENH.key}') AS INTEGER) AS hour,"
        " COUNT(*) AS n,"
        " SUM(amount) AS amount,"
        # a sum of intervals is exact (microseconds), and so is the numeric EXTRACT of PostgreSQL 14+
        " CAST(EXTRACT(EPOCH FROM SUM(updated_at - created_at)) * 1000000 AS BIGINT) AS us"
        f" FROM payments WHERE {_ENDED_WHERE}"
        " GROUP BY 1, 2, 3, 4, 5"
    ),
}
OPEN_SQL = f"SELECT COUNT(*) AS n FROM payments WHERE {_OPEN_WHERE}"


async def read_figures(conn: Conn, dialect: str, start: datetime, end: datetime) -> PaymentFigures:
    """The figures of ``[start, end)`` read on ``conn``, a read-only unit of work in which both statements
    see one snapshot (``Dialect.read``)."""
    figures = FiguresBuilder()
    for row in await conn.fetch(ENDED_SQL[dialect], start, end):
        scale = int(row["scale"])
        amount = Decimal(row["amount"]) if dialect == "postgres" else Decimal(int(row["amount"])).scaleb(-scale)
        figures.add_ended(
            PaymentStatus(row["status"]),
            row["method"],
            row["currency"],
            int(row["hour"]),
            int(row["n"]),
            amount,
            int(row["us"]),
        )
    active = await conn.fetchrow(OPEN_SQL, start, end)
    figures.active = int(active["n"]) if active else 0
    return figures.build()
