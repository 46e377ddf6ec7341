"""Differential property: SQLite and PostgreSQL compute the analytics figures exactly as the in-memory
store does (``hub/adapters/store/memory_analytics.py``, a plain loop over the records), on random payments
and random ranges.

Hypothesis draws attempts of every status, method and currency, amounts up to the largest a currency
allows, creation times and lengths to the microsecond, and ranges whose ends often fall exactly on an
attempt's time (half-open ranges: the start counts, the end does not). Each example writes its attempts
through the store port into its own 400-day era, so the stores of one test keep the earlier examples'
rows and no range reaches them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.adapters.store.memory import MemoryStore
from hub.adapters.store.sql import SqlStore
from hub.domain.analytics import PaymentFigures
from hub.domain.money import Currency
from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.ports import Store
from tests.integration.analytics_data import add_attempt

ERA = timedelta(days=400)
SPAN_US = 300 * 86_400 * 1_000_000  # attempts are created within 300 days of their era's start
FIRST_ERA = datetime(2001, 1, 1, tzinfo=UTC)
_eras = itertools.count()


@dataclass(frozen=True)
class Attempt:
    status: PaymentStatus
    method: PaymentMethod | None
    currency: Currency
    minor: int  # amount in the currency's smallest unit
    created_us: int  # after the era's start
    length_us: int  # updated_at - created_at

    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-self.currency.decimals)


attempts = st.builds(
    Attempt,
    status=st.sampled_from(PaymentStatus),
    method=st.sampled_from([PaymentMethod.KHQR, PaymentMethod.BILL, None]),
    currency=st.sampled_from(Currency),
    minor=st.one_of(st.integers(1, 10**6), st.integers(1, 10**12), st.just(999_999_999_999)),
    # moments on whole hours and seconds too, where hour buckets and range ends meet
    created_us=st.one_of(
        st.integers(0, SPAN_US),
        st.integers(0, 300 * 24).map(lambda h: h * 3_600_000_000),
        st.integers(0, 300 * 86_400).map(lambda s: s * 1_000_000 - 1 if s else 0),
    ),
    length_us=st.one_of(st.just(0), st.integers(0, 10**6), st.integers(0, 3 * 86_400 * 1_000_000)),
)


async def _write(stores: tuple[Store, ...], era: datetime, batch: list[Attempt]) -> None:
    """Each attempt through the store port, into every store alike."""
    for a in batch:
        created = era + timedelta(microseconds=a.created_us)
        ended = created + timedelta(microseconds=a.length_us)
        await add_attempt(stores, a.status, a.method, str(a.amount()), a.currency, created, ended)


def _moments(era: datetime, batch: list[Attempt]) -> list[datetime]:
    out = []
    for a in batch:
        created = era + timedelta(microseconds=a.created_us)
        out += [created, created + timedelta(microseconds=a.length_us)]
    return out


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(attempts, max_size=25), data=st.data())
@example(batch=[], data=None)
async def test_sql_stores_compute_the_figures_of_the_in_memory_store(
    sql_store: SqlStore, batch: list[Attempt], data: st.DataObject | None
) -> None:
    memory = MemoryStore()  # fresh per example is enough: it holds only what this example wrote
    era = FIRST_ERA + next(_eras) * ERA
    await _write((memory, sql_store), era, batch)
    moments = _moments(era, batch)
    ranges = [(era - timedelta(days=1), era + timedelta(days=302))]  # everything of this era
    if data is not None:
        anywhere = st.integers(-86_400 * 1_000_000, SPAN_US + 4 * 86_400 * 1_000_000).map(
            lambda us: era + timedelta(microseconds=us)
        )
        ends = st.sampled_from(moments) | anywhere if moments else anywhere
        for _ in range(3):
            a, b = data.draw(ends), data.draw(ends)
            if a != b:
                ranges.append((min(a, b), max(a, b)))
    for start, end in ranges:
        expected = await memory.payment_figures(start, end)
        got = await sql_store.payment_figures(start, end)
        assert got == expected, (sql_store.dialect, start, end, batch)
    everything = await memory.payment_figures(*ranges[0])
    assert sum(everything.ended.values()) + everything.active == len(batch)


async def test_the_figures_are_exact_sums_not_floats(sql_store: SqlStore) -> None:
    """0.10 + 0.20 is 0.30, the largest USD amounts add to the cent, KHR stays whole riel."""
    memory = MemoryStore()
    era = FIRST_ERA + next(_eras) * ERA
    batch = [
        Attempt(PaymentStatus.CONFIRMED, PaymentMethod.KHQR, Currency.USD, 10, 0, 1),
        Attempt(PaymentStatus.CONFIRMED, PaymentMethod.KHQR, Currency.USD, 20, 5, 1),
        *[Attempt(PaymentStatus.CONFIRMED, PaymentMethod.BILL, Currency.USD, 999_999_999_999, 9, 3) for _ in range(3)],
        Attempt(PaymentStatus.CONFIRMED, PaymentMethod.BILL, Currency.KHR, 9_999_999_999_999, 11, 1),
        Attempt(PaymentStatus.CONFIRMED, PaymentMethod.BILL, Currency.KHR, 1, 12, 1),
    ]
    await _write((memory, sql_store), era, batch)
    figures = await sql_store.payment_figures(era, era + timedelta(days=1))
    assert figures == await memory.payment_figures(era, era + timedelta(days=1))
    assert figures.volume == {"USD": Decimal("30000000000.27"), "KHR": Decimal("10000000000000")}
    assert str(figures.volume["USD"]) == "30000000000.27"
    assert figures == PaymentFigures(
        ended={PaymentStatus.CONFIRMED: 7},
        processing_count=7,
        processing_us=13,
        volume={"USD": Decimal("30000000000.27"), "KHR": Decimal("10000000000000")},
        by_method={"KHQR": 2, "BILL": 5},
        by_hour=tuple(7 if h == 7 else 0 for h in range(24)),  # 00:00 UTC is 07:00 in Phnom Penh
    )
