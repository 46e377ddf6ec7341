"""Push notifications through an HTTP push provider; the message format is FCM HTTP v1's.

``POST <url>`` (for FCM ``https://fcm.googleapis.com/v1/projects/<project>/messages:send``) with
``Authorization: Bearer <token>`` and ``{"message": {"token", "notification": {"title", "body"},
"data", "android": {"priority": "high"}, "apns": {"headers": {"apns-priority": "10"}}}}``. FCM has no
idempotency header: ``data.messageId`` carries the stable id so the app drops a repeat.

Outcomes (FCM's error codes): 2xx sent; 400 ``INVALID_ARGUMENT``, 404 ``UNREGISTERED``, 403
``SENDER_ID_MISMATCH`` and other 4xx refused (the token will not work: SMS follows); 401 (our access
token expired or is wrong), 429 ``QUOTA_EXCEEDED``, 5xx ``UNAVAILABLE``/``INTERNAL`` retriable.
FCM wants an OAuth 2.0 access token: PayHub sends the one configured (``PAYHUB_NOTIFY_PUSH_TOKEN``),
which an operator's token refresher keeps current.
"""

from __future__ import annotations

from typing import Any

import httpx

from hub.adapters.notify._http import post
from hub.domain.notification import Channel
from hub.json_codec import dumps_bytes
from hub.ports.notify import Outbound


def fcm_message(message: Outbound) -> dict[str, Any]:
    """The FCM HTTP v1 request body for ``message`` (``data`` values are strings, as FCM requires)."""
    data = {**message.data, "messageId": message.message_id, "kind": message.kind}
    return {
        "message": {
            "token": message.recipient,
            "notification": {"title": message.subject, "body": message.text},
            "data": {k: str(v) for k, v in data.items()},
            "android": {"priority": "high"},
            "apns": {"headers": {"apns-priority": "10"}},
        }
    }


class PushChannel:
    """``hub.ports.NotificationChannel`` for push, over ``http`` (its timeout applies)."""

    channel = Channel.PUSH

    def __init__(self, http: httpx.AsyncClient, url: str, token: str = "") -> None:
        self._http = http
        self._url = url
        self._token = token

    async def send(self, message: Outbound) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        await post(
            self._http,
            self._url,
            what="push provider",
            content=dumps_bytes(fcm_message(message)),
            headers=headers,
            retriable=frozenset({401}),
        )

    async def aclose(self) -> None:
        await self._http.aclose()
