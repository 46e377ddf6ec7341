"""Partner webhooks signed per the Standard Webhooks specification (standardwebhooks.com, v1).

Each partner has an endpoint URL and its own secret (``whsec_`` + base64, at least 24 bytes). A
webhook is ``POST <url>`` with the JSON body ``{"type", "timestamp", "data"}`` and the headers
``webhook-id`` (the notification's stable id: the same on every retry, so the partner drops repeats),
``webhook-timestamp`` (this attempt's unix seconds) and ``webhook-signature`` (``v1,<base64
HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>``), signed by the ``standardwebhooks`` library (the
specification's own Python implementation).

Outcomes, as the specification advises: 2xx delivered; ``410 Gone`` refused (the partner wants no more);
any other answer, a timeout or no answer retriable, on the specification's retry schedule
(``RETRY_SCHEDULE_S``) with the partner's ``Retry-After`` when it sends one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from hub.adapters.notify._http import post
from hub.domain.notification import Channel
from hub.errors import NotificationRefused
from hub.ports.notify import Outbound

# The specification's example schedule ("Deliverability and reliability"): the delay before each retry,
# in seconds — 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: ten attempts over about three days.
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
# Every status but 2xx and 410 is worth another attempt.
_RETRIABLE = frozenset(range(300, 500)) - {410}

PAYMENT_CONFIRMED = "payment.confirmed"
PAYMENT_FAILED = "payment.failed"
EVENT_TYPES = (PAYMENT_CONFIRMED, PAYMENT_FAILED)


@dataclass(frozen=True)
class PartnerEndpoint:
    """One partner: its name (the recipient of its notifications), URL, signing secret and event types."""

    name: str
    url: str
    secret: str
    events: tuple[str, ...] = EVENT_TYPES


def signed_headers(message_id: str, body: str, secret: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt sent at ``at``."""
    at = at.astimezone(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


class WebhookChannel:
    """``hub.ports.NotificationChannel`` for partner webhooks; the recipient names the partner."""

    channel = Channel.WEBHOOK

    def __init__(
        self,
        http: httpx.AsyncClient,
        partners: Mapping[str, PartnerEndpoint],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._http = http
        self.partners = dict(partners)
        self._clock = clock

    async def send(self, message: Outbound) -> None:
        partner = self.partners.get(message.recipient)
        if partner is None:
            raise NotificationRefused(f"no partner endpoint named {message.recipient!r} is configured")
        headers = signed_headers(message.message_id, message.text, partner.secret, self._clock())
        await post(
            self._http,
            partner.url,
            what=f"partner {partner.name}",
            content=message.text.encode(),
            headers=headers,
            retriable=_RETRIABLE,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
