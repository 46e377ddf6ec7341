"""The KHQR service's client of the gateway's premium inquiry (in-process transport when embedded)."""

from __future__ import annotations

from typing import Any

import httpx

from hub.errors import NotFound, RateLimitExceeded, ServiceUnavailable
from hub.json_codec import loads


class GatewayClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def inquire(self, bill_number: str) -> dict[str, Any]:
        """The gateway's inquiry data (premium DTO + paymentId), or NotFound / ServiceUnavailable."""
        try:
            response = await self._http.get("/AMK/payments", params={"query": bill_number})
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("Gateway unreachable", details=repr(exc)) from exc
        try:
            body = loads(response.content) if response.content else {}
        except ValueError as exc:  # the gateway's answer is unreadable: its fault, not our caller's
            raise ServiceUnavailable(f"Gateway answered {response.status_code} with unreadable JSON") from exc
        if response.status_code == 200:
            data: dict[str, Any] = body["data"]
            return data
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if response.status_code == 404:
            raise NotFound(error.get("message", f"No premium due for {bill_number}"))
        if response.status_code == 429:
            raise RateLimitExceeded(retry_after=error.get("retryAfter", 60))
        raise ServiceUnavailable(
            error.get("message", f"Gateway answered {response.status_code}"),
            retry_after=error.get("retryAfter"),
        )
