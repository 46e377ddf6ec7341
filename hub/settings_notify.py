"""The notifier's settings (``PAYHUB_NOTIFY_*``, ``PAYHUB_PARTNER_WEBHOOKS``), a base of :class:`hub.settings.Settings`.

Each channel's URL picks its backend (``payhub/backends.py``): ``http(s)://`` the provider, ``smtp(s)://``
the mail server, ``sandbox:`` the recorder of ``/sandbox/notifications``; empty means the sandbox recorder
in sandbox mode and no such channel in production mode.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from hub.domain.notification import Hours

# The Standard Webhooks specification's example retry schedule: the wait before each retry, seconds.
WEBHOOK_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
PARTNER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HTTP_SCHEMES = ("http", "https", "sandbox")
SMTP_SCHEMES = ("smtp", "smtps", "sandbox")


class PartnerWebhook(BaseModel):
    """One partner's endpoint: ``{"name", "url", "secret": "whsec_…", "events": [...]}``."""

    model_config = {"frozen": True}

    name: str
    url: str
    secret: SecretStr
    events: tuple[str, ...] = ("payment.confirmed", "payment.failed")


class NotifySettings(BaseSettings):
    notify_push_url: str = ""
    notify_push_token: SecretStr = SecretStr("")
    notify_sms_url: str = ""
    notify_sms_api_key: SecretStr = SecretStr("")
    notify_sms_sender: str = "PayHub"
    notify_smtp_url: str = ""
    notify_email_from: str = "receipts@payhub.sandbox"
    notify_email_from_name: str = "PayHub"
    partner_webhooks: tuple[PartnerWebhook, ...] = ()
    notify_default_language: Literal["km", "en"] = "km"
    notify_timezone: str = "Asia/Phnom_Penh"
    notify_hours: str = "09:00-18:00"
    notify_reminder_days: int = 3
    notify_retry_attempts: int = 8
    notify_push_attempts: int = 3
    notify_retry_initial_s: float = 5.0
    notify_retry_max_s: float = 1800.0
    notify_webhook_schedule_s: Annotated[tuple[float, ...], NoDecode] = Field(default=WEBHOOK_SCHEDULE_S)
    notify_timeout_s: float = 15.0
    notify_poll_s: float = 1.0
    notify_lease_s: float = 120.0
    notify_reminder_scan_s: float = 300.0
    notify_catchup_interval_s: float = 30.0

    @field_validator("notify_webhook_schedule_s", mode="before")
    @classmethod
    def _seconds_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @property
    def notify_zone(self) -> ZoneInfo:
        return ZoneInfo(self.notify_timezone)

    @property
    def notify_window(self) -> Hours:
        start, _, end = self.notify_hours.partition("-")
        return Hours.parse(start.strip(), end.strip())

    def notify_problems(self) -> list[str]:
        """Every problem of the notifier's settings, each naming its variable."""
        problems: list[str] = []
        for name, url, schemes in (
            ("PAYHUB_NOTIFY_PUSH_URL", self.notify_push_url, HTTP_SCHEMES),
            ("PAYHUB_NOTIFY_SMS_URL", self.notify_sms_url, HTTP_SCHEMES),
            ("PAYHUB_NOTIFY_SMTP_URL", self.notify_smtp_url, SMTP_SCHEMES),
        ):
            if url and url.split(":", 1)[0] not in schemes:
                problems.append(f"{name} must start with {' or '.join(s + ':' for s in schemes)}")
        try:
            ZoneInfo(self.notify_timezone)
        except (ValueError, KeyError):
            problems.append(f"PAYHUB_NOTIFY_TIMEZONE: unknown time zone {self.notify_timezone[:40]!r}")
        try:
            _ = self.notify_window
        except ValueError:
            problems.append("PAYHUB_NOTIFY_HOURS must be HH:MM-HH:MM (for example 09:00-18:00)")
        if not 0 <= self.notify_reminder_days <= 60:
            problems.append("PAYHUB_NOTIFY_REMINDER_DAYS must be between 0 and 60")
        if self.notify_retry_attempts < 1 or self.notify_push_attempts < 1:
            problems.append("PAYHUB_NOTIFY_RETRY_ATTEMPTS and PAYHUB_NOTIFY_PUSH_ATTEMPTS must be at least 1")
        if any(s < 0 for s in self.notify_webhook_schedule_s):
            problems.append("PAYHUB_NOTIFY_WEBHOOK_SCHEDULE_S: delays are seconds, not negative")
        if self.notify_lease_s <= self.notify_timeout_s:
            problems.append(
                "PAYHUB_NOTIFY_LEASE_S must exceed PAYHUB_NOTIFY_TIMEOUT_S (a send must end within its lease)"
            )
        problems += self._partner_problems()
        if getattr(self, "mode", "sandbox") == "production":
            problems += self._notify_production_problems()
        return problems

    def _notify_production_problems(self) -> list[str]:
        problems = [
            f"{name} is sandbox: (the recorder) in production mode: set the provider's URL, or leave it empty"
            for name, url in (
                ("PAYHUB_NOTIFY_PUSH_URL", self.notify_push_url),
                ("PAYHUB_NOTIFY_SMS_URL", self.notify_sms_url),
                ("PAYHUB_NOTIFY_SMTP_URL", self.notify_smtp_url),
                *((f"PAYHUB_PARTNER_WEBHOOKS ({p.name[:64]!r})", p.url) for p in self.partner_webhooks),
            )
            if url.startswith("sandbox:")
        ]
        if self.notify_smtp_url and self.notify_email_from.endswith(".sandbox"):
            problems.append("PAYHUB_NOTIFY_EMAIL_FROM is required with PAYHUB_NOTIFY_SMTP_URL in production mode")
        return problems

    def _partner_problems(self) -> list[str]:
        problems: list[str] = []
        names = [p.name for p in self.partner_webhooks]
        for partner in self.partner_webhooks:
            where = f"PAYHUB_PARTNER_WEBHOOKS ({partner.name[:64]!r})"
            if not PARTNER_NAME.match(partner.name):
                problems.append(f"{where}: a name is 1-64 letters, digits, '_', '.' or '-'")
            if names.count(partner.name) > 1:
                problems.append(f"{where}: names must be unique")
            if partner.url.split(":", 1)[0] not in HTTP_SCHEMES:
                problems.append(f"{where}: url must start with http:, https: or sandbox:")
            if not 24 <= _whsec_bytes(partner.secret.get_secret_value()) <= 64:
                problems.append(f"{where}: secret must be whsec_ followed by base64 of 24 to 64 random bytes")
            unknown = set(partner.events) - {"payment.confirmed", "payment.failed"}
            if unknown:
                problems.append(f"{where}: unknown event type(s) {sorted(unknown)}")
        return problems


def _whsec_bytes(secret: str) -> int:
    """How many key bytes a ``whsec_<base64>`` secret holds (0 when it is not one)."""
    if not secret.startswith("whsec_"):
        return 0
    body = secret.removeprefix("whsec_")
    try:
        return len(base64.b64decode(body + "=" * (-len(body) % 4), validate=True))
    except (binascii.Error, ValueError):
        return 0
