"""The time zones of AMK's timestamps (spec: bill ``paidDate`` in GMT+7, KHQR ``paid_datetime`` in
Asia/Bangkok; the same offset today, declared as the spec names them), and the business day of the
back office (``PHNOM_PENH``: a reconciliation day runs from midnight to midnight in Cambodia)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

GMT7 = timezone(timedelta(hours=7))
BANGKOK = ZoneInfo("Asia/Bangkok")
PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")


def utc_stamp(at: datetime) -> str:
    """``at`` as the spec writes times in its JSON examples: RFC 3339, UTC, whole seconds, ``Z``
    (``2025-10-07T12:00:00Z``)."""
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
