"""The sandbox backend of every channel: it records what the real backend would send, sends nothing.

Records hold the exact wire form (the FCM request body, the SMS gateway body, the email's MIME text,
the signed webhook's headers and body), newest last, at most ``capacity`` of them; ``/sandbox/notifications``
shows them. To show the push → SMS fallback, the sandbox push provider refuses a token starting with
``sandbox-unregistered`` (as FCM answers ``UNREGISTERED`` for an uninstalled app).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.adapters.notify.email import mime
from hub.adapters.notify.push import fcm_message
from hub.adapters.notify.sms import gateway_body
from hub.adapters.notify.webhook import PartnerEndpoint, signed_headers
from hub.domain.notification import Channel, is_email_address
from hub.errors import NotificationRefused
from hub.ports.notify import Outbound

UNREGISTERED_TOKEN_PREFIX = "sandbox-unregistered"


class SandboxOutbox:
    """What the sandbox channels of one process would have sent."""

    def __init__(self, capacity: int = 500) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)

    def record(self, entry: dict[str, Any]) -> None:
        self._records.append(entry)

    def records(self, *, payment_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first; only one payment's when ``payment_id`` is given."""
        chosen = [r for r in self._records if payment_id is None or r.get("paymentId") == payment_id]
        return chosen[::-1]

    def clear(self) -> None:
        self._records.clear()


class SandboxChannel:
    """``hub.ports.NotificationChannel`` that records instead of sending."""

    def __init__(
        self,
        channel: Channel,
        outbox: SandboxOutbox,
        *,
        sender: str = "receipts@payhub.sandbox",
        sms_sender: str = "PayHub",
        partners: dict[str, PartnerEndpoint] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.channel = channel
        self._outbox = outbox
        self._sender = sender
        self._sms_sender = sms_sender
        self._partners = partners or {}
        self._clock = clock

    async def send(self, message: Outbound) -> None:
        now = self._clock()
        if self.channel is Channel.PUSH and message.recipient.startswith(UNREGISTERED_TOKEN_PREFIX):
            raise NotificationRefused("push provider refused the message (404)", details="UNREGISTERED (sandbox)")
        if self.channel is Channel.EMAIL and not is_email_address(message.recipient):  # as EmailChannel does
            raise NotificationRefused("not an email address", details=message.recipient[:80])
        self._outbox.record(
            {
                "at": now.isoformat(),
                "channel": self.channel.value,
                "messageId": message.message_id,
                "recipient": message.recipient,
                "kind": message.kind,
                "subject": message.subject,
                "text": message.text,
                "paymentId": _int(message.data.get("paymentId")),
                "wire": self._wire(message, now),
            }
        )

    def _wire(self, message: Outbound, now: datetime) -> dict[str, Any]:
        if self.channel is Channel.PUSH:
            return fcm_message(message)
        if self.channel is Channel.SMS:
            return gateway_body(message, self._sms_sender)
        if self.channel is Channel.EMAIL:
            return {"mime": mime(message, self._sender).as_string()}
        partner = self._partners.get(message.recipient)
        if partner is None:
            raise NotificationRefused(f"no partner endpoint named {message.recipient!r} is configured")
        return {"url": partner.url, "headers": signed_headers(message.message_id, message.text, partner.secret, now)}

    async def aclose(self) -> None:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
