"""Errors of the PayHub client.

    PayHubClientError                any failure of a call
    ├── PayHubApiError               PayHub answered with its error envelope (or an unreadable answer)
    └── PayHubTransportError         no answer: connection refused or dropped, timeout

Each says whether the same call may succeed later (``retriable``), as PayHub's own errors do.
"""

from __future__ import annotations

from typing import Any

# Envelope codes that a retry of the same call may cure (the server's "retriable" errors, plus AMK down).
RETRIABLE_CODES = frozenset({"RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE", "SERVER_UNAVAILABLE"})


class PayHubClientError(Exception):
    retriable: bool = False


class PayHubApiError(PayHubClientError):
    """An error answer: ``code`` (the spec's, e.g. ``RESOURCE_NOT_FOUND``), ``status_code`` (HTTP),
    ``message``, ``details``, ``correlation_id`` (quote it to PayHub's operators), ``retry_after`` (s)."""

    def __init__(self, status_code: int, error: dict[str, Any]) -> None:
        self.status_code = status_code
        self.error = error
        self.code = str(error.get("code") or f"HTTP_{status_code}")
        self.message = str(error.get("message") or f"HTTP {status_code}")
        self.details: Any = error.get("details")
        self.correlation_id: str | None = error.get("correlationId")
        retry_after = error.get("retryAfter")
        self.retry_after: float | None = float(retry_after) if isinstance(retry_after, int | float) else None
        self.retriable = self.code in RETRIABLE_CODES or status_code in (429, 502, 503, 504)
        super().__init__(f"{self.code} ({status_code}): {self.message}")


class PayHubTransportError(PayHubClientError):
    """No answer from PayHub (the original ``httpx`` error is the ``__cause__``)."""

    retriable = True
