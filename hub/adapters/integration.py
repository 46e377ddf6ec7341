"""The gateway's HTTP client for the integration service.

In the embedded process the same client runs over an in-process ASGI transport: one code path.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from hub.domain.money import parse_amount, parse_currency
from hub.domain.notification import Contact, parse_language
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
        """Premium ``premium_id``. NotFound, or ServiceUnavailable (also when the service answers
        another premium: money is matched against the premium the bank named, never a neighbour)."""
        premium = await self._get(f"/integration/premiums/{premium_id}", None)
        if premium.id != premium_id:
            raise ServiceUnavailable(
                "Integration service answered another premium", details={"asked": premium_id, "answered": premium.id}
            )
        return premium

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


def premium_json(p: Premium, *, contact: bool = False) -> dict[str, object]:
    """The integration API's premium (the spec's inquiry DTO plus its settlement state); inverse of
    ``premium_from_json``. ``contact``: with the payer's ``contact`` (``phone``, ``email``, ``pushToken``,
    ``language``), which the integration service gives its callers and caches never hold."""
    out: dict[str, object] = {
        **p.inquiry_dto(),
        "applicationNumber": p.application_number,
        "status": p.status,
        "paidPaymentId": p.paid_payment_id,
    }
    if contact:
        c = p.contact
        out["contact"] = {
            "phone": c.phone,
            "email": c.email,
            "pushToken": c.push_token,
            "language": c.language.value if c.language else None,
        }
    return out


def premium_from_json(data: dict[str, Any]) -> Premium:
    """A premium from the integration service's JSON ``data`` object.

    Raises KeyError, TypeError or ValueError (``MoneyError``) for a field that is missing or of
    the wrong type: an id that is no integer, a policy number or payer that is no text.
    """
    currency = parse_currency(data["currency"])
    premium_id = data["id"]
    if isinstance(premium_id, bool) or not isinstance(premium_id, int | str):
        raise TypeError(f"premium id {premium_id!r} is not an integer")
    return Premium(
        id=int(premium_id),
        policy_number=_text(data, "policyNumber"),
        payer=_text(data, "payer"),
        amount=parse_amount(data["amount"], currency),
        currency=currency,
        due_date=date.fromisoformat(data["dueDate"]),
        application_number=data.get("applicationNumber"),
        status=data.get("status", "DUE"),
        paid_payment_id=data.get("paidPaymentId"),
        contact=_contact(data.get("contact")),
    )


def _contact(value: Any) -> Contact:
    """The payer's contact as the integration service gives it; what is unreadable is left out (a bad
    contact never makes a premium unusable: money is matched on the premium, not on its contact)."""
    if not isinstance(value, dict):
        return Contact()
    texts = {k: v if isinstance(v, str) and v else None for k, v in value.items()}
    try:
        language = parse_language(texts.get("language"))
    except ValueError:
        language = None
    return Contact(
        phone=texts.get("phone"), email=texts.get("email"), push_token=texts.get("pushToken"), language=language
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{key} is not text")
    return value
