"""The fan-out's memory of the newest status per payment (``hub.fanout.LatestStatus``), the process
heartbeat timer, and the SSE ``retry:`` jitter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.fanout import Fanout, Frame, LatestStatus
from push.app import Retry
from push.stream import PaymentStream

S = PaymentStatus
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def event(event_id: int, payment_id: int, status: S = S.PROCESSING, **data: object) -> PaymentEvent:
    return PaymentEvent(event_id, payment_id, PaymentEvent.STATUS, status, {"status": status.value, **data}, NOW)


@given(st.lists(st.tuples(st.integers(1, 30), st.integers(1, 10_000)), max_size=300), st.integers(1, 12))
def test_memory_is_bounded_and_keeps_the_newest_event_of_each_payment(offers: list[tuple[int, int]], size: int) -> None:
    memory = LatestStatus(size)
    newest: dict[int, int] = {}  # reference: payment -> newest id, in order of last move forward
    for payment_id, event_id in offers:
        memory.remember(event(event_id, payment_id))
        if newest.get(payment_id, 0) < event_id:
            newest.pop(payment_id, None)
            newest[payment_id] = event_id
            if len(newest) > size:
                del newest[next(iter(newest))]
        assert len(memory) == len(newest) <= size
    for payment_id in range(1, 31):
        known = memory.get(payment_id)
        assert (known.id if known else None) == newest.get(payment_id), "only ever moves forward"


def test_memory_keeps_only_what_a_stream_needs() -> None:
    memory = LatestStatus(10)
    memory.remember(event(5, 1, S.PROCESSING, estimatedCompletion="2026-11-30T12:05:00Z", amount="10.00"))
    kept = memory.get(1)
    assert kept is not None and kept.status is S.PROCESSING and kept.occurred_at == NOW
    assert kept.data == {"estimatedCompletion": "2026-11-30T12:05:00Z"}
    memory.remember(PaymentEvent(9, 1, "payment.review", S.PROCESSING, {}, NOW))
    assert memory.get(1) is kept, "audit events are not statuses"
    assert len(LatestStatus(0)) == 0 and (LatestStatus(0).remember(event(1, 1)) is None)


async def test_the_fanout_feeds_its_memory() -> None:
    hub = Fanout(remember=2)
    for i, payment_id in enumerate((1, 2, 1, 3), start=1):
        await hub.on_event(event(i, payment_id))
    assert hub.latest.get(1) is not None and hub.latest.get(1).id == 3  # type: ignore[union-attr]
    assert hub.latest.get(2) is None, "forgotten: least recently updated beyond the bound"
    assert hub.latest.get(3) is not None


# --- one heartbeat timer per process ----------------------------------------------------------


async def test_one_timer_beats_every_idle_stream_and_stops_with_the_last() -> None:
    hub = Fanout()
    streams = [PaymentStream(hub, hub.subscribe(p), [], cursor=0) for p in range(1, 101)]
    iterators = [s.frames(heartbeat_s=0.02) for s in streams]
    beats = await asyncio.wait_for(asyncio.gather(*(anext(i) for i in iterators)), 2)
    assert beats == [None] * 100, "every idle stream got a heartbeat"
    assert len(hub._beat_timers) == 1, "one timer for all of them, not one each"
    for i in iterators:
        await i.aclose()
    assert hub.subscriber_count == 0
    await asyncio.sleep(0.05)
    assert hub._beat_timers == {} and hub._beating == {}, "the timer stops with its last subscriber"


async def test_a_heartbeat_comes_at_the_second_half_period_tick_of_silence() -> None:
    """The timer ticks every half interval; the second tick with nothing taken makes a heartbeat due, so
    silence never exceeds the interval (ARCHITECTURE.md: heartbeat <= 15 s) and an idle stream gets one
    per interval. Driven tick by tick (no clock)."""
    hub = Fanout()
    sub = hub.subscribe(7)
    hub.heartbeat(sub, 3600.0)
    assert len(hub._beat_timers) == 1

    def tick() -> None:  # half an interval: the timer's calls, one per slot
        for _ in range(Fanout.HEARTBEAT_SLOTS):
            hub._beat(3600.0)

    tick()
    assert not sub.beat_due, "one half period of silence: not yet"
    sub.offer(Frame.of(event(1, 7)))
    assert (await sub.next_or_beat()) is not None  # a frame taken: the silence starts over
    tick()
    assert not sub.beat_due
    tick()
    assert sub.beat_due, "two ticks of silence: a heartbeat"
    assert await sub.next_or_beat() is None
    for _ in range(3):
        tick()
        tick()
        assert sub.beat_due and await sub.next_or_beat() is None, "idle: one heartbeat per interval"
        assert not sub.beat_due
    hub.unsubscribe(sub)
    hub.stop_heartbeats()


async def test_a_closed_subscriber_ends_its_stream_and_is_unsubscribed() -> None:
    hub = Fanout()
    sub = hub.subscribe(7)
    frames = PaymentStream(hub, sub, [], cursor=0).frames(heartbeat_s=60)
    waiting = asyncio.ensure_future(anext(frames))
    await asyncio.sleep(0)
    sub.close()  # the client went away (push.sse: the request saw http.disconnect)
    try:
        await asyncio.wait_for(waiting, 1)
        raise AssertionError("the stream should have ended")
    except StopAsyncIteration:
        pass
    assert hub.subscriber_count == 0 and not any(hub._beating.get(60, []))


# --- SSE retry with jitter ----------------------------------------------------------------------


def test_retry_field_is_in_range_and_jittered() -> None:
    retry = Retry(base_ms=1000, jitter_ms=5000)
    values = []
    for _ in range(400):
        line = retry.field()
        assert line.startswith(b"retry: ") and line.endswith(b"\n\n")
        values.append(int(line[7:-2]))
    assert all(1000 <= v <= 6000 for v in values)
    assert len(set(values)) > 100, "drawn per stream, not one value for all"
    assert min(values) < 2000 and max(values) > 5000, "spread over the whole range"
    assert Retry(250, 0).field() == b"retry: 250\n\n"
