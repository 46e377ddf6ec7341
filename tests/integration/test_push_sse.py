"""Server-Sent Events over real HTTP against a live uvicorn server (SQLite containers).

Contract (ARCHITECTURE.md, Push): snapshot first, live frames, resume from ``Last-Event-ID`` /
``?lastEventId=`` with exactly the missed events, end after a terminal status and 204 on a
reconnect at or past it, heartbeats, and authorization before any stream data.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import simplejson as json

from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.service.ledger import transition
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, make_settings, running
from tests.integration.test_push_race import add_latency, fresh_payment

DEADLINE_S = 5.0
SSE_RACE_ROUNDS = 100
EVENT_STREAM = "text/event-stream"


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    """Push tests run on SQLite only (the race test covers PostgreSQL)."""
    return f"sqlite:///{tmp_path}/payhub.db"


# --- helpers -------------------------------------------------------------------------------


@dataclass
class SseBlock:
    """One blank-line-terminated block of an event stream."""

    id: int | None = None
    event: str | None = None
    data: dict[str, Any] | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


class SseReader:
    """A strict little parser of ``text/event-stream`` lines from an httpx streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.blocks: list[SseBlock] = []

    async def block(self, within: float = DEADLINE_S) -> SseBlock | None:
        """The next block, or None when the server ended the stream."""
        current = SseBlock()
        seen = False
        while True:
            try:
                line = await asyncio.wait_for(self._lines.__anext__(), within)
            except TimeoutError:
                raise AssertionError(f"no SSE line within {within}s (after {len(self.blocks)} blocks)") from None
            except StopAsyncIteration:
                assert not seen, "stream ended in the middle of a block"
                return None
            if line == "":
                if seen:
                    self.blocks.append(current)
                    return current
                continue
            seen = True
            if line.startswith(":"):
                current.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = int(value)
            elif name == "event":
                current.event = value
            elif name == "data":
                assert current.data is None, "one data line per frame"
                current.data = json.loads(value, use_decimal=True)
            elif name == "retry":
                current.retry = int(value)
            else:
                raise AssertionError(f"unexpected SSE field {name!r}")

    async def frame(self, within: float = DEADLINE_S) -> SseBlock | None:
        """The next block carrying data (skips the retry hint and heartbeats); None at the end."""
        while True:
            block = await self.block(within)
            if block is None or block.data is not None:
                return block

    async def rest(self, within: float = DEADLINE_S) -> list[SseBlock]:
        """Every data frame until the server ends the stream."""
        frames = []
        while (block := await self.frame(within)) is not None:
            frames.append(block)
        return frames


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as c:
        yield c


async def inquire(c: Container, http: httpx.AsyncClient, policy: str = "P123456789") -> tuple[int, str]:
    r = await http.get("/AMK/payments", params={"query": policy}, headers=auth_header(c))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return int(data["paymentId"]), str(data["subscribeToken"])


async def move(c: Container, payment_id: int, status: str) -> list[PaymentEvent]:
    """Commit a status change (with its event), then publish it, as the services do."""
    async with c.store.transaction() as tx:
        payment = await tx.payment(payment_id, lock=True)
        assert payment is not None
        _, events, _ = await transition(tx, payment, PaymentStatus(status), datetime.now(UTC))
    await c.bus.publish(events)
    return events


def events_path(payment_id: int) -> str:
    return f"/api/payments/{payment_id}/events"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status_ids(c: Container, payment_id: int, after: int = 0) -> list[int]:
    return [e.id for e in await c.store.events_after(payment_id, after)]


async def wait_until(predicate: Any, within: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# --- snapshot, live, end --------------------------------------------------------------------


async def test_snapshot_first_then_live_confirmed_then_end(container: Container, http: httpx.AsyncClient) -> None:
    payment_id, token = await inquire(container, http)
    [pending_id] = await status_ids(container, payment_id)
    async with http.stream("GET", events_path(payment_id), headers=bearer(token)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(EVENT_STREAM)
        assert r.headers["cache-control"] == "no-store, no-transform"  # issue 7 §6: proxies must not buffer
        assert r.headers["x-accel-buffering"] == "no"
        sse = SseReader(r)
        first = await sse.frame()
        assert first is not None and first.data is not None
        assert (first.id, first.event) == (pending_id, "payment.status")
        data = first.data
        assert data["paymentId"] == payment_id and data["status"] == "PENDING"
        assert data["policyNumber"] == "P123456789" and data["currency"] == "USD"
        assert str(data["amount"]) == "150.00"  # exact decimal, never a float
        occurred = datetime.fromisoformat(data["occurredAt"])
        sent = datetime.fromisoformat(data["sentAt"])
        assert occurred.tzinfo is not None and sent.tzinfo is not None and sent >= occurred

        paid = await http.post("/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR"})
        assert paid.status_code == 200, paid.text
        rest = await sse.rest()
    assert rest, "no live frame"
    last = rest[-1]
    assert last.data is not None and last.data["status"] == "CONFIRMED"
    assert last.data["method"] == "KHQR" and last.data["transactionId"]
    ids = [first.id, *(b.id for b in rest)]
    assert ids == await status_ids(container, payment_id), "exactly the stored status events, in order"
    assert not [b for b in sse.blocks if b.data is None and b.retry is None and not b.comments]
    await wait_until(lambda: container.push.subscriber_count == 0)


async def test_no_cursor_on_terminal_payment_gives_the_terminal_frame_then_ends(
    container: Container, http: httpx.AsyncClient
) -> None:
    payment_id, token = await inquire(container, http)
    await move(container, payment_id, "CONFIRMED")
    async with http.stream("GET", events_path(payment_id), params={"token": token}) as r:
        assert r.status_code == 200
        frames = await SseReader(r).rest()
    assert [f.data["status"] for f in frames if f.data] == ["CONFIRMED"]


# --- resume ---------------------------------------------------------------------------------


async def test_resume_delivers_exactly_the_missed_events_in_order(
    container: Container, http: httpx.AsyncClient
) -> None:
    payment_id, token = await inquire(container, http)
    async with http.stream("GET", events_path(payment_id), headers=bearer(token)) as r:
        snapshot = await SseReader(r).frame()
    assert snapshot is not None and snapshot.id is not None
    # While disconnected: PROCESSING, an audit entry (not a status event), CONFIRMED.
    missed = await move(container, payment_id, "PROCESSING")
    ignored = await move(container, payment_id, "PENDING")
    assert [e.type for e in ignored] == ["payment.ignored"]
    missed += await move(container, payment_id, "CONFIRMED")
    await container.bus.drain()

    headers = {**bearer(token), "Last-Event-ID": str(snapshot.id)}
    async with http.stream("GET", events_path(payment_id), headers=headers) as r:
        assert r.status_code == 200
        frames = await SseReader(r).rest()
    assert [f.id for f in frames] == [e.id for e in missed]
    assert [f.data["status"] for f in frames if f.data] == ["PROCESSING", "CONFIRMED"]

    # The same through the query parameter, from the very beginning: all three status events.
    async with http.stream("GET", events_path(payment_id), params={"token": token, "lastEventId": "0"}) as r:
        assert r.status_code == 200
        frames = await SseReader(r).rest()
    assert [f.id for f in frames] == [snapshot.id, *(e.id for e in missed)]
    assert [f.data["status"] for f in frames if f.data] == ["PENDING", "PROCESSING", "CONFIRMED"]


async def test_resume_then_live(container: Container, http: httpx.AsyncClient) -> None:
    payment_id, token = await inquire(container, http, "P987654321")
    [pending_id] = await status_ids(container, payment_id)
    [processing] = await move(container, payment_id, "PROCESSING")
    headers = {**bearer(token), "Last-Event-ID": str(pending_id)}
    async with http.stream("GET", events_path(payment_id), headers=headers) as r:
        sse = SseReader(r)
        resumed = await sse.frame()
        assert resumed is not None and resumed.id == processing.id
        assert resumed.data is not None and resumed.data["currency"] == "KHR"
        [confirmed] = await move(container, payment_id, "CONFIRMED")
        rest = await sse.rest()
    assert [f.id for f in rest] == [confirmed.id]


async def test_reconnect_at_or_past_terminal_gets_204(container: Container, http: httpx.AsyncClient) -> None:
    payment_id, token = await inquire(container, http)
    [pending_id] = await status_ids(container, payment_id)
    [failed] = await move(container, payment_id, "FAILED")
    for cursor in (failed.id, failed.id + 1000):
        r = await http.get(events_path(payment_id), headers={**bearer(token), "Last-Event-ID": str(cursor)})
        assert r.status_code == 204, r.text
        assert r.content == b""
        r = await http.get(events_path(payment_id), params={"token": token, "lastEventId": str(cursor)})
        assert r.status_code == 204, r.text
    # A cursor before the terminal event still gets it, then the end.
    async with http.stream("GET", events_path(payment_id), params={"token": token, "lastEventId": pending_id}) as r:
        assert r.status_code == 200
        frames = await SseReader(r).rest()
    assert [f.id for f in frames] == [failed.id]
    assert container.push.subscriber_count == 0


# --- heartbeat ------------------------------------------------------------------------------


async def test_heartbeat_comment_within_the_configured_interval(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/hb.db", push_heartbeat_s=0.2)
    async with running(settings) as c:
        async with LiveServer(c.app) as live, httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            payment_id, token = await inquire(c, http)
            async with http.stream("GET", events_path(payment_id), headers=bearer(token)) as r:
                sse = SseReader(r)
                snapshot = await sse.frame()
                assert snapshot is not None
                started = time.monotonic()
                beats = 0
                while beats < 3:
                    block = await sse.block(within=1.0)
                    assert block is not None and block.data is None and block.comments, block
                    beats += 1
                elapsed = time.monotonic() - started
            assert elapsed < 1.5, f"3 heartbeats took {elapsed:.2f}s with a 0.2s interval"
            assert elapsed >= 0.4, "heartbeats come when idle, not in a burst"


# --- authorization --------------------------------------------------------------------------


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert b"event:" not in r.content and b"data:" not in r.content


async def test_authorization_before_any_stream_data(container: Container, http: httpx.AsyncClient) -> None:
    payment_a, token_a = await inquire(container, http, "P123456789")
    payment_b, token_b = await inquire(container, http, "P987654321")
    url_b = events_path(payment_b)

    assert_refused(await http.get(url_b), 401, "UNAUTHORIZED")
    assert_refused(await http.get(url_b, headers=bearer("not-a-jwt")), 401, "UNAUTHORIZED")
    expired = container.auth.issue_subscribe(payment_b, time.time() - 60)
    assert_refused(await http.get(url_b, headers=bearer(expired)), 401, "UNAUTHORIZED")
    assert_refused(await http.get(url_b, headers=bearer(token_a)), 403, "FORBIDDEN")
    assert_refused(await http.get(url_b, params={"token": token_a}), 403, "FORBIDDEN")
    # A customer the payment was not offered to gets what an unknown payment gets (issue 12).
    stranger = auth_header(container, "customer", "stranger")
    assert_refused(await http.get(url_b, headers=stranger), 404, "RESOURCE_NOT_FOUND")
    assert_refused(await http.get(url_b, headers=auth_header(container, "amk")), 403, "FORBIDDEN")
    admin = auth_header(container, "admin")
    assert_refused(await http.get(events_path(999_999), headers=admin), 404, "RESOURCE_NOT_FOUND")
    assert_refused(await http.get(url_b, headers={**admin, "Last-Event-ID": "abc"}), 400, "BAD_REQUEST")
    for cursor in ("-1", "1.5", "9223372036854775808", "9" * 5000, "\u00b2", "\u0661"):  # too big; non-ASCII digits
        assert_refused(await http.get(url_b, params={"lastEventId": cursor}, headers=admin), 400, "BAD_REQUEST")
    assert_refused(await http.get(events_path(10**25), headers=admin), 404, "RESOURCE_NOT_FOUND")
    assert container.push.subscriber_count == 0, "a refused request must not subscribe"

    for kwargs in ({"headers": admin}, {"params": {"token": token_b}}, {"headers": bearer(token_b)}):
        async with http.stream("GET", url_b, **kwargs) as r:  # type: ignore[arg-type]
            assert r.status_code == 200
            first = await SseReader(r).frame()
            assert first is not None and first.data is not None and first.data["paymentId"] == payment_b
    assert payment_a != payment_b


# --- cleanup --------------------------------------------------------------------------------


async def test_disconnected_clients_are_unsubscribed(container: Container, http: httpx.AsyncClient) -> None:
    payment_id, token = await inquire(container, http)
    async with http.stream("GET", events_path(payment_id), headers=bearer(token)) as r1:
        async with http.stream("GET", events_path(payment_id), params={"token": token}) as r2:
            readers = [SseReader(r1), SseReader(r2)]  # referenced: a collected line iterator would hang up
            for reader in readers:
                assert await reader.frame() is not None
            await asyncio.sleep(0.1)
            assert container.push.subscriber_count == 2, "both streams still open"
    await wait_until(lambda: container.push.subscriber_count == 0)


# --- the race over real SSE -----------------------------------------------------------------


async def sse_frames(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[SseBlock]:
    async with http.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        return await SseReader(r).rest(within=3)


async def pay_later(c: Container, payment_id: int, rng: random.Random) -> None:
    await asyncio.sleep(rng.choice([0, 0, 0.001, 0.003]))
    await move(c, payment_id, "PROCESSING")
    await asyncio.sleep(rng.choice([0, 0.001]))
    await move(c, payment_id, "CONFIRMED")


async def test_race_over_sse_no_gap_no_duplicate(
    container: Container, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events committed while the server subscribes land exactly once (a smaller run of the
    direct race test in test_push_race.py, through the real HTTP stack)."""
    rng = random.Random(20261127)
    add_latency(container.store, monkeypatch, random.Random(11))
    admin = auth_header(container, "admin")
    for i in range(SSE_RACE_ROUNDS):
        payment_id, pending_id = await fresh_payment(container, 700_000 + i)
        cursor = rng.choice([None, 0, pending_id])
        headers = admin if cursor is None else {**admin, "Last-Event-ID": str(cursor)}

        frames, _ = await asyncio.gather(
            sse_frames(http, events_path(payment_id), headers), pay_later(container, payment_id, rng)
        )
        ids = [f.id for f in frames]
        stored = await status_ids(container, payment_id)
        expected = [x for x in stored if x >= ids[0]] if cursor is None else [x for x in stored if x > cursor]
        assert ids == expected, f"round {i}, cursor {cursor}: got {ids}, stored {stored}"
        assert frames[-1].data is not None and frames[-1].data["status"] == "CONFIRMED"
    await wait_until(lambda: container.push.subscriber_count == 0)
