"""The notifier's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, JsonValue

from hub.apidoc.types import Id, Model, Timestamp
from hub.domain.notification import Channel, Language, NotificationState


class PaymentPath(Model):
    payment_id: int = Field(gt=0, le=2**63 - 1, description="The payment id.", examples=[1000000000000])


class PolicyPath(Model):
    policy: str = Field(pattern=r"^[A-Za-z0-9]{9,10}$", description="A policy number.", examples=["P123456789"])


class Notification(Model):
    """One notification (unique per occasion, channel and recipient) and where its sending stands."""

    id: Id
    messageId: str = Field(description="The same on every attempt (webhook-id, Message-ID, Idempotency-Key).")
    occasion: str
    channel: Channel
    recipient: str
    kind: str
    language: Language
    state: NotificationState
    attempts: int = Field(ge=0)
    nextAttemptAt: Timestamp | None
    lastError: str | None
    paymentId: Id | None
    premiumId: Id | None
    subject: str
    text: str
    createdAt: Timestamp
    updatedAt: Timestamp
    sentAt: Timestamp | None


class PaymentNotifications(Model):
    paymentId: Id
    notifications: list[Notification]


class PreferencesIn(Model):
    """A customer's channels and hours for one policy (absent channels: all three)."""

    channels: list[str] | None = Field(
        default=None, description="push, sms, email (a subset).", examples=[["push", "sms", "email"]]
    )
    hours: dict[str, str] | None = Field(
        default=None, description='{"start": "HH:MM", "end": "HH:MM"} (Asia/Phnom_Penh); null: the default hours.'
    )


class PreferencesOut(Model):
    policyNumber: str
    channels: list[Channel]
    hours: JsonValue = Field(description="The hours as text, or null for the default.")
    stored: bool = Field(description="false: nothing stored, these are the defaults.")


class ListQuery(Model):
    state: str | None = Field(
        default=None, description="States, comma-separated (default DEAD): PENDING, SENT, FAILED, DEAD, CANCELLED."
    )
    limit: int | None = Field(default=None, ge=1, le=1000, description="At most this many (default 100).")


class RetryIn(Model):
    model_config = ConfigDict(extra="ignore")

    ids: list[int] | None = Field(default=None, description="Notification ids; absent: every DEAD one.")


class Retried(Model):
    retried: int = Field(ge=0)


class SandboxQuery(Model):
    paymentId: str | None = Field(default=None, description="Only this payment's.")
    format: str | None = Field(default=None, description="`json`: the envelope (else an HTML page).")


class SentRecord(Model):
    """What a sandbox channel would have sent."""

    at: Timestamp
    channel: Channel
    messageId: str
    recipient: str
    kind: str
    subject: str
    text: str
    paymentId: int | None
    wire: JsonValue = Field(description="The request the real provider would have received.")
