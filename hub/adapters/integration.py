"""The gateway's HTTP client for the integration service.

In the embedded process the same client runs over an in-process ASGI transport: one code path.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from hub.domain.money import parse_amount, parse_currency
from hub.domain.records import Premium
from hub.errors import NotFound, ServiceUnavailable
from hub.json_codec import loads_object


class IntegrationClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def due_premium(self, query: str) -> Premium:
        """The premium due for a policy/application number. NotFound, or ServiceUnavailable."""
        return await self._get("/integration/premiums", {"query": query})

    async def premium(self, premium_id: int) -> Premium:
        return await self._get(f"/integration/premiums/{premium_id}", None)

    async def _get(self, path: str, params: dict[str, str] | None) -> Premium:
        try:
            response = await self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("Integration service unreachable", details=repr(exc)) from exc
        if response.status_code == 404:
            raise NotFound("Premium not found", details={"path": path, **(params or {})})
        if response.status_code != 200:
            raise ServiceUnavailable(f"Integration service answered {response.status_code}")
        try:
            return premium_from_json(loads_object(response.content)["data"])
        except (KeyError, TypeError, ValueError) as exc:  # MalformedJson and MoneyError are ValueErrors
            # The service's answer is unusable, not the caller's request: never a 400 to our client.
            raise ServiceUnavailable("Integration service answered an unreadable premium", details=str(exc)) from exc


def premium_json(p: Premium) -> dict[str, object]:
    """The integration API's premium (the spec's inquiry DTO plus its settlement state); inverse of
    ``premium_from_json``."""
    return {
        **p.inquiry_dto(),
        "applicationNumber": p.application_number,
        "status": p.status,
        "paidPaymentId": p.paid_payment_id,
    }


def premium_from_json(data: dict[str, Any]) -> Premium:
    currency = parse_currency(data["currency"])
    return Premium(
        id=int(data["id"]),
        policy_number=data["policyNumber"],
        payer=data["payer"],
        amount=parse_amount(data["amount"], currency),
        currency=currency,
        due_date=date.fromisoformat(data["dueDate"]),
        application_number=data.get("applicationNumber"),
        status=data.get("status", "DUE"),
        paid_payment_id=data.get("paidPaymentId"),
    )
