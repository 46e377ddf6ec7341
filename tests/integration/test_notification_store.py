"""The notification rows of the store port, one contract for the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hub.domain.money import Currency
from hub.domain.notification import Channel, Contact, Hours, Language, NotificationState, Preferences
from hub.domain.payment import PaymentStatus
from hub.domain.records import Premium
from hub.ports import Store
from tests.notifications_data import webhook_notification

T0 = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


async def test_enqueue_keeps_one_row_per_key(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.notifications.enqueue(webhook_notification(1, T0), T0)
        assert not await tx.notifications.enqueue(webhook_notification(1, T0 + timedelta(hours=1)), T0)
        assert await tx.notifications.enqueue(webhook_notification(1, T0, partner="beta"), T0)
        assert await tx.count("notifications") == 2
        rows = await tx.notifications.listing([NotificationState.PENDING])
    assert {(n.key.recipient, n.next_attempt_at) for n in rows} == {("acme", T0), ("beta", T0)}
    assert rows[0].message_id != rows[1].message_id
    assert rows[0].content.text.startswith('{"type":"payment.confirmed"')


async def test_claim_leases_due_rows_and_outcomes_are_recorded(store: Store) -> None:
    async with store.transaction() as tx:
        for i in range(1, 4):
            await tx.notifications.enqueue(webhook_notification(i, T0 + timedelta(seconds=i)), T0)
    lease = T0 + timedelta(minutes=2)
    async with store.transaction() as tx:
        claimed = await tx.notifications.claim(T0 + timedelta(seconds=2), lease, 10)
    assert [n.key.occasion for n in claimed] == ["event:1", "event:2"]  # the third is not due yet
    assert all(n.attempts == 1 and n.next_attempt_at == lease for n in claimed)
    async with store.transaction() as tx:  # leased: not claimed again before the lease ends
        assert [n.key.occasion for n in await tx.notifications.claim(T0 + timedelta(seconds=60), lease, 10)] == [
            "event:3"
        ]
        again = await tx.notifications.claim(lease, lease + timedelta(minutes=2), 10)  # a sender died: due again
    assert [(n.key.occasion, n.attempts) for n in again] == [("event:1", 2), ("event:2", 2), ("event:3", 2)]
    first, second, third = again
    now = lease + timedelta(seconds=1)
    async with store.transaction() as tx:
        await tx.notifications.finish(first.id, NotificationState.SENT, now)
        await tx.notifications.finish(second.id, NotificationState.FAILED, now, error="HTTP 503", next_attempt_at=now)
        await tx.notifications.finish(third.id, NotificationState.DEAD, now, error="HTTP 410")
        got = {n.id: n for n in await tx.notifications.listing(list(NotificationState))}
    assert (got[first.id].state, got[first.id].sent_at, got[first.id].next_attempt_at) == (
        NotificationState.SENT,
        now,
        None,
    )
    assert (got[second.id].state, got[second.id].last_error) == (NotificationState.FAILED, "HTTP 503")
    async with store.transaction() as tx:
        assert [n.id for n in await tx.notifications.claim(now, now + timedelta(minutes=2), 10)] == [second.id]
        await tx.notifications.finish(second.id, NotificationState.PENDING, now, next_attempt_at=now, attempts_delta=-1)
        assert (await tx.notifications.get(second.id)).attempts == 2  # type: ignore[union-attr]
        assert await tx.notifications.revive([first.id, third.id], now) == [third.id]  # only DEAD ones
        revived = await tx.notifications.get(third.id)
        assert revived is not None
        assert (revived.state, revived.attempts, revived.last_error) == (NotificationState.PENDING, 0, "HTTP 410")
        assert await tx.notifications.revive(None, now) == []
        counts = await tx.notifications.count_by_state()
    assert counts == {"PENDING": 2, "SENT": 1, "FAILED": 0, "DEAD": 0, "CANCELLED": 0}


async def test_a_sender_whose_lease_ended_cannot_undo_the_outcome_of_the_next(store: Store) -> None:
    """A sends past its lease; B claims the row again and sends it: SENT. A's late failure must not make
    it FAILED (it would be sent a third time), nor A's late DEAD start an SMS fallback."""
    async with store.transaction() as tx:
        await tx.notifications.enqueue(webhook_notification(1, T0), T0)
        [a] = await tx.notifications.claim(T0, T0 + timedelta(minutes=2), 10)
    later = T0 + timedelta(minutes=3)
    async with store.transaction() as tx:
        [b] = await tx.notifications.claim(later, later + timedelta(minutes=2), 10)
        assert (a.attempts, b.attempts) == (1, 2)
        assert await tx.notifications.finish(b.id, NotificationState.SENT, later, claimed=b.attempts)
        for state in (NotificationState.FAILED, NotificationState.DEAD, NotificationState.SENT):
            stale = await tx.notifications.finish(
                a.id, state, later, error="timeout", next_attempt_at=later, claimed=a.attempts
            )
            assert stale is False
        row = await tx.notifications.get(a.id)
    assert row is not None
    assert (row.state, row.attempts, row.last_error, row.sent_at) == (NotificationState.SENT, 2, None, later)


async def test_preferences_and_cursors(store: Store) -> None:
    prefs = Preferences("P123456789", frozenset({Channel.EMAIL, Channel.SMS}), Hours.parse("20:00", "08:00"))
    async with store.transaction() as tx:
        assert await tx.notifications.preferences("P123456789") is None
        await tx.notifications.set_preferences(prefs, T0)
        await tx.notifications.set_preferences(prefs, T0)
        assert await tx.notifications.preferences("P123456789") == prefs
        await tx.notifications.set_preferences(Preferences("P123456789"), T0)
        assert await tx.notifications.preferences("P123456789") == Preferences("P123456789")
        assert await tx.notifications.cursor("notifier") is None
        await tx.notifications.set_cursor("notifier", 41, T0)
        await tx.notifications.set_cursor("notifier", 42, T0)
        assert await tx.notifications.cursor("notifier") == 42


def premium(pid: int, due: date, contact: Contact | None = None) -> Premium:
    return Premium(pid, f"P{pid:09d}", "Jane Roe", Decimal("10.00"), Currency.USD, due, contact=contact or Contact())


async def test_contacts_due_premiums_and_outcome_events(store: Store) -> None:
    contact = Contact("+85512345678", "jane@example.com", "token-1", Language.KM)
    async with store.transaction() as tx:
        await tx.upsert_premium(premium(1, date(2026, 12, 1), contact), T0)
        await tx.upsert_premium(premium(2, date(2026, 12, 3)), T0)
        await tx.upsert_premium(premium(3, date(2026, 12, 9)), T0)
        assert (await tx.premium(1)).contact == contact  # type: ignore[union-attr]
        assert (await tx.premium(2)).contact == Contact()  # type: ignore[union-attr]
        await tx.upsert_premium(premium(1, date(2026, 12, 1), Contact(email="new@example.com")), T0)
        assert (await tx.premium(1)).contact == Contact(email="new@example.com")  # type: ignore[union-attr]
        assert [p.id for p in await tx.notifications.due_premiums(date(2026, 12, 1), date(2026, 12, 4))] == [1, 2]
        assert [p.id for p in await tx.notifications.due_premiums(date(2026, 12, 1), date(2026, 12, 9), 1, 1)] == [2]
        paying = await tx.insert_open_payment(await tx.premium(2), None, T0)  # type: ignore[arg-type]
        assert paying is not None
        await tx.mark_premium_paid(2, paying.id, T0)
        assert [p.id for p in await tx.notifications.due_premiums(date(2026, 12, 1), date(2026, 12, 9))] == [1, 3]
        assert await tx.notifications.last_event_id() == 0
        kinds = [PaymentStatus.PENDING, PaymentStatus.CONFIRMED, PaymentStatus.FAILED]
        events = [await tx.append_event(paying.id, "payment.status", s, {"n": i}, T0) for i, s in enumerate(kinds)]
        await tx.append_event(paying.id, "payment.ignored", PaymentStatus.FAILED, {}, T0)
        assert await tx.notifications.last_event_id() == events[-1].id + 1
        outcomes = await tx.notifications.outcome_events_after(0)
        assert [e.status for e in outcomes] == [PaymentStatus.CONFIRMED, PaymentStatus.FAILED]
        assert await tx.notifications.outcome_events_after(events[1].id) == outcomes[1:]
