"""The analytics figures of the in-memory store, computed the plain way from the payment records.

Written independently of the SQL (no shared folding of grouped rows): the differential test
(``tests/integration/test_analytics_differential.py``) holds SQLite and PostgreSQL to this oracle.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from hub.domain.analytics import ENDED, OPEN, PROCESSED, UNKNOWN_METHOD, PaymentFigures, duration_us, local_hour
from hub.domain.payment import PaymentStatus
from hub.domain.records import Payment


def figures_of(payments: Iterable[Payment], start: datetime, end: datetime) -> PaymentFigures:
    """The figures of ``[start, end)`` over ``payments`` (see ``hub.domain.analytics`` for each meaning)."""
    active = 0
    ended: dict[PaymentStatus, int] = {}
    processing_count = processing_us = 0
    volume: dict[str, Decimal] = {}
    by_method: dict[str, int] = {}
    by_hour = [0] * 24
    for p in payments:
        if p.status in OPEN:
            active += start <= p.created_at < end
            continue
        if p.status not in ENDED or not start <= p.updated_at < end:
            continue
        ended[p.status] = ended.get(p.status, 0) + 1
        if p.status in PROCESSED:
            processing_count += 1
            processing_us += duration_us(p.created_at, p.updated_at)
        if p.status is PaymentStatus.CONFIRMED:
            volume[p.currency.value] = volume.get(p.currency.value, Decimal(0)) + p.amount
            method = p.method.value if p.method else UNKNOWN_METHOD
            by_method[method] = by_method.get(method, 0) + 1
            by_hour[local_hour(p.updated_at)] += 1
    return PaymentFigures(active, ended, processing_count, processing_us, volume, by_method, tuple(by_hour))
