"""The notification channel port: one ``send`` per message, one implementation per backend.

Implementations (``hub/adapters/notify/``): ``push.py`` (an HTTP push provider, FCM HTTP v1 message
format), ``sms.py`` (an HTTP SMS gateway), ``email.py`` (SMTP, text and HTML), ``webhook.py``
(partner endpoints, Standard Webhooks signatures) and ``sandbox.py`` (records what would be sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hub.domain.notification import Channel


@dataclass(frozen=True)
class Outbound:
    """One message to one recipient, as a channel sends it.

    ``message_id`` is the same on every attempt of one notification: channels pass it on as the
    receiver's idempotency key (``webhook-id``, ``Message-ID``, ``Idempotency-Key``), so a message sent
    again after a crash in flight is recognised by its receiver.
    """

    message_id: str
    channel: Channel
    recipient: str  # push token, phone number (E.164), email address, or partner name
    subject: str = ""  # email subject, push title
    text: str = ""  # SMS text, push body, email text part, webhook JSON body
    html: str | None = None  # email HTML part
    data: Mapping[str, str] = field(default_factory=dict)  # push data; ``type`` of a webhook
    kind: str = ""  # payment_success | payment_failed | payment_reminder


class NotificationChannel(Protocol):
    """Sends messages of one channel.

    ``send`` returns once the provider accepted the message. It raises ``ChannelUnavailable``
    (retriable: unreachable, timeout, 5xx, 429; ``retry_after`` when the provider named one) or
    ``NotificationRefused`` (not retriable: the provider refused this message for good). Foreign
    errors are converted where they cross in; nothing else escapes.
    """

    channel: Channel

    async def send(self, message: Outbound) -> None: ...

    async def aclose(self) -> None: ...
