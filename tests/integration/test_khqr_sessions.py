"""QR sessions over time: expiry with a controllable clock (and the real loop), a new session after
expiry, catch-up after a restart, and the ``GET /khqr/sessions/{id}`` long-poll."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.domain.records import PaymentEvent
from hub.fanout import Frame
from payhub.bootstrap import Container
from push.stream import open_stream
from tests.conftest import LiveServer, auth_header, make_settings, process, running
from tests.integration.test_push_sse import SseReader

BANK = '{"id":"AMK","bank":"AMK"}'


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    fake = FakeClock()
    container.expiry.clock = fake
    container.khqr.clock = fake
    yield fake


async def new_session(c: Container, client: httpx.AsyncClient, bill: str = "P123456789") -> dict[str, Any]:
    r = await client.get("/khqr", params={"bankCode": BANK, "billNumber": bill}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def session_status(c: Container, client: httpx.AsyncClient, session_id: str, **params: Any) -> httpx.Response:
    return await client.get(f"/khqr/sessions/{session_id}", params=params, headers=auth_header(c))


async def status_events(c: Container, payment_id: int) -> list[PaymentEvent]:
    return await c.store.events_after(payment_id, 0)


async def stored_session_status(c: Container, session_id: str) -> str:
    async with c.store.transaction() as tx:
        session = await tx.khqr_sessions.get(session_id)
    assert session is not None
    return session.status


# --- expiry ---------------------------------------------------------------------------------


async def test_expiry_emits_expired_to_subscribers(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await new_session(container, client)
    payment_id = session["paymentId"]
    stream = await open_stream(container.store, container.push, payment_id, None)
    assert stream is not None
    received: list[Frame] = []

    async def watch() -> None:
        async for frame in stream.frames(heartbeat_s=10):
            assert frame is not None
            received.append(frame)

    watcher = asyncio.create_task(watch())
    clock.advance(minutes=29, seconds=59)
    assert await container.expiry.expire_due() == 0
    assert await stored_session_status(container, session["sessionId"]) == "PENDING"
    assert await container.expiry.seconds_to_next() == pytest.approx(1, abs=0.01)

    clock.advance(seconds=1)
    assert await container.expiry.expire_due() == 1
    await asyncio.wait_for(watcher, 5)  # the stream ended on its own: EXPIRED is terminal
    assert [f.status.value for f in received] == ["PENDING", "EXPIRED"]
    events = await status_events(container, payment_id)
    assert [e.status.value for e in events] == ["PENDING", "EXPIRED"]
    assert received[-1].id == events[-1].id
    assert await stored_session_status(container, session["sessionId"]) == "EXPIRED"
    r = await session_status(container, client, session["sessionId"])
    assert r.json()["data"]["status"] == "EXPIRED" and r.json()["data"]["paymentStatus"] == "EXPIRED"

    assert await container.expiry.expire_due() == 0, "expired once"
    assert len(await status_events(container, payment_id)) == 2


async def test_session_reads_expired_at_expires_at_even_before_the_scheduler_ran(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await new_session(container, client)
    clock.advance(minutes=30)
    r = await session_status(container, client, session["sessionId"])
    assert r.json()["data"]["status"] == "EXPIRED"


async def test_after_expiry_a_new_session_with_a_new_payment(
    container: Container, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await new_session(container, client)
    clock.advance(minutes=31)  # nobody ran the scheduler: asking again must not hand out the old QR
    second = await new_session(container, client)
    assert second["sessionId"] != first["sessionId"]
    assert second["paymentId"] != first["paymentId"]
    assert second["qrString"] != first["qrString"]
    for key in ("policyId", "customerName", "amount", "currency"):
        assert second[key] == first[key], key
    assert datetime.fromisoformat(second["expiresAt"]) == clock.now + timedelta(minutes=30)
    assert await stored_session_status(container, first["sessionId"]) == "EXPIRED"
    assert [e.status.value for e in await status_events(container, first["paymentId"])] == ["PENDING", "EXPIRED"]
    assert await stored_session_status(container, second["sessionId"]) == "PENDING"
    # And the new one is reused while valid.
    assert (await new_session(container, client))["sessionId"] == second["sessionId"]


async def test_a_session_created_during_an_expiry_pass_wakes_the_loop(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wake() that lands while the loop is busy (between its pass and its sleep) is not lost."""
    expiry = container.expiry
    passes = 0
    original = expiry.seconds_to_next

    async def planning_while_a_session_is_created() -> float:
        delay = await original()
        if passes == 1:
            expiry.wake()  # a new session, created while this pass was planning its sleep
        return delay

    second_pass = asyncio.Event()

    async def counting_pass() -> int:
        nonlocal passes
        passes += 1
        if passes == 2:
            second_pass.set()
        return 0

    monkeypatch.setattr(expiry, "expire_due", counting_pass)
    monkeypatch.setattr(expiry, "seconds_to_next", planning_while_a_session_is_created)
    loop = asyncio.create_task(expiry.run_forever())
    try:
        try:
            await asyncio.wait_for(second_pass.wait(), 2)
        except TimeoutError:
            raise AssertionError("the wake-up was lost: the loop slept its full delay") from None
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_the_background_loop_expires_without_anyone_polling(db_url: str) -> None:
    """Real time: a 1 s session, the scheduler woken by its creation, an SSE client sees EXPIRED."""
    async with running(make_settings(db_url, khqr_session_ttl_s=1), background=True) as c:
        async with LiveServer(c.app) as live, httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            session = await new_session(c, http)
            started = time.monotonic()
            url = f"/api/payments/{session['paymentId']}/events"
            async with http.stream("GET", url, params={"token": session["subscribeToken"]}) as r:
                frames = await SseReader(r).rest(within=5)
            assert [f.data["status"] for f in frames if f.data] == ["PENDING", "EXPIRED"]
            assert time.monotonic() - started < 3
            r = await http.get(url, params={"token": session["subscribeToken"], "lastEventId": frames[-1].id})
            assert r.status_code == 204


# --- restart catch-up -----------------------------------------------------------------------


async def _session_then_close(db_url: str) -> dict[str, Any]:
    async with running(make_settings(db_url)) as c:
        transport = httpx.ASGITransport(app=c.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await new_session(c, client)


async def _assert_expired_by_start(c: Container, session: dict[str, Any]) -> None:
    assert await stored_session_status(c, session["sessionId"]) == "EXPIRED"
    events = await status_events(c, session["paymentId"])
    assert [e.status.value for e in events] == ["PENDING", "EXPIRED"]
    payment = await c.store.payment(session["paymentId"])
    assert payment is not None and payment.status.value == "EXPIRED"


async def test_restart_applies_expiries_that_fell_due_while_down(db_url: str) -> None:
    session = await _session_then_close(db_url)
    async with process(make_settings(db_url)) as c:
        c.expiry.clock = lambda: datetime.now(UTC) + timedelta(minutes=31)
        await c.start(background=False)
        await _assert_expired_by_start(c, session)


async def test_restart_catch_up_with_the_row_already_past_due(db_url: str) -> None:
    session = await _session_then_close(db_url)
    async with process(make_settings(db_url)) as c:
        async with c.store.transaction() as tx:
            await tx._c.execute(  # the SQL adapter's own connection (test-only)
                "UPDATE khqr_sessions SET expires_at = $1 WHERE id = $2",
                datetime.now(UTC) - timedelta(seconds=1),
                session["sessionId"],
            )
        await c.start(background=False)
        await _assert_expired_by_start(c, session)


async def test_restart_leaves_a_valid_session_alone(db_url: str) -> None:
    session = await _session_then_close(db_url)
    async with process(make_settings(db_url)) as c:
        await c.start(background=False)
        assert await stored_session_status(c, session["sessionId"]) == "PENDING"
        assert len(await status_events(c, session["paymentId"])) == 1


# --- long-poll ------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_the_payment_is_paid(
    container: Container, client: httpx.AsyncClient
) -> None:
    session = await new_session(container, client)
    now = (await session_status(container, client, session["sessionId"])).json()["data"]
    assert now["status"] == "PENDING"
    started = time.monotonic()
    poll = asyncio.create_task(
        session_status(container, client, session["sessionId"], wait=5, after=now["lastEventId"])
    )
    await asyncio.sleep(0.2)
    assert not poll.done(), "the long-poll holds while nothing happens"
    paid = await client.post("/sandbox/amk/simulate/pay", json={"paymentId": session["paymentId"], "method": "KHQR"})
    assert paid.status_code == 200, paid.text
    r = await asyncio.wait_for(poll, 5)
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "PAID" and data["paymentStatus"] == "CONFIRMED"
    assert data["lastEventId"] > now["lastEventId"]
    assert elapsed < 2.5, f"answered after {elapsed:.2f}s, not as soon as paid"


async def test_long_poll_returns_on_expiry(container: Container, client: httpx.AsyncClient, clock: FakeClock) -> None:
    session = await new_session(container, client)
    poll = asyncio.create_task(session_status(container, client, session["sessionId"], wait=5))
    await asyncio.sleep(0.1)
    clock.advance(minutes=31)
    started = time.monotonic()
    await container.expiry.expire_due()
    r = await asyncio.wait_for(poll, 5)
    assert r.json()["data"]["status"] == "EXPIRED"
    assert time.monotonic() - started < 1


async def test_long_poll_without_events_returns_after_wait(container: Container, client: httpx.AsyncClient) -> None:
    session = await new_session(container, client)
    started = time.monotonic()
    r = await session_status(container, client, session["sessionId"], wait=0.4)
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and r.json()["data"]["status"] == "PENDING"
    assert 0.35 <= elapsed < 2, elapsed


async def test_long_poll_with_an_old_cursor_answers_at_once(container: Container, client: httpx.AsyncClient) -> None:
    session = await new_session(container, client)
    started = time.monotonic()
    r = await session_status(container, client, session["sessionId"], wait=5, after=0)
    assert r.json()["data"]["status"] == "PENDING"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("wait", "abc"),
        ("wait", "-1"),
        ("wait", "61"),
        ("wait", "nan"),
        ("wait", "inf"),
        ("after", "x"),
        ("after", "-1"),
        ("after", "nan"),
        ("after", "inf"),
    ],
)
async def test_bad_long_poll_parameters(container: Container, client: httpx.AsyncClient, name: str, value: str) -> None:
    session = await new_session(container, client)
    params = {"wait": "0.1", name: value}  # with a wait, so that ``after`` is used
    r = await session_status(container, client, session["sessionId"], **params)
    assert r.status_code == 400, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [name]


async def test_session_status_access(container: Container, client: httpx.AsyncClient) -> None:
    session = await new_session(container, client)
    other = await new_session(container, client, "P987654321")
    url = f"/khqr/sessions/{session['sessionId']}"
    assert (await client.get(url)).status_code == 401
    own = {"Authorization": f"Bearer {session['subscribeToken']}"}
    assert (await client.get(url, headers=own)).status_code == 200
    foreign = {"Authorization": f"Bearer {other['subscribeToken']}"}
    assert (await client.get(url, headers=foreign)).status_code == 403
    r = await session_status(container, client, "no-such-session")
    assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
