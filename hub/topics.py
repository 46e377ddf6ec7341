"""Kafka topic names (the spec's, plus the status topic) and which events go where.

Names carry the prefix from settings (``dev.`` by default). Key = paymentId, so one payment's
events stay in one partition, in order. Value = the event JSON with its id (``hub.event_codec``).

| event                                   | topics                                                     |
|-----------------------------------------|------------------------------------------------------------|
| every ``payment.status``                | ``payhub.payment-status``                                  |
| status PROCESSING (webhook accepted)    | ``gateway.payment.confirmed``                              |
| status CONFIRMED (AMK verified, paid)   | ``gateway.payment.confirmed`` (if not sent at PROCESSING), |
|                                         | ``gateway.payment.verified``, ``gateway.payment.success``  |
| ``khqr.generated``                      | ``khqr.generated-event``                                   |
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent

PAYMENT_CONFIRMED = "gateway.payment.confirmed"
PAYMENT_VERIFIED = "gateway.payment.verified"
PAYMENT_SUCCESS = "gateway.payment.success"
KHQR_GENERATED = "khqr.generated-event"
PAYMENT_STATUS = "payhub.payment-status"
DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topics:
    prefix: str = "dev."

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def status(self) -> str:
        return self.name(PAYMENT_STATUS)

    @property
    def success(self) -> str:
        return self.name(PAYMENT_SUCCESS)

    def dead_letter(self, topic: str) -> str:
        return topic + DEAD_LETTER_SUFFIX

    def all(self) -> list[str]:
        return [
            self.name(t) for t in (PAYMENT_CONFIRMED, PAYMENT_VERIFIED, PAYMENT_SUCCESS, KHQR_GENERATED, PAYMENT_STATUS)
        ]

    def for_event(self, event: PaymentEvent, *, confirmed_sent: bool = False) -> list[str]:
        """Where one event goes. ``confirmed_sent``: a PROCESSING event of this payment went before."""
        if event.type == "khqr.generated":
            return [self.name(KHQR_GENERATED)]
        if event.type != PaymentEvent.STATUS:
            return []
        topics = [self.status]
        if event.status is PaymentStatus.PROCESSING:
            topics.append(self.name(PAYMENT_CONFIRMED))
        elif event.status is PaymentStatus.CONFIRMED:
            if not confirmed_sent:
                topics.append(self.name(PAYMENT_CONFIRMED))
            topics += [self.name(PAYMENT_VERIFIED), self.success]
        return topics
