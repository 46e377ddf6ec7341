"""Customer and partner notifications: channels, states, contacts, preferences and timing rules. Pure.

Where the rules come from (the customer spec, "Enhanced Notification System"):

* channels push, SMS, email and partner webhooks; push first, SMS as its fallback;
* ``payment_confirmed`` and ``payment_failed`` are sent at once; the due-date reminder is scheduled
  ``3_days_before_due_date``, inside the customer's hours (``Asia/Phnom_Penh``, ``09:00-18:00``);
* messages in Khmer (``km``) or English (``en``).

A notification is one message on one channel to one recipient for one occasion (a payment event, or a
premium's due date). ``NotificationKey`` names it; the store keeps one row per key, so whatever is
delivered twice upstream (a Kafka redelivery, a replayed event, a restarted scheduler) is sent once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    PUSH = "push"
    SMS = "sms"
    EMAIL = "email"
    WEBHOOK = "webhook"


CUSTOMER_CHANNELS = (Channel.PUSH, Channel.SMS, Channel.EMAIL)


class NotificationState(StrEnum):
    """PENDING (not sent yet, or in flight), SENT, FAILED (an attempt failed; retried at
    ``next_attempt_at``), DEAD (given up: listed and retried by operators), CANCELLED (a reminder whose
    premium was paid, or whose due date passed, before it could be sent)."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    DEAD = "DEAD"
    CANCELLED = "CANCELLED"


OPEN_STATES = (NotificationState.PENDING, NotificationState.FAILED)


class Kind(StrEnum):
    """What a notification tells (its templates are named after it)."""

    PAYMENT_SUCCESS = "payment_success"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REMINDER = "payment_reminder"


class Language(StrEnum):
    KM = "km"
    EN = "en"


def parse_language(value: object) -> Language | None:
    """``km``/``en`` in any case (also ``km-KH``, ``en_US``); None for empty; ValueError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError("language must be km or en")
    head = value.strip().lower().replace("_", "-").split("-", 1)[0]
    try:
        return Language(head)
    except ValueError:
        raise ValueError(f"language {value[:16]!r} is not km or en") from None


# An email address as a mailbox of one RFC 5321 envelope: a dot-atom local part (RFC 5322 §3.2.3 atext,
# ASCII) and a host name. Anything else ("a(b)@…" holds a comment, "x:y@…" a group, a quoted local part,
# non-ASCII needing SMTPUTF8) is read from a To header as another mailbox, or by no server at all.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_ADDRESS = re.compile(
    rf"(?=[^@]{{1,64}}@){_ATEXT}(?:\.{_ATEXT})*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+"
)


def is_email_address(value: str) -> bool:
    """Whether ``value`` is an address mail can be sent to as itself (see ``EMAIL_ADDRESS``); at most 254
    characters (RFC 5321 §4.5.3.1.3)."""
    return len(value) <= 254 and EMAIL_ADDRESS.fullmatch(value) is not None


@dataclass(frozen=True)
class Contact:
    """How the payer of a premium is reached (the integration service's data; every part optional)."""

    phone: str | None = None
    email: str | None = None
    push_token: str | None = None
    language: Language | None = None

    def __bool__(self) -> bool:
        return any((self.phone, self.email, self.push_token, self.language))


_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


def _hh_mm(text: str) -> time:
    text = text.strip()
    if not _HH_MM.fullmatch(text):
        raise ValueError("not HH:MM")
    return time(int(text[:2]), int(text[3:]))


@dataclass(frozen=True)
class Hours:
    """A daily window of local wall-clock time, ``start`` included, ``end`` excluded. A window whose end
    is before its start runs over midnight (``20:00-08:00``)."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> Hours:
        """From ``HH:MM`` texts (24-hour, ASCII digits; surrounding spaces ignored); ValueError when
        unreadable or empty (start equal to end).

        Exactly ``HH:MM``, as the window is stored and shown: ``time.fromisoformat`` alone also reads
        seconds, fractions, offsets and ``0900``, which storing as ``HH:MM`` cut off (``09:00:10``-``09:00:50``
        became an empty window no later read could parse)."""
        try:
            hours = cls(_hh_mm(start), _hh_mm(end))
        except (TypeError, ValueError):
            raise ValueError("hours are HH:MM") from None
        if hours.start == hours.end:
            raise ValueError("hours: start and end must differ")
        return hours

    def contains(self, t: time) -> bool:
        t = t.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def next_open(self, at: datetime, tz: tzinfo) -> datetime:
        """``at`` if it lies inside the window (in ``tz``), else the window's next opening; aware UTC-equal."""
        local = at.astimezone(tz)
        if self.contains(local.time()):
            return at
        opening = datetime.combine(local.date(), self.start, tz)
        if opening <= local:
            opening = datetime.combine(local.date() + timedelta(days=1), self.start, tz)
        return opening

    def text(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class Preferences:
    """A customer's choices, per policy: the channels they accept and the hours for scheduled messages
    (None: the defaults from settings)."""

    policy_number: str
    channels: frozenset[Channel] = frozenset(CUSTOMER_CHANNELS)
    hours: Hours | None = None

    def allows(self, channel: Channel) -> bool:
        return channel is Channel.WEBHOOK or channel in self.channels

    def json(self) -> dict[str, Any]:
        return {
            "policyNumber": self.policy_number,
            "channels": sorted(c.value for c in self.channels),
            "hours": self.hours.text() if self.hours else None,
        }


def reminder_send_at(due: date, now: datetime, hours: Hours, tz: tzinfo, days_before: int = 3) -> datetime | None:
    """When the due-date reminder of a premium due on ``due`` goes out, seen at ``now``.

    The earliest moment is the opening of ``hours`` on the local day ``days_before`` days before ``due``;
    a reminder not sent by then (the notifier was down) goes at the next opening of ``hours``, as long as
    that is no later than the due date itself. Returns None when that moment has passed (never a reminder
    after its due date).
    """
    earliest = datetime.combine(due - timedelta(days=days_before), hours.start, tz)
    at = hours.next_open(max(now, earliest), tz)
    return at if at.astimezone(tz).date() <= due else None


def message_id(key: NotificationKey) -> str:
    """A stable id for one notification: the Standard Webhooks ``webhook-id``, the email ``Message-ID``
    and the ``Idempotency-Key`` of the HTTP providers; the same on every attempt and in every process."""
    digest = hashlib.sha256(f"{key.occasion}\x1f{key.channel.value}\x1f{key.recipient}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


@dataclass(frozen=True)
class NotificationKey:
    """(occasion, channel, recipient): what is sent at most once. ``occasion`` is ``event:<eventId>`` for a
    payment event, ``reminder:<premiumId>:<dueDate>`` for a reminder."""

    occasion: str
    channel: Channel
    recipient: str


@dataclass(frozen=True)
class Content:
    """A rendered message. ``subject``: email subject or push title; ``text``: SMS text, push body, email
    text part or the webhook's JSON body; ``html``: the email's HTML part; ``data``: push data or the
    webhook's event type."""

    subject: str = ""
    text: str = ""
    html: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"subject": self.subject, "text": self.text, "html": self.html, "data": dict(self.data)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Content:
        return cls(
            subject=str(value.get("subject") or ""),
            text=str(value.get("text") or ""),
            html=value.get("html"),
            data={str(k): str(v) for k, v in (value.get("data") or {}).items()},
        )


@dataclass(frozen=True)
class NewNotification:
    """A notification to store (``enqueue``): sent once ``next_attempt_at`` has come."""

    key: NotificationKey
    kind: Kind
    language: Language
    content: Content
    next_attempt_at: datetime
    payment_id: int | None = None
    premium_id: int | None = None

    @property
    def message_id(self) -> str:
        return message_id(self.key)


@dataclass(frozen=True)
class Notification:
    """A stored notification (a row of ``notifications``)."""

    id: int
    key: NotificationKey
    message_id: str
    kind: Kind
    language: Language
    content: Content
    state: NotificationState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    payment_id: int | None
    premium_id: int | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    def json(self) -> dict[str, Any]:
        """What operators see (admin API, ``payhub notifications list``)."""
        return {
            "id": self.id,
            "messageId": self.message_id,
            "occasion": self.key.occasion,
            "channel": self.key.channel.value,
            "recipient": self.key.recipient,
            "kind": self.kind.value,
            "language": self.language.value,
            "state": self.state.value,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "lastError": self.last_error,
            "paymentId": self.payment_id,
            "premiumId": self.premium_id,
            "subject": self.content.subject,
            "text": self.content.text,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "sentAt": self.sent_at.isoformat() if self.sent_at else None,
        }
