"""Sends stored notifications: claim what is due, send it, record the outcome; retries and dead letters.

Delivery contract, per notification (one row per occasion, channel and recipient):

* the row is written (``Notifier.on_event``, ``ReminderScheduler``) before anything is sent;
* ``claim`` gives it one more attempt and a lease (``lease_s``) in one unit of work, then it is sent
  outside any transaction, then the outcome is written: SENT; FAILED with ``next_attempt_at`` after
  the channel's backoff (``hub.resilience.retry`` waits; the provider's ``Retry-After`` when longer);
  DEAD once the channel's attempts are spent or the channel refused the message for good;
* a sender that dies between sending and recording (``kill -9``) leaves the row claimed: it is sent
  again when the lease ends, with the same ``message_id`` (``webhook-id``, ``Message-ID``,
  ``Idempotency-Key``), so the receiver can tell the repeat. No other path sends a row twice.
* a sender that outlives its lease (a slow provider) records nothing once the row was claimed again
  (``finish(claimed=…)``), except SENT: its late failure never undoes the next sender's SENT.
* push that ends DEAD is followed by SMS to the payer's phone (the spec's fallback);
* a reminder is checked again just before it goes: never for a premium already paid (CANCELLED), and
  only inside the customer's hours (moved to their next opening, CANCELLED past the due date).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from tenacity import wait_none
from tenacity.wait import wait_base

from hub.alerts import AlertKind, Alerts
from hub.background import wait_set
from hub.domain.notification import Channel, Hours, Kind, Notification, NotificationState
from hub.errors import PayHubError
from hub.metrics import Metrics
from hub.ports import NotificationChannel, Outbound, Store, StoreTx
from hub.resilience.retry import delay_after
from notifier.plan import Planner

log = logging.getLogger("payhub.notifier")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all (the first included); ``wait``: the delay after each failed one."""

    attempts: int
    wait: wait_base


@dataclass(frozen=True)
class Outcome:
    state: NotificationState
    error: str | None = None
    next_attempt_at: datetime | None = None
    attempts_delta: int = 0


class Dispatcher:
    def __init__(
        self,
        store: Store,
        channels: Mapping[Channel, NotificationChannel],
        planner: Planner,
        policies: Mapping[Channel, RetryPolicy],
        *,
        hours: Hours,
        tz: tzinfo,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        batch: int = 50,
        concurrency: int = 16,
        lease_s: float = 120.0,
        poll_s: float = 1.0,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.planner = planner
        self.policies = dict(policies)
        self.hours, self.tz = hours, tz
        self.clock = clock
        self.metrics = metrics
        self.alerts = metrics.alerts if metrics is not None else Alerts()
        self.batch, self.lease_s, self.poll_s = batch, lease_s, poll_s
        self._concurrency = concurrency
        self._in_flight = 0
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something new is due now: look at once instead of at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Claim and send until cancelled. Sends run side by side (at most ``concurrency``) and a slow
        channel holds only its own messages: new ones are claimed as soon as a slot is free."""
        async with asyncio.TaskGroup() as group:
            while True:
                free = self._concurrency - self._in_flight
                claimed: list[Notification] = []
                if free > 0:
                    try:
                        claimed = await self._claim(min(self.batch, free))
                    except Exception:
                        log.exception("claiming notifications failed; trying again")
                for n in claimed:
                    self._in_flight += 1
                    group.create_task(self._deliver_in_background(n))
                if claimed and len(claimed) == min(self.batch, free):
                    continue  # more may be due
                await wait_set(self._wake, self.poll_s)
                self._wake.clear()

    async def run_once(self) -> int:
        """Claim the notifications due now (at most ``batch``), send them and wait for every outcome;
        returns how many were claimed (tests and tools drive the dispatcher with it)."""
        claimed = await self._claim(self.batch)
        if claimed:
            async with asyncio.TaskGroup() as group:
                for n in claimed:
                    group.create_task(self._deliver(n))
        return len(claimed)

    async def _claim(self, limit: int) -> list[Notification]:
        now = self.clock()
        async with self.store.transaction() as tx:
            return await tx.notifications.claim(now, now + timedelta(seconds=self.lease_s), limit)

    async def _deliver_in_background(self, n: Notification) -> None:
        try:
            await self._deliver(n)
        except Exception:  # the outcome could not be recorded (database down): the lease brings it back
            log.exception("recording a notification's outcome failed", extra={"notificationId": n.id})
        finally:
            self._in_flight -= 1
            self._wake.set()  # a slot is free

    async def _deliver(self, n: Notification) -> None:
        async with self._slots:
            outcome = await self._outcome(n)
        now = self.clock()
        async with self.store.transaction() as tx:
            recorded = await tx.notifications.finish(
                n.id,
                outcome.state,
                now,
                error=outcome.error,
                next_attempt_at=outcome.next_attempt_at,
                attempts_delta=outcome.attempts_delta,
                claimed=n.attempts,
            )
            if recorded and outcome.state is NotificationState.DEAD and n.key.channel is Channel.PUSH:
                await self._fall_back_to_sms(tx, n, now)
        if not recorded:  # this claim's lease ended and the row was claimed again: the later claim decides
            log.warning(
                "a notification's outcome came after its lease: not recorded",
                extra={"notificationId": n.id, "outcome": outcome.state.value},
            )
            return
        label = {
            NotificationState.SENT: "sent",
            NotificationState.FAILED: "retried",
            NotificationState.DEAD: "dead",
            NotificationState.CANCELLED: "cancelled",
        }.get(outcome.state)
        if label and self.metrics is not None:
            self.metrics.notifications.labels(n.key.channel.value, label).inc()
        if outcome.state is NotificationState.DEAD:
            self.alerts.raise_(
                AlertKind.NOTIFICATION_DEAD,
                log,
                notificationId=n.id,
                channel=n.key.channel.value,
                paymentId=n.payment_id,
                error=outcome.error,
            )

    async def _outcome(self, n: Notification) -> Outcome:
        if n.kind is Kind.PAYMENT_REMINDER:
            held = await self._reminder_hold(n)
            if held is not None:
                return held
        channel = self.channels.get(n.key.channel)
        if channel is None:
            return Outcome(NotificationState.DEAD, f"no {n.key.channel.value} backend in this process")
        message = Outbound(
            message_id=n.message_id,
            channel=n.key.channel,
            recipient=n.key.recipient,
            subject=n.content.subject,
            text=n.content.text,
            html=n.content.html,
            data=n.content.data,
            kind=n.kind.value,
        )
        started = time.perf_counter()
        try:
            await channel.send(message)
        except PayHubError as exc:
            return self._failed(n, exc, exc.retriable, exc.retry_after)
        except Exception as exc:  # a bug in a backend: logged with its traceback, retried like an outage
            log.exception("notification backend failed", extra={"channel": n.key.channel.value})
            return self._failed(n, exc, True, None)
        finally:
            if self.metrics is not None:
                self.metrics.notification_seconds.labels(n.key.channel.value).observe(time.perf_counter() - started)
        return Outcome(NotificationState.SENT)

    def _failed(self, n: Notification, exc: BaseException, retriable: bool, retry_after: int | None) -> Outcome:
        detail = getattr(exc, "details", None)
        error = f"{exc}" + (f": {detail}" if detail else "")
        policy = self.policies.get(n.key.channel) or RetryPolicy(1, wait_none())
        if not retriable or n.attempts >= policy.attempts:
            return Outcome(NotificationState.DEAD, error[:500])
        delay = max(delay_after(policy.wait, n.attempts), float(retry_after or 0))
        return Outcome(NotificationState.FAILED, error[:500], self.clock() + timedelta(seconds=delay))

    async def _reminder_hold(self, n: Notification) -> Outcome | None:
        """None when the reminder may go now; else its outcome (moved, or CANCELLED). Re-read at send time."""
        now = self.clock()
        async with self.store.transaction() as tx:
            premium = await tx.premium(n.premium_id) if n.premium_id is not None else None
            prefs = await tx.notifications.preferences(premium.policy_number) if premium else None
        if premium is None or premium.paid:
            return Outcome(NotificationState.CANCELLED, "premium already paid", attempts_delta=-1)
        if f":{premium.due_date.isoformat()}" not in n.key.occasion:
            return Outcome(NotificationState.CANCELLED, "the premium's due date changed", attempts_delta=-1)
        if prefs is not None and not prefs.allows(n.key.channel):
            return Outcome(NotificationState.CANCELLED, "channel turned off by the customer", attempts_delta=-1)
        hours = (prefs.hours if prefs else None) or self.hours
        opening = hours.next_open(now, self.tz)
        if opening == now:
            return None
        if opening.astimezone(self.tz).date() > premium.due_date:
            return Outcome(
                NotificationState.CANCELLED, "due date passed before the customer's hours", attempts_delta=-1
            )
        return Outcome(NotificationState.PENDING, None, opening, attempts_delta=-1)

    async def _fall_back_to_sms(self, tx: StoreTx, n: Notification, now: datetime) -> None:
        """In the unit of work that records the push DEAD: the SMS that follows it (once, by its key)."""
        premium = await tx.premium(n.premium_id) if n.premium_id is not None else None
        prefs = await tx.notifications.preferences(premium.policy_number) if premium else None
        sms = self.planner.sms_fallback(n.key.occasion, n.kind, n.content, premium, prefs, now, n.payment_id)
        if sms is not None and await tx.notifications.enqueue(sms, now):
            log.info("push failed for good: SMS follows", extra={"notificationId": n.id})
            self.wake()
