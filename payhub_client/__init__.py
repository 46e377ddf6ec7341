"""PayHub's Python client: inquiry, KHQR codes, payment status and streams, webhook signing.

Needs only ``httpx`` and ``httpx-sse``; imports nothing of PayHub's server. See README, "Client libraries".
"""

from payhub_client.client import AMK_BANK_CODE, PayHubClient, backoff_delay
from payhub_client.errors import PayHubApiError, PayHubClientError, PayHubTransportError
from payhub_client.models import (
    Khqr,
    PaymentEvent,
    PaymentState,
    PaymentStatus,
    Premium,
    QrSession,
    SessionStatus,
    WebhookAnswer,
)
from payhub_client.webhooks import encode_body, sign, signature_headers

__all__ = [
    "AMK_BANK_CODE",
    "Khqr",
    "PayHubApiError",
    "PayHubClient",
    "PayHubClientError",
    "PayHubTransportError",
    "PaymentEvent",
    "PaymentState",
    "PaymentStatus",
    "Premium",
    "QrSession",
    "SessionStatus",
    "WebhookAnswer",
    "backoff_delay",
    "encode_body",
    "sign",
    "signature_headers",
]
