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
from collections.abc import Iterable
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


MASK = "***"
# scheme://user:password@host → scheme://user:***@host
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@\"'\\]*:)[^@\s/\"'\\]+@")
# ?token=…, &access_token=…, password=… in query strings and form bodies
_QUERY_SECRET = re.compile(
    r"((?:[?&]|\b)(?:token|access_token|subscribeToken|password|secret|secret_key|api_key)=)[^&\s\"'#\\]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/\-]+=*", re.IGNORECASE)
# A JWS compact serialization: base64url header starting with '{"' (eyJ), payload, signature.
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
# Shorter configured values are not redacted by value (they would blank out ordinary words); production
# refuses secrets that short anyway.
MIN_REDACTED_LENGTH = 6


class Redactor:
    """Masks secrets in text: the configured ``secrets`` by value (also as they appear JSON-escaped),
    and by shape any bearer token, JWT, secret-named query parameter and URL password."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_REDACTED_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
        text = _BEARER.sub(rf"\1{MASK}", text)
        return _JWT.sub(MASK, text)


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


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Route every logger (uvicorn's too) through one JSON handler on stderr that redacts ``secrets``
    (and every token by its shape): pass ``Settings.log_secrets()``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(secrets)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access log carries the correlation id; uvicorn's would repeat it without.
    logging.getLogger("uvicorn.access").disabled = True
