"""SMS through an HTTP SMS gateway.

``POST <url>`` with ``Authorization: Bearer <key>``, ``Idempotency-Key: <messageId>`` and the JSON body
``{"to": "+855…", "from": "<sender>", "text": "…", "reference": "<messageId>"}``: the shape most
gateways take (a gateway with another field naming needs its own small module beside this one).
2xx sent; 401 (our key), 408, 429 and 5xx retriable; other 4xx refused (a number the gateway will
not send to).
"""

from __future__ import annotations

from typing import Any

import httpx

from hub.adapters.notify._http import post
from hub.domain.notification import Channel
from hub.json_codec import dumps_bytes
from hub.ports.notify import Outbound


def gateway_body(message: Outbound, sender: str) -> dict[str, Any]:
    return {"to": message.recipient, "from": sender, "text": message.text, "reference": message.message_id}


class SmsChannel:
    """``hub.ports.NotificationChannel`` for SMS, over ``http`` (its timeout applies)."""

    channel = Channel.SMS

    def __init__(self, http: httpx.AsyncClient, url: str, api_key: str = "", sender: str = "PayHub") -> None:
        self._http = http
        self._url = url
        self._key = api_key
        self.sender = sender

    async def send(self, message: Outbound) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": message.message_id}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        await post(
            self._http,
            self._url,
            what="SMS gateway",
            content=dumps_bytes(gateway_body(message, self.sender)),
            headers=headers,
            retriable=frozenset({401}),
        )

    async def aclose(self) -> None:
        await self._http.aclose()
