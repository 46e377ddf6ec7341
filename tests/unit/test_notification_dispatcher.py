"""The dispatcher's outcome rules against the in-memory store, with a fake clock and scripted channels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tenacity import wait_fixed

from hub.adapters.store.memory import MemoryStore
from hub.domain.notification import Channel, Hours, Language, NotificationState
from hub.errors import ChannelUnavailable
from hub.ports.notify import Outbound
from notifier.dispatcher import Dispatcher, RetryPolicy
from notifier.messages import Templates
from notifier.plan import PlanConfig, Planner
from tests.notifications_data import webhook_notification

T0 = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
PP = ZoneInfo("Asia/Phnom_Penh")
HOURS = Hours(time(9), time(18))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class SlowThenFailing:
    """The first send hangs until released, then fails as an outage; later sends go through."""

    channel = Channel.WEBHOOK

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def send(self, message: Outbound) -> None:
        if not self.started.is_set():
            self.started.set()
            await self.release.wait()
            raise ChannelUnavailable("partner answered 503")
        self.sent.append(message.message_id)

    async def aclose(self) -> None:
        return None


def dispatcher(store: MemoryStore, channel: SlowThenFailing, clock: Clock) -> Dispatcher:
    planner = Planner(PlanConfig(frozenset(Channel), Language.EN, HOURS, PP), Templates())
    return Dispatcher(
        store,
        {Channel.WEBHOOK: channel},
        planner,
        {Channel.WEBHOOK: RetryPolicy(5, wait_fixed(1))},
        hours=HOURS,
        tz=PP,
        clock=clock,
        lease_s=120,
    )


async def test_a_send_that_outlives_its_lease_never_undoes_the_sent_of_the_next_claim() -> None:
    store, clock, channel = MemoryStore(), Clock(), SlowThenFailing()
    async with store.transaction() as tx:
        await tx.notifications.enqueue(webhook_notification(1, T0), T0)
    slow, other = dispatcher(store, channel, clock), dispatcher(store, channel, clock)
    first = asyncio.create_task(slow.run_once())
    await channel.started.wait()
    clock.now = T0 + timedelta(minutes=3)  # the lease ended: another notifier claims the row and sends it
    assert await other.run_once() == 1
    channel.release.set()  # the first send fails, late
    await first
    async with store.transaction() as tx:
        [row] = await tx.notifications.listing(list(NotificationState))
    assert row.state is NotificationState.SENT
    clock.now += timedelta(hours=1)
    assert await other.run_once() == 0  # nothing to send again
    assert len(channel.sent) == 1
