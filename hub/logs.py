"""JSON logs, one object per line, each carrying the request's correlation id, with secrets redacted.

Redaction happens once, in the formatter of the one handler every logger (uvicorn's too) writes
through, on every string of the entry: whatever a message, an extra field or a traceback holds, no configured
secret, bearer token, JWT, ``?token=`` value or URL password reaches the log (issue 7 §6).
"""

from __future__ import annotations

import contextvars
import logging
import math
import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from hub.json_codec import dumps
from hub.tracing import current_trace

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


MASK = "***"
# scheme://user:password@host → scheme://user:***@host
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@\"'\\]*:)[^@\s/\"'\\]+@")
# ?token=…, &access_token=…, password=… in query strings and form bodies
_QUERY_SECRET = re.compile(
    r"((?:[?&]|\b)(?:token|access_token|subscribeToken|password|secret|secret_key|api_key)=)[^&\s\"'#\\]+",
    re.IGNORECASE,
)
_SECRET_PARAM_NAMES = frozenset(
    {"token", "access_token", "subscribetoken", "password", "secret", "secret_key", "api_key"}
)
# One query parameter as a client sent it: name and value may be percent-encoded (Starlette decodes both,
# so ?to%6Ben=%65yJ… authenticates like ?token=eyJ…).
_QUERY_PARAM = re.compile(r"([?&;])([^=&;?\s\"'#\\]+)=([^&;\s\"'#\\]*)")
_BEARER = re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/\-]+=*", re.IGNORECASE)
# A JWS compact serialization: base64url header starting with '{"' (eyJ), payload, signature.
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
# What each shape above needs in the text (``://``, ``=``, ``bearer``, ``eyJ``): one search instead of four
# substitutions for the ids, numbers and words that make up most of an entry. The masks (``***``) hold
# none of them, so no substitution can make work for a later one.
_SHAPE_HINT = re.compile(r"://|=|bearer|eyJ", re.IGNORECASE)
# Shorter configured values are not redacted by value (they would blank out ordinary words); production
# refuses secrets that short anyway.
MIN_REDACTED_LENGTH = 6


class Redactor:
    """Masks secrets in text: the configured ``secrets`` by value (also as they appear JSON-escaped),
    and by shape any bearer token, JWT, secret-named query parameter and URL password."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_REDACTED_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if "%" in text or "+" in text:
            text = _QUERY_PARAM.sub(self._encoded_param, text)
        return self._plain(text)

    def _plain(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        if _SHAPE_HINT.search(text) is None:  # most strings of an entry: nothing any shape below can match
            return text
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
        text = _BEARER.sub(rf"\1{MASK}", text)
        return _JWT.sub(MASK, text)

    def _encoded_param(self, match: re.Match[str]) -> str:
        """A query parameter judged on its decoded name and value: masked whole if the name is a secret's
        or the decoded value holds a secret or token."""
        lead, name, value = match.groups()
        decoded = unquote_plus(value)
        if unquote_plus(name).casefold() in _SECRET_PARAM_NAMES or self._plain(decoded) != decoded:
            return f"{lead}{name}={MASK}"
        return match.group(0)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info masked, for banners and messages."""
    return _URL_PASSWORD.sub(rf"\1{MASK}@", url)


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "correlationId": correlation_id.get(),
        }
        trace = current_trace.get()
        if trace is not None:
            entry["traceId"], entry["spanId"] = trace.trace_id, trace.span_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return dumps(self._scrub(entry))

    def _scrub(self, value: Any) -> Any:
        """Redact every string of the entry before it is encoded (never the encoded line: a mask laid
        over JSON escapes could break them); what the codec cannot write is logged as its redacted str()."""
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {self._scrub(str(k)): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._scrub(v) for v in value]
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        if isinstance(value, Decimal) and value.is_finite():
            return value
        return self._redact(str(value))


class RepeatFilter(logging.Filter):
    """Collapses repeats of a warning or error so that no client can fill the disk (issue 7 §4).

    Key: logger name, level and the message template (``record.msg`` before ``%`` formatting), plus
    the ``review`` a record names (``extra={"review": key}``): each case flagged for review is its own
    line (a review key is created once, so these cannot flood), repeats of one case collapse. The
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
        self._seen: OrderedDict[tuple[str, int, str, str], tuple[float, int]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.window_s <= 0:
            return True
        key = (record.name, record.levelno, str(record.msg), str(getattr(record, "review", "")))
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


def configure(level: str = "INFO", secrets: Iterable[str] = (), *, repeat_window_s: float = 10.0) -> None:
    """Route every logger (uvicorn's too) through one JSON handler on stderr that redacts ``secrets``
    (and every token by its shape; pass ``Settings.log_secrets()``) and collapses repeats."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(secrets)))
    handler.addFilter(RepeatFilter(repeat_window_s))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access log carries the correlation id; uvicorn's would repeat it without.
    logging.getLogger("uvicorn.access").disabled = True
    # What no line of ours shows (caller's file/line/function, thread, process: see _STANDARD) is not
    # gathered per record either: the logging HOWTO's "Optimization" switches. Records are made several
    # times per request; finding the caller's frame was among their costs in profiles (docs/perf/webhooks.md).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
