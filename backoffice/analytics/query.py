"""The range of ``GET /admin/analytics`` and its live stream, read from the query string.

Parameters (each at most once; any other name but ``token`` is refused, so a typo never silently
falls back to the default range):

* ``from``, ``to``: ISO 8601 instants **with a UTC offset** (``2026-11-30T00:00:00+07:00``,
  ``2026-11-29T17:00:00Z``, fractions of a second allowed). An offset's ``+`` must be sent as ``%2B``;
  one that arrives decoded as a space (``…T00:00:00 07:00``) is read as the ``+`` it was. Years 1970
  to 9998 (in UTC).
* ``window``: the length in seconds of a range that ends at ``to`` (default 86400, one day); only
  when ``from`` is absent.

The range is half-open, ``[from, to)``. ``to`` absent means now (for a stream: now at each snapshot,
so the range slides); ``from`` absent means ``to - window``. ``from`` must be before ``to`` and the
range at most :data:`MAX_RANGE` long (366 days: a leap year; a longer scan would hold a database
connection for seconds). Every refusal is a 400 ``BAD_REQUEST`` naming the parameter in ``details``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.domain.analytics import AnalyticsRange
from hub.errors import BadRequest

MAX_RANGE = timedelta(days=366)
DEFAULT_WINDOW = timedelta(days=1)
PARAMETERS = ("from", "to", "window")
_MAX_TEXT = 64
_FIRST_YEAR, _LAST_YEAR = 1970, 9998
# "…HH:MM[:SS[.fff]] HH[:MM]": a "+" that a form or a shell left unencoded and the URL decoding turned into
# a space. A space can stand for nothing else there.
_SPACED_OFFSET = re.compile(r"(.*\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?) (\d\d(?::?\d\d)?)")


@dataclass(frozen=True)
class RangeQuery:
    """A validated query: a fixed ``start``/``end`` where given, else ``window`` before ``end`` or now."""

    start: datetime | None = None
    end: datetime | None = None
    window: timedelta = DEFAULT_WINDOW

    def resolve(self, now: datetime) -> AnalyticsRange:
        """The range this query means at ``now``; :class:`BadRequest` when it is reversed or too wide."""
        end = self.end or now
        start = self.start or end - self.window
        if start >= end:  # only a given ``from`` can be: a window is at least a second long
            if self.end is None:
                raise _refused("from", "must be before now (to is absent)")
            raise _refused("to", "must be after from")
        if end - start > MAX_RANGE:
            field = "from" if self.end is None else "to"
            raise _refused(field, f"the range from..to may span at most {MAX_RANGE.days} days")
        return AnalyticsRange(start, end)


def _refused(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", details=[{"field": field, "message": message}])


def _instant(field: str, raw: str) -> datetime:
    if len(raw) > _MAX_TEXT:
        raise _refused(field, f"at most {_MAX_TEXT} characters")
    text = raw.strip()
    spaced = _SPACED_OFFSET.fullmatch(text)
    if spaced:
        text = f"{spaced.group(1)}+{spaced.group(2)}"
    example = "an ISO 8601 instant with a UTC offset, e.g. 2026-11-30T00:00:00+07:00 (send + as %2B)"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _refused(field, f"must be {example}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _refused(field, f"needs a UTC offset: must be {example}")
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise _refused(field, f"must lie in the years {_FIRST_YEAR} to {_LAST_YEAR}")
    return moment


def _window(raw: str) -> timedelta:
    longest = int(MAX_RANGE.total_seconds())
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= longest):
        raise _refused("window", f"must be a whole number of seconds from 1 to {longest}")
    return timedelta(seconds=int(raw))


def parse_range(params: Mapping[str, str] | Sequence[tuple[str, str]]) -> RangeQuery:
    """The :class:`RangeQuery` of a query string's ``(name, value)`` pairs; :class:`BadRequest` for an
    unknown or repeated parameter, a malformed value, ``window`` together with ``from``, or a fixed
    range that is reversed or too wide (a range ending now is checked by :meth:`RangeQuery.resolve`)."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            shown = name if len(name) <= 24 else name[:24] + "…"
            raise _refused(shown, f"unknown parameter; expected {', '.join(PARAMETERS)}")
        if name in seen:
            raise _refused(name, "given more than once")
        seen[name] = value
    start = _instant("from", seen["from"]) if "from" in seen else None
    end = _instant("to", seen["to"]) if "to" in seen else None
    window = DEFAULT_WINDOW
    if "window" in seen:
        if start is not None:
            raise _refused("window", "give from or window, not both")
        window = _window(seen["window"])
    query = RangeQuery(start, end, window)
    if start is not None and end is not None:
        query.resolve(end)  # a fixed range is checked now, not only when it is used
    return query
