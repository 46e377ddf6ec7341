"""The per-process fan-out: bounded, conflating subscriber buffers; one serialization per event."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import simplejson as json

from hub import fanout as hub_module
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.fanout import Fanout, Frame, Subscriber
from push.stream import PaymentStream

S = PaymentStatus
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def event(
    event_id: int, status: S = S.PROCESSING, payment_id: int = 7, type_: str = PaymentEvent.STATUS
) -> PaymentEvent:
    data = {"paymentId": payment_id, "status": status.value, "occurredAt": NOW.isoformat()}
    return PaymentEvent(event_id, payment_id, type_, status, data, NOW)


def frame(event_id: int, status: S = S.PROCESSING, payment_id: int = 7) -> Frame:
    return Frame.of(event(event_id, status, payment_id), sent_at=NOW)


# --- Frame ----------------------------------------------------------------------------------


def test_frame_wire_formats() -> None:
    f = frame(12, S.CONFIRMED)
    assert f.terminal and not frame(1, S.PENDING).terminal
    sse = f.sse().decode()
    assert sse.startswith("id: 12\nevent: payment.status\ndata: {") and sse.endswith("}\n\n")
    assert sse.count("\n") == 4, "one data line: the JSON has no newline"
    data = json.loads(sse.split("data: ", 1)[1])
    assert data["sentAt"] == NOW.isoformat() and data["status"] == "CONFIRMED"
    assert json.loads(f.ws()) == {"type": "PAYMENT_STATUS", "id": 12, "data": data}


# --- Subscriber: bounded, conflating ----------------------------------------------------------


def test_slow_consumer_buffer_stays_bounded_and_ends_with_the_newest_status() -> None:
    sub = Subscriber(7, capacity=16)
    for i in range(1, 10_001):
        sub.offer(frame(i, S.PENDING if i % 2 else S.PROCESSING))
        assert len(sub.frames) <= 16
        assert sub.frames[-1].id == i, "the newest status is always kept"
    assert [f.id for f in sub.frames] == list(range(9_985, 10_001)), "oldest frames dropped, order kept"
    assert sub.conflated == 10_000 - 16


def test_slow_consumer_keeps_the_terminal_frame() -> None:
    sub = Subscriber(7, capacity=16)
    ids = itertools.count(1)
    for _ in range(5_000):
        sub.offer(frame(next(ids)))
    terminal = next(ids)
    sub.offer(frame(terminal, S.CONFIRMED))
    for _ in range(5_000):  # e.g. late, flagged events after the terminal status
        sub.offer(frame(next(ids)))
        assert len(sub.frames) <= 16
    assert terminal in [f.id for f in sub.frames if f.terminal]
    kept = [f.id for f in sub.frames]
    assert kept == sorted(kept) and kept[-1] == 10_001


def test_a_buffer_full_of_terminal_frames_refuses_more_without_growing() -> None:
    sub = Subscriber(7, capacity=2)
    sub.offer(frame(1, S.CONFIRMED))
    sub.offer(frame(2, S.FAILED))
    sub.offer(frame(3, S.PROCESSING))
    assert [f.id for f in sub.frames] == [1, 2]


async def test_next_waits_for_a_frame_or_times_out() -> None:
    sub = Subscriber(7)
    assert await sub.next(0.01) is None
    waiter = asyncio.create_task(sub.next(5))
    await asyncio.sleep(0)
    sub.offer(frame(1))
    got = await asyncio.wait_for(waiter, 1)
    assert got is not None and got.id == 1
    sub.offer(frame(2))
    sub.offer(frame(3))
    assert [(await sub.next(0)).id, (await sub.next(0)).id] == [2, 3]  # type: ignore[union-attr]


async def test_a_conflated_stream_still_ends_on_the_terminal_status() -> None:
    hub = Fanout(capacity=16)
    sub = hub.subscribe(7)
    for i in range(1, 1_000):
        await hub.on_event(event(i))
    await hub.on_event(event(1_000, S.CONFIRMED))
    stream = PaymentStream(hub, sub, backlog=[], cursor=0)
    received = [f async for f in stream.frames(heartbeat_s=0.5)]
    assert all(f is not None for f in received)
    ids = [f.id for f in received if f is not None]
    assert len(ids) <= 16 and ids == sorted(set(ids))
    assert ids[-1] == 1_000 and received[-1] is not None and received[-1].terminal
    assert hub.subscriber_count == 0, "the stream unsubscribed when it ended"


async def test_stream_skips_live_frames_already_replayed() -> None:
    hub = Fanout()
    sub = hub.subscribe(7)
    backlog = [frame(3), frame(4)]
    for i in (2, 3, 4, 5):  # live copies of what the log read already returned, then one newer
        await hub.on_event(event(i))
    await hub.on_event(event(6, S.CONFIRMED))
    stream = PaymentStream(hub, sub, backlog, cursor=2)
    ids = [f.id async for f in stream.frames(heartbeat_s=0.5) if f is not None]
    assert ids == [3, 4, 5, 6]


async def test_idle_stream_yields_heartbeat_markers() -> None:
    hub = Fanout()
    stream = PaymentStream(hub, hub.subscribe(7), [], cursor=0)
    frames = stream.frames(heartbeat_s=0.01)
    assert await anext(frames) is None
    assert await anext(frames) is None
    await frames.aclose()
    assert hub.subscriber_count == 0


# --- Fanout: one serialization, one fan-out ------------------------------------------------


async def test_one_serialization_per_event_for_a_thousand_subscribers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original_of = Frame.of.__func__  # type: ignore[attr-defined]
    original_dumps = hub_module.dumps

    def counting_of(cls: type[Frame], e: PaymentEvent, sent_at: datetime | None = None) -> Frame:
        calls.append(e.id)
        return original_of(cls, e, sent_at)  # type: ignore[no-any-return]

    dumps_calls = 0

    def counting_dumps(value: Any) -> str:
        nonlocal dumps_calls
        dumps_calls += 1
        return original_dumps(value)

    monkeypatch.setattr(Frame, "of", classmethod(counting_of))
    monkeypatch.setattr(hub_module, "dumps", counting_dumps)
    hub = Fanout(capacity=16)
    subs = [hub.subscribe(7) for _ in range(1_000)]
    other = hub.subscribe(8)
    assert hub.subscriber_count == 1_001

    await hub.on_event(event(1))
    await hub.on_event(event(2, S.CONFIRMED))
    assert calls == [1, 2] and dumps_calls == 2, "each event serialized once, not per subscriber"
    for sub in subs:
        assert [f.id for f in sub.frames] == [1, 2]
    first = subs[0].frames[0]
    assert all(sub.frames[0] is first for sub in subs), "every subscriber shares the one frame"
    assert not other.frames, "another payment's subscriber gets nothing"
    assert hub.delivered == 2_000

    for sub in subs:
        hub.unsubscribe(sub)
    hub.unsubscribe(other)
    hub.unsubscribe(other)  # twice is harmless
    assert hub.subscriber_count == 0
    assert hub._subs == {}, "no empty per-payment sets left behind"


async def test_non_status_events_and_unwatched_payments_cost_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Frame:
        raise AssertionError("serialized an event nobody receives")

    monkeypatch.setattr(Frame, "of", forbidden)
    hub = Fanout()
    sub = hub.subscribe(7)
    await hub.on_event(event(1, type_="payment.ignored"))
    await hub.on_event(event(2, type_="khqr.generated"))
    await hub.on_event(event(3, payment_id=99))
    assert not sub.frames and hub.delivered == 0
