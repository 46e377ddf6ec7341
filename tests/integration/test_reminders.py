"""Due-date reminders with a fake clock, in a wired process on SQLite: 3 days before the due date, inside
the customer's hours (Asia/Phnom_Penh), kept in the database across a restart, never for a paid premium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.domain.notification import Channel, Hours, NotificationState, Preferences
from payhub.bootstrap import Container
from tests.conftest import make_settings, running

PP = ZoneInfo("Asia/Phnom_Penh")


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set_local(self, y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> None:
        self.now = datetime(y, m, d, hh, mm, ss, tzinfo=PP).astimezone(UTC)


@asynccontextmanager
async def process(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Container]:
    settings = make_settings(f"sqlite:///{tmp_path}/payhub.db")
    async with running(settings, clock=clock) as c:  # background loops off: the test drives them
        yield c


async def reminders_of(c: Container, premium_id: int) -> dict[str, tuple[str, datetime | None]]:
    async with c.store.transaction() as tx:
        rows = await tx.notifications.listing(list(NotificationState), limit=1000)
    return {
        n.key.channel.value: (n.state.value, n.next_attempt_at)
        for n in rows
        if n.key.occasion.startswith(f"reminder:{premium_id}:")
    }


def outbox(c: Container, kind: str = "payment_reminder") -> list[tuple[str, str, str]]:
    return [(r["channel"], r["recipient"], r["text"]) for r in c.notify_outbox.records() if r["kind"] == kind]


async def test_a_reminder_goes_3_days_before_at_the_opening_of_the_hours_and_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 12, 11, 5, 0, tzinfo=UTC))  # 12:00 in Phnom Penh, 4 days before 150001
    async with process(tmp_path, clock) as c:
        assert await c.reminders.scan() == 0  # 150001 is due 2026-12-15: not yet
        clock.set_local(2026, 12, 12, 3, 0)  # 3 days before, at night
        await c.reminders.scan()
        nine = datetime(2026, 12, 12, 9, 0, tzinfo=PP)
        assert await reminders_of(c, 150001) == {"push": ("PENDING", nine), "email": ("PENDING", nine)}
        clock.set_local(2026, 12, 12, 8, 59, 59)
        assert await c.dispatcher.run_once() == 0
        assert outbox(c) == []
    async with process(tmp_path, clock) as c:  # a restart: the schedule is in the database
        assert await c.reminders.scan() == 0  # scanning again adds nothing
        clock.set_local(2026, 12, 12, 9, 0)
        assert await c.dispatcher.run_once() >= 2
        sent = {ch: text for ch, who, text in outbox(c) if who in ("john.doe@example.com", "sandbox-device-john-doe")}
        assert sent["push"] == "Reminder: your premium of 150.00 USD for policy P123456789 is due on 2026-12-15."
        assert "Amount due:     150.00 USD" in sent["email"]
        assert {s for s, _ in (await reminders_of(c, 150001)).values()} == {"SENT"}


async def test_never_for_a_premium_paid_before_the_scan_or_before_the_send(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 12, 17, 1, 0, tzinfo=UTC))  # 08:00 on 2026-12-17 local
    async with process(tmp_path, clock) as c:
        async with c.store.transaction() as tx:  # 150001 (due 12-15) is out of range; pay 150002 (due 12-20)
            premium = await tx.premium(150002)
            assert premium is not None
            payment = await tx.insert_open_payment(premium, None, clock())
            assert payment is not None
        await c.reminders.scan()
        assert set(await reminders_of(c, 150002)) == {"push", "email"}  # due at 09:00
        async with c.store.transaction() as tx:
            await tx.mark_premium_paid(150002, payment.id, clock())  # paid at 08:30
        clock.set_local(2026, 12, 17, 9, 0)
        await c.dispatcher.run_once()
        assert {s for s, _ in (await reminders_of(c, 150002)).values()} == {"CANCELLED"}
        assert [r for r in outbox(c) if "P987654321" in r[2]] == []
        async with c.store.transaction() as tx:
            rows = await tx.notifications.listing([NotificationState.CANCELLED])
            assert {n.attempts for n in rows} == {0} and {n.last_error for n in rows} == {"premium already paid"}
            await tx.notifications.set_preferences(Preferences("P987654321"), clock())
        assert await c.reminders.scan() == 0  # paid: never scheduled again


async def test_the_customers_own_hours_and_a_send_that_comes_too_late_in_the_day(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2027, 1, 1, 17, 0, tzinfo=UTC))  # 2027-01-02 00:00 local; 150003 due 01-05
    async with process(tmp_path, clock) as c:
        async with c.store.transaction() as tx:
            await tx.notifications.set_preferences(
                Preferences("P555000111", frozenset({Channel.PUSH, Channel.SMS}), Hours.parse("14:00", "16:00")),
                clock(),
            )
        await c.reminders.scan()
        two = datetime(2027, 1, 2, 14, 0, tzinfo=PP)
        assert await reminders_of(c, 150003) == {"push": ("PENDING", two)}  # no email: not accepted
        clock.set_local(2027, 1, 2, 16, 30)  # the dispatcher comes late, after the customer's hours
        await c.dispatcher.run_once()
        assert await reminders_of(c, 150003) == {"push": ("PENDING", datetime(2027, 1, 3, 14, 0, tzinfo=PP))}
        clock.set_local(2027, 1, 3, 14, 0)
        await c.dispatcher.run_once()  # the sandbox refuses 150003's push token: SMS follows, same text
        await c.dispatcher.run_once()
        found = await reminders_of(c, 150003)
        assert (found["push"][0], found["sms"][0]) == ("DEAD", "SENT")
        [(channel, _, text)] = [r for r in outbox(c) if r[1] == "+85511222333"]
        assert channel == "sms"
        assert text == "សូមរំលឹក៖ បុព្វលាភចំនួន 75.50 USD សម្រាប់បណ្ណសន្យារ៉ាប់រង P555000111 ត្រូវបង់នៅថ្ងៃ 2027-01-05។"


async def test_no_reminder_after_the_due_date(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 12, 15, 11, 30, tzinfo=UTC))  # 18:30 local on 150001's due date
    async with process(tmp_path, clock) as c:
        await c.reminders.scan()
        assert await reminders_of(c, 150001) == {}
        assert date(2026, 12, 15) == (await c.premiums.get(150001)).due_date  # type: ignore[union-attr]
