"""The console's feed of every payment (``push.admin_stream``) over each store: the log after a
cursor, then live frames from the fan-out, without gap or repeat, including frames committed out of
id order."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

from hub.domain.money import Currency
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.fanout import Fanout, Frame
from hub.ports import Store
from push.admin_stream import all_events

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def two_payments(store: Store) -> tuple[list[PaymentEvent], list[PaymentEvent]]:
    """Two payments, each PENDING then CONFIRMED, interleaved; plus a non-status event."""
    async with store.transaction() as tx:
        ids = []
        for pid in (1, 2):
            premium = Premium(pid, f"P{pid:09d}", "Jane Roe", Decimal("10.00"), Currency.USD, date(2026, 12, 1))
            await tx.upsert_premium(premium, T0)
            payment = await tx.insert_open_payment(premium, None, T0)
            assert payment is not None
            ids.append(payment.id)
        a = [await tx.append_event(ids[0], PaymentEvent.STATUS, PaymentStatus.PENDING, {"n": 1}, T0)]
        b = [await tx.append_event(ids[1], PaymentEvent.STATUS, PaymentStatus.PENDING, {"n": 2}, T0)]
        await tx.append_event(ids[0], "payment.note", PaymentStatus.PENDING, {}, T0)
        a.append(await tx.append_event(ids[0], PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {"n": 3}, T0))
        b.append(await tx.append_event(ids[1], PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {"n": 4}, T0))
    return a, b


async def test_status_events_after_reads_every_payment_by_id(store: Store) -> None:
    a, b = await two_payments(store)
    everything = sorted([*a, *b], key=lambda e: e.id)
    async with store.transaction() as tx:
        assert [e.id for e in await tx.notifications.status_events_after(0)] == [e.id for e in everything]
        assert [e.id for e in await tx.notifications.status_events_after(everything[1].id, 2)] == [
            e.id for e in everything[2:4]
        ]
        assert await tx.notifications.status_events_after(everything[-1].id) == []


async def test_replay_then_live_without_gap_or_repeat(store: Store) -> None:
    a, b = await two_payments(store)
    hub = Fanout()
    frames = all_events(store, hub, a[0].id, heartbeat_s=0.05)
    got = [await anext(frames) for _ in range(3)]  # the log after the cursor
    assert [f.id for f in got if f] == sorted(e.id for e in (b[0], a[1], b[1]))
    assert hub.subscriber_count == 1

    async with store.transaction() as tx:
        late = await tx.append_event(a[0].payment_id, PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {"n": 5}, T0)
    await hub.on_event(b[1])  # already replayed: skipped
    await hub.on_event(late)
    # a[0] is below every id sent and was never sent (the cursor): as an event committed out of id
    # order after the log was read, it is still delivered
    await hub.on_event(a[0])
    live = [await anext(frames), await anext(frames)]
    assert [f.id for f in live if isinstance(f, Frame)] == [late.id, a[0].id]
    assert live[0] is not None and live[0].payment_id == a[0].payment_id
    assert await anext(frames) is None  # a heartbeat: nothing else came
    await frames.aclose()
    assert hub.subscriber_count == 0


async def test_without_a_cursor_only_live_frames(store: Store) -> None:
    a, _ = await two_payments(store)
    hub = Fanout()
    frames = all_events(store, hub, None, heartbeat_s=0.05)
    waiting = asyncio.ensure_future(anext(frames))
    await asyncio.sleep(0.01)
    await hub.on_event(a[1])
    frame = await waiting
    assert frame is not None and frame.id == a[1].id
    await frames.aclose()
    assert hub.subscriber_count == 0


async def test_a_cursor_far_behind_replays_only_the_newest_events(store: Store) -> None:
    a, b = await two_payments(store)
    hub = Fanout()
    async with store.transaction() as tx:
        last = await tx.notifications.last_event_id()
    frames = all_events(store, hub, 0, heartbeat_s=0.05, max_replay=2)
    got = []
    while (frame := await anext(frames)) is not None:
        got.append(frame.id)
    assert got == [e.id for e in sorted([*a, *b], key=lambda e: e.id) if e.id > last - 2]
    await frames.aclose()


async def test_the_admin_token_is_taken_from_the_header_only() -> None:
    """The docstring's promise: no admin token in a URL (access logs, proxies, ``Referer``)."""
    import httpx
    from starlette.applications import Starlette

    from hub.adapters.store.memory import MemoryStore
    from hub.auth import Authenticator
    from hub.http.errors import EXCEPTION_HANDLERS
    from push.admin_stream import AdminStreamDeps, routes

    auth = Authenticator(secret="s" * 32, subscribe_secret="t" * 32)
    deps = AdminStreamDeps(MemoryStore(), Fanout(), auth)
    app = Starlette(routes=routes(deps), exception_handlers=dict(EXCEPTION_HANDLERS))
    admin, customer = auth.issue("ops", "admin"), auth.issue("demo", "customer")
    # a bad cursor answers 400 once the token is accepted, so no stream opens in this test
    url = "http://ops/admin/events/stream?lastEventId=x"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        r = await client.get(f"{url}&token={admin}")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
        assert (await client.get(url, headers={"Authorization": f"Bearer {customer}"})).status_code == 403
        assert (await client.get(url, headers={"Authorization": f"Bearer {admin}"})).status_code == 400
