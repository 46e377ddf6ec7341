"""JSON logs, one object per line, each carrying the request's correlation id."""

from __future__ import annotations

import contextvars
import logging
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hub.json_codec import dumps

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "correlationId": correlation_id.get(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return dumps(entry)
        except (TypeError, ValueError):  # an extra the codec does not write: log its str() instead
            return dumps(_printable(entry))


def _printable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float | Decimal) and math.isfinite(value):
        return value
    return str(value)


class RepeatFilter(logging.Filter):
    """Collapses repeats of a warning or error so that no client can fill the disk (issue 7 §4).

    Key: logger name, level and the message template (``record.msg`` before ``%`` formatting). The
    first record of a key passes; further ones within ``window_s`` seconds are dropped and counted;
    the next one to pass after the window carries ``suppressed: N``. Records below WARNING (the
    access log) always pass. At most ``max_keys`` keys are remembered (least recently seen dropped).
    The standard library's logging has no such filter, hence this one.
    """

    def __init__(self, window_s: float, *, max_keys: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        # key -> (time the last passing record was let through, records suppressed since)
        self._seen: OrderedDict[tuple[str, int, str], tuple[float, int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.window_s <= 0:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        passed_at, suppressed = self._seen.get(key, (float("-inf"), 0))
        if now - passed_at < self.window_s:
            self._seen[key] = (passed_at, suppressed + 1)
            self._seen.move_to_end(key)
            return False
        if suppressed:
            record.suppressed = suppressed
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        return True


def configure(level: str = "INFO", *, repeat_window_s: float = 10.0) -> None:
    """Route every logger (uvicorn's too) through one JSON handler on stderr, repeats collapsed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter(repeat_window_s))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access log carries the correlation id; uvicorn's would repeat it without.
    logging.getLogger("uvicorn.access").disabled = True
