"""The time zones of AMK's timestamps (spec: bill ``paidDate`` in GMT+7, KHQR ``paid_datetime`` in
Asia/Bangkok; the same offset today, declared as the spec names them), and the business day of the
back office (``PHNOM_PENH``: a reconciliation day runs from midnight to midnight in Cambodia)."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

GMT7 = timezone(timedelta(hours=7))
BANGKOK = ZoneInfo("Asia/Bangkok")
PHNOM_PENH = ZoneInfo("Asia/Phnom_Penh")
