"""What to send for an occasion: which channels, to whom, in which language, with what text. No I/O.

For a payment outcome (a CONFIRMED or FAILED status event):

* push to the payer's push token, when the customer accepts push; SMS instead when there is no token
  or push is not accepted; when push fails for good, SMS follows (``sms_fallback``);
* email (the receipt, or the failure notice) to the payer's address, when accepted;
* a Standard Webhooks ``payment.confirmed`` / ``payment.failed`` to every partner subscribed to it.

For a due-date reminder: push (SMS as its fallback, or instead when there is no token) and the
reminder email, at ``reminder_send_at``. Only channels this process has a backend for are planned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from hub.domain.notification import (
    Channel,
    Content,
    Hours,
    Kind,
    Language,
    NewNotification,
    NotificationKey,
    Preferences,
)
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.json_codec import dumps
from notifier.messages import Templates, payment_values, reminder_values

WEBHOOK_TYPES = {PaymentStatus.CONFIRMED: "payment.confirmed", PaymentStatus.FAILED: "payment.failed"}


@dataclass(frozen=True)
class Partner:
    name: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class PlanConfig:
    """What planning needs from settings: the channels with a backend, defaults, partners."""

    channels: frozenset[Channel]
    default_language: Language
    hours: Hours
    tz: tzinfo
    reminder_days: int = 3
    partners: tuple[Partner, ...] = ()


def occasion_of_event(event: PaymentEvent) -> str:
    return f"event:{event.id}"


def occasion_of_reminder(premium: Premium) -> str:
    return f"reminder:{premium.id}:{premium.due_date.isoformat()}"


class Planner:
    def __init__(self, config: PlanConfig, templates: Templates) -> None:
        self.config = config
        self.templates = templates

    def language(self, premium: Premium | None) -> Language:
        return (premium.contact.language if premium else None) or self.config.default_language

    def accepts(self, channel: Channel, prefs: Preferences | None) -> bool:
        return channel in self.config.channels and (prefs is None or prefs.allows(channel))

    def payment(
        self, event: PaymentEvent, premium: Premium | None, prefs: Preferences | None, now: datetime
    ) -> list[NewNotification]:
        """The notifications of a CONFIRMED or FAILED status event (none for any other event)."""
        if event.type != PaymentEvent.STATUS or event.status not in WEBHOOK_TYPES:
            return []
        kind = Kind.PAYMENT_SUCCESS if event.status is PaymentStatus.CONFIRMED else Kind.PAYMENT_FAILED
        occasion = occasion_of_event(event)
        out = self._partners(event, occasion, now)
        if premium is None:
            return out
        language = self.language(premium)
        values = payment_values(event.data, premium.payer, event.occurred_at, language, self.config.tz)
        data = {"paymentId": str(event.payment_id), "policyNumber": premium.policy_number, "status": event.status.value}
        return self._customer(premium, prefs, occasion, kind, language, values, data, now) + out

    def reminder(
        self, premium: Premium, prefs: Preferences | None, send_at: datetime, now: datetime
    ) -> list[NewNotification]:
        """The due-date reminder of ``premium``, due to go at ``send_at``."""
        language = self.language(premium)
        values = reminder_values(
            premium.payer, premium.policy_number, premium.amount, premium.currency, premium.due_date
        )
        data = {"premiumId": str(premium.id), "policyNumber": premium.policy_number}
        occasion = occasion_of_reminder(premium)
        return self._customer(premium, prefs, occasion, Kind.PAYMENT_REMINDER, language, values, data, send_at)

    def sms_fallback(
        self,
        occasion: str,
        kind: Kind,
        push_content: Content,
        premium: Premium | None,
        prefs: Preferences | None,
        now: datetime,
        payment_id: int | None,
    ) -> NewNotification | None:
        """The SMS that follows a push that failed for good (same occasion and text), if it may be sent."""
        if premium is None or not premium.contact.phone or not self.accepts(Channel.SMS, prefs):
            return None
        return NewNotification(
            key=NotificationKey(occasion, Channel.SMS, premium.contact.phone),
            kind=kind,
            language=self.language(premium),
            content=Content(text=push_content.text, data=push_content.data),
            next_attempt_at=now,
            payment_id=payment_id,
            premium_id=premium.id,
        )

    def _customer(
        self,
        premium: Premium,
        prefs: Preferences | None,
        occasion: str,
        kind: Kind,
        language: Language,
        values: Mapping[str, Any],
        data: Mapping[str, str],
        at: datetime,
    ) -> list[NewNotification]:
        """The customer's notifications of one occasion. The templates are rendered only once a channel
        is chosen (and once for all of them): a premium without a contact, or whose customer accepts
        nothing, costs no rendering (profiled in docs/perf/webhooks.md: rendering was a third of the
        notifier's intake per confirmed payment)."""
        contact = premium.contact
        push = bool(contact.push_token) and self.accepts(Channel.PUSH, prefs)
        sms = not push and bool(contact.phone) and self.accepts(Channel.SMS, prefs)
        mail = bool(contact.email) and self.accepts(Channel.EMAIL, prefs)
        if not (push or sms or mail):
            return []
        rendered = self.templates.render(kind, language, values)
        payment_id = int(data["paymentId"]) if "paymentId" in data else None

        def new(channel: Channel, recipient: str, content: Content) -> NewNotification:
            return NewNotification(
                NotificationKey(occasion, channel, recipient), kind, language, content, at, payment_id, premium.id
            )

        out: list[NewNotification] = []
        short = Content(subject=rendered.subject, text=rendered.sms, data=dict(data))
        if push and contact.push_token:
            out.append(new(Channel.PUSH, contact.push_token, short))
        elif sms and contact.phone:
            out.append(new(Channel.SMS, contact.phone, Content(text=rendered.sms, data=dict(data))))
        if mail and contact.email:
            email = Content(subject=rendered.subject, text=rendered.email_text, html=rendered.email_html, data=data)
            out.append(new(Channel.EMAIL, contact.email, email))
        return out

    def _partners(self, event: PaymentEvent, occasion: str, now: datetime) -> list[NewNotification]:
        if Channel.WEBHOOK not in self.config.channels:
            return []
        type_ = WEBHOOK_TYPES[event.status]
        body = dumps(
            {"type": type_, "timestamp": event.occurred_at.isoformat(), "data": {**event.data, "eventId": event.id}}
        )
        content = Content(text=body, data={"type": type_, "paymentId": str(event.payment_id)})
        return [
            NewNotification(
                NotificationKey(occasion, Channel.WEBHOOK, p.name),
                Kind.PAYMENT_SUCCESS if event.status is PaymentStatus.CONFIRMED else Kind.PAYMENT_FAILED,
                Language.EN,
                content,
                now,
                event.payment_id,
                None,
            )
            for p in self.config.partners
            if type_ in p.events
        ]


def partners_of(endpoints: Sequence[tuple[str, Sequence[str]]]) -> tuple[Partner, ...]:
    return tuple(Partner(name, tuple(events)) for name, events in endpoints)
