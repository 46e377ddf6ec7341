"""Business days of the back office: midnight to midnight in Asia/Phnom_Penh (no daylight saving)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hub.domain.timezones import PHNOM_PENH


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``day`` as timezone-aware instants."""
    start = datetime.combine(day, time(0), PHNOM_PENH)
    return start, datetime.combine(day + timedelta(days=1), time(0), PHNOM_PENH)


def local_day(at: datetime) -> date:
    """The business day the instant ``at`` (timezone-aware) falls on."""
    return at.astimezone(PHNOM_PENH).date()


def parse_day(text: object) -> date:
    """``YYYY-MM-DD`` as a date; ``ValueError`` naming the rule otherwise."""
    if not isinstance(text, str) or len(text) != 10 or not text.isascii() or text[4] != "-" or text[7] != "-":
        raise ValueError("must be a date written YYYY-MM-DD")
    return date.fromisoformat(text)
