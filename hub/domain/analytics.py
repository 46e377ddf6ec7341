"""Payment analytics (the spec's "Real-time Payment Analytics"): the figures, what each one means, and
the report ``GET /admin/analytics`` returns. Pure: no I/O.

A store computes :class:`PaymentFigures` for a half-open range ``[start, end)`` in SQL
(``Store.payment_figures``); :func:`report` turns them into the spec's ``realTimeMetrics`` and
``businessMetrics``. Every figure is about payment *attempts* (rows of ``payments``), placed in the range
by one rule:

* an attempt that **ended** (CONFIRMED, FAILED or EXPIRED) counts at the moment it reached its current
  status: its ``updated_at``, which only a status change moves once an attempt has ended;
* an attempt still **open** (PENDING or PROCESSING) counts by when it was created (``created_at``).

=========================  ================================================================================
figure                     meaning
=========================  ================================================================================
``activePayments``         attempts created in the range that are still PENDING or PROCESSING now
``successRate``            CONFIRMED / (CONFIRMED + FAILED + EXPIRED), over attempts that ended in the
                           range; ``null`` when none ended. 4 decimals, half-up
``averageProcessingTime``  mean of (end − creation) over attempts that ended CONFIRMED or FAILED in the
                           range, from the inquiry or QR that opened the attempt to its outcome (it includes
                           the payer's own time). EXPIRED attempts are left out: their length is the QR's
                           lifetime, not processing. ``"2.3 seconds"`` as the spec writes it;
                           ``averageProcessingTimeSeconds`` is the number (3 decimals); ``null`` when none
``peakHours``              the (at most :data:`PEAK_HOURS`) hours of the day, in Asia/Phnom_Penh, in which
                           most attempts were CONFIRMED in the range, busiest first (ties: the earlier
                           hour), as ``"HH:00-HH:00"``; hours without a transaction are never peaks
``totalVolume``            per currency, the exact sum of the amounts of the attempts CONFIRMED in the
                           range, as text in the currency's scale (``{"USD": "1250000.00", "KHR": "600000"}``);
                           currencies are never added together
``transactionCount``       attempts CONFIRMED in the range (one per bank transaction PayHub accepted)
``popularPaymentMethods``  share of ``transactionCount`` per method, ``KHQR`` and ``BILL_PAYMENT`` (the
                           spec's names; PayHub's ``BILL``), 4 decimals; ``{}`` when there is none
=========================  ================================================================================

Extra detail for dashboards: ``terminalPayments`` (attempts ended in the range per status),
``transactionsByHour`` (24 counts of CONFIRMED attempts per Phnom Penh hour, index = hour),
``transactionsByMethod`` (the counts behind the shares).

Asia/Phnom_Penh is UTC+07:00 all year (no daylight saving time since 1920, IANA tz database): SQLite,
which has no time-zone database, adds 7 hours; PostgreSQL and Python use the zone itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hub.domain.money import Currency, format_amount
from hub.domain.payment import PaymentMethod, PaymentStatus

PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
PHNOM_PENH_OFFSET_HOURS = 7  # what SQLite adds (see the module docstring)
PEAK_HOURS = 3
ENDED = (PaymentStatus.CONFIRMED, PaymentStatus.FAILED, PaymentStatus.EXPIRED)
OPEN = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
PROCESSED = (PaymentStatus.CONFIRMED, PaymentStatus.FAILED)  # the attempts whose length is processing time
UNKNOWN_METHOD = "UNKNOWN"  # a CONFIRMED attempt without a method (the ledger always sets one)
# The spec's names of PayHub's methods in popularPaymentMethods.
METHOD_NAMES = {PaymentMethod.KHQR.value: "KHQR", PaymentMethod.BILL.value: "BILL_PAYMENT"}
_RATE = Decimal("0.0001")
_SECONDS = Decimal("0.001")
_TENTH = Decimal("0.1")
_US = Decimal(1_000_000)


@dataclass(frozen=True)
class PaymentFigures:
    """The raw aggregates of one range, exact (integers and ``Decimal``), as every store computes them.

    ``ended``: attempts that ended in the range, per status (CONFIRMED, FAILED, EXPIRED; absent = 0).
    ``processing_count``/``processing_us``: how many attempts ended CONFIRMED or FAILED in the range and
    the sum of their (``updated_at`` − ``created_at``) in microseconds. ``volume``: per currency code,
    the sum of the amounts CONFIRMED in the range (absent = none). ``by_method``: CONFIRMED attempts per
    method value (``KHQR``, ``BILL``, or :data:`UNKNOWN_METHOD`). ``by_hour``: CONFIRMED attempts per hour
    of the day in Asia/Phnom_Penh (24 counts). ``active``: attempts created in the range still open.
    Equal figures compare equal whatever store computed them (the differential test relies on it).
    """

    active: int = 0
    ended: Mapping[PaymentStatus, int] = field(default_factory=dict)
    processing_count: int = 0
    processing_us: int = 0
    volume: Mapping[str, Decimal] = field(default_factory=dict)
    by_method: Mapping[str, int] = field(default_factory=dict)
    by_hour: tuple[int, ...] = (0,) * 24

    def __post_init__(self) -> None:
        # Normalized so that two stores' figures are equal exactly when they agree: no zero entries.
        object.__setattr__(self, "ended", {PaymentStatus(k): v for k, v in self.ended.items() if v})
        object.__setattr__(self, "volume", {k: v for k, v in self.volume.items() if v})
        object.__setattr__(self, "by_method", {k: v for k, v in self.by_method.items() if v})
        if len(self.by_hour) != 24:
            raise ValueError("by_hour holds 24 counts")

    @property
    def transactions(self) -> int:
        return self.ended.get(PaymentStatus.CONFIRMED, 0)


class FiguresBuilder:
    """Folds grouped rows (as the SQL stores read them) into :class:`PaymentFigures`, exactly."""

    def __init__(self) -> None:
        self.active = 0
        self.ended: dict[PaymentStatus, int] = {}
        self.processing_count = 0
        self.processing_us = 0
        self.volume: dict[str, Decimal] = {}
        self.by_method: dict[str, int] = {}
        self.by_hour = [0] * 24

    def add_ended(
        self, status: PaymentStatus, method: str | None, currency: str, hour: int, count: int, amount: Decimal, us: int
    ) -> None:
        """One group of attempts that ended in the range: ``count`` of them, ``amount`` their summed
        amounts, ``us`` their summed lengths in microseconds, ``hour`` the Phnom Penh hour they ended in."""
        self.ended[status] = self.ended.get(status, 0) + count
        if status in PROCESSED:
            self.processing_count += count
            self.processing_us += us
        if status is PaymentStatus.CONFIRMED:
            self.volume[currency] = self.volume.get(currency, Decimal(0)) + amount
            key = method or UNKNOWN_METHOD
            self.by_method[key] = self.by_method.get(key, 0) + count
            self.by_hour[hour] += count

    def build(self) -> PaymentFigures:
        return PaymentFigures(
            active=self.active,
            ended=self.ended,
            processing_count=self.processing_count,
            processing_us=self.processing_us,
            volume=self.volume,
            by_method=self.by_method,
            by_hour=tuple(self.by_hour),
        )


@dataclass(frozen=True)
class AnalyticsRange:
    """A half-open range ``[start, end)`` of instants (timezone-aware), validated by the caller."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("analytics ranges are timezone-aware")
        if not self.start < self.end:
            raise ValueError("an analytics range starts before it ends")


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def _ratio(part: int, whole: int) -> Decimal:
    return _round(Decimal(part) / Decimal(whole), _RATE)


def hour_label(hour: int) -> str:
    """``14`` → ``"14:00-15:00"``; ``23`` → ``"23:00-00:00"``."""
    return f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"


def peak_hours(by_hour: tuple[int, ...], limit: int = PEAK_HOURS) -> list[str]:
    """The busiest hours (most transactions first, then the earlier hour), only hours with one at least."""
    ranked = sorted((h for h in range(24) if by_hour[h]), key=lambda h: (-by_hour[h], h))
    return [hour_label(h) for h in ranked[:limit]]


def average_seconds(figures: PaymentFigures) -> Decimal | None:
    """Mean processing time in seconds (unrounded), or None without a processed attempt."""
    if not figures.processing_count:
        return None
    return Decimal(figures.processing_us) / _US / figures.processing_count


def report(figures: PaymentFigures, window: AnalyticsRange, generated_at: datetime) -> dict[str, Any]:
    """The spec's analytics document (``{"analytics": {...}}``) for ``figures`` of ``window``.

    Rates are exact ``Decimal`` ratios rounded half-up to 4 decimals; amounts are text in the currency's
    scale (``hub.domain.money.format_amount``), one entry per currency PayHub knows (``"0.00"`` when none).
    """
    ended = sum(figures.ended.get(s, 0) for s in ENDED)
    count = figures.transactions
    seconds = average_seconds(figures)
    shares: dict[str, Decimal] = {}
    by_method: dict[str, int] = {}
    for method, n in sorted(figures.by_method.items(), key=lambda kv: (-kv[1], kv[0])):
        name = METHOD_NAMES.get(method, method)
        by_method[name] = n
        shares[name] = _ratio(n, count)
    return {
        "analytics": {
            "range": {
                "from": window.start.isoformat(),
                "to": window.end.isoformat(),
                "timeZone": PHNOM_PENH.key,
            },
            "generatedAt": generated_at.isoformat(),
            "realTimeMetrics": {
                "activePayments": figures.active,
                "successRate": _ratio(count, ended) if ended else None,
                "averageProcessingTime": None if seconds is None else f"{_round(seconds, _TENTH)} seconds",
                "averageProcessingTimeSeconds": None if seconds is None else _round(seconds, _SECONDS),
                "peakHours": peak_hours(figures.by_hour),
                "terminalPayments": {s.value: figures.ended.get(s, 0) for s in ENDED},
                "transactionsByHour": list(figures.by_hour),
            },
            "businessMetrics": {
                "totalVolume": {c.value: format_amount(figures.volume.get(c.value, Decimal(0)), c) for c in Currency},
                "transactionCount": count,
                "popularPaymentMethods": shares,
                "transactionsByMethod": by_method,
            },
        }
    }


def local_hour(moment: datetime) -> int:
    """The hour of the day of ``moment`` in Asia/Phnom_Penh."""
    return moment.astimezone(PHNOM_PENH).hour


def duration_us(start: datetime, end: datetime) -> int:
    """``end − start`` in whole microseconds (exact: datetimes hold microseconds)."""
    return (end - start) // timedelta(microseconds=1)
