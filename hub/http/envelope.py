"""The contract's response envelope: ``{"success": true, "data": …}`` or an error object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from hub.errors import PayHubError
from hub.json_codec import dumps_bytes
from hub.logs import correlation_id


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps_bytes(content)


def ok(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status_code, headers=headers)


def error_body(err: PayHubError, cid: str | None = None, *, support_contact: str = "") -> dict[str, Any]:
    """``{"success": false, "error": {code, message, details, correlationId, timestamp, retryAfter?,
    transactionId?, supportContact?}}``: ``transactionId`` when the error is about a known bank transaction,
    ``supportContact`` (``PAYHUB_SUPPORT_CONTACT``) on payment errors (``PayHubError.payment_error``), as the
    spec's "Payment Processing Errors" example shows."""
    error: dict[str, Any] = {
        "code": err.code,
        "message": err.message,
        "details": err.details,
        "correlationId": cid or correlation_id.get(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if err.retry_after is not None:
        error["retryAfter"] = err.retry_after
    if err.transaction_id:
        error["transactionId"] = err.transaction_id
    if err.payment_error and support_contact:
        error["supportContact"] = support_contact
    return {"success": False, "error": error}


def ws_error(err: PayHubError, **context: Any) -> dict[str, Any]:
    """The WebSocket form of an error: ``{"type": "ERROR", **context, code, message, details,
    correlationId, timestamp, retryAfter?}``, the same error object the HTTP envelope carries."""
    return {"type": "ERROR", **context, **error_body(err)["error"]}


def error_response(err: PayHubError, cid: str | None = None, *, support_contact: str = "") -> JSONResponse:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return JSONResponse(
        error_body(err, cid, support_contact=support_contact), status_code=err.status_code, headers=headers
    )
