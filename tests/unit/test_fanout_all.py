"""``Fanout.subscribe_all``: the console's subscriber offered every payment's status events."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.fanout import Fanout

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def event(event_id: int, payment_id: int, status: PaymentStatus = PaymentStatus.PENDING) -> PaymentEvent:
    return PaymentEvent(event_id, payment_id, PaymentEvent.STATUS, status, {"paymentId": payment_id}, T0)


async def test_every_payment_reaches_it_once_and_other_subscribers_still_get_theirs() -> None:
    hub = Fanout()
    everything = hub.subscribe_all("sse")
    one = hub.subscribe(7, "ws")
    for i, pid in enumerate([7, 8, 7, 9], start=1):
        await hub.on_event(event(i, pid))
    await hub.on_event(PaymentEvent(5, 8, "payment.note", PaymentStatus.PENDING, {}, T0))  # not a status
    assert [f.id for f in everything.frames] == [1, 2, 3, 4]
    assert [f.id for f in one.frames] == [1, 3]
    assert hub.subscriber_count == 2
    assert hub.subscribers_by_transport() == {"sse": 1, "ws": 1, "longpoll": 0}
    hub.unsubscribe(everything)
    hub.unsubscribe(everything)  # twice: harmless
    hub.unsubscribe(one)
    assert hub.subscriber_count == 0
    await hub.on_event(event(6, 7))  # nobody listens: nothing breaks


@given(st.lists(st.tuples(st.integers(1, 5), st.booleans()), max_size=400))
def test_a_slow_reader_keeps_bounded_memory_and_every_terminal_status(moves: list[tuple[int, bool]]) -> None:
    import asyncio

    async def run() -> None:
        hub = Fanout()
        sub = hub.subscribe_all("sse", capacity=16)
        terminal_ids = []
        for i, (pid, terminal) in enumerate(moves, start=1):
            status = PaymentStatus.CONFIRMED if terminal else PaymentStatus.PROCESSING
            await hub.on_event(event(i, pid, status))
            if terminal:
                terminal_ids.append(i)
            assert len(sub.frames) <= 16
        kept = [f.id for f in sub.frames]
        assert kept == sorted(kept)
        # terminal frames are dropped only when the buffer holds nothing else (then the newest is refused)
        if len(terminal_ids) <= 16:
            assert set(terminal_ids) <= set(kept)

    asyncio.run(run())
