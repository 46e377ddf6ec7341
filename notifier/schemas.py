"""The notifier's parameters and replies as documented models (OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, JsonValue, WithJsonSchema

from hub.apidoc.types import Id, Model, Timestamp, case_insensitive_words
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


_HH_MM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_CHANNELS = {"type": "array", "items": {"enum": ["push", "sms", "email"]}}
_HOURS = {
    "anyOf": [
        {"type": "object", "required": ["start", "end"], "properties": {"start": _HH_MM, "end": _HH_MM}},
        {"type": "null"},
    ]
}


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class PreferencesIn(Model):
    """A customer's channels and hours for one policy (absent channels: all three)."""

    channels: Annotated[list[str] | None, WithJsonSchema(_CHANNELS)] = Field(
        default=None,
        description="push, sms, email (a subset).",
        examples=[["push", "sms", "email"]],
        json_schema_extra=_no_default,
    )
    hours: Annotated[dict[str, str] | None, WithJsonSchema(_HOURS)] = Field(
        default=None, description='{"start": "HH:MM", "end": "HH:MM"} (Asia/Phnom_Penh); null: the default hours.'
    )


class PreferencesOut(Model):
    policyNumber: str
    channels: list[Channel]
    hours: JsonValue = Field(description="The hours as text, or null for the default.")
    stored: bool = Field(description="false: nothing stored, these are the defaults.")


_STATE = case_insensitive_words([s.value for s in NotificationState]).removeprefix(r"^\s*").removesuffix(r"\s*$")


class ListQuery(Model):
    state: str | None = Field(
        default=None,
        pattern=f"^({_STATE})?(,({_STATE})?)*$",
        description="States, comma-separated, any case (default DEAD): PENDING, SENT, FAILED, DEAD, CANCELLED.",
    )
    limit: int | None = Field(default=None, ge=1, le=1000, description="At most this many (default 100).")


class RetryIn(Model):
    model_config = ConfigDict(extra="ignore")

    ids: list[Annotated[int, Field(gt=0)]] | None = Field(
        default=None, description="Notification ids; absent or null: every DEAD one."
    )


class Retried(Model):
    retried: list[int] = Field(description="The ids of the notifications sent again.")


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
