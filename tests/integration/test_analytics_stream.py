"""``GET /admin/analytics/stream`` over real HTTP: a snapshot at once, a fresh one when a payment commits,
bursts coalesced, heartbeats in silence, a periodic refresh, an error event while the database is down,
and one computation shared by the streams of one range."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.domain.money import Currency
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.errors import ServiceUnavailable
from hub.json_codec import loads
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, bank_paid, bill_body, make_settings, running, signed


@dataclass
class Frame:
    event: str  # "analytics.snapshot", "analytics.unavailable", or "heartbeat" for a comment
    data: Any
    at: float  # time.monotonic() on arrival


class Reader:
    """The frames of one open stream, as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.frames: list[Frame] = []

    async def next(self, timeout_s: float = 10.0) -> Frame:
        event, data, comment = "", "", False
        async with asyncio.timeout(timeout_s):
            async for line in self._lines:
                if line.startswith(":"):
                    comment = True
                elif line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif line == "" and (event or comment):
                    frame = Frame(event or "heartbeat", loads(data) if data else None, time.monotonic())
                    self.frames.append(frame)
                    return frame
        raise AssertionError("the stream ended")

    async def snapshot(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next snapshot's analytics, skipping heartbeats."""
        while True:
            frame = await self.next(timeout_s)
            if frame.event == "analytics.snapshot":
                analytics: dict[str, Any] = frame.data["analytics"]
                return analytics
            assert frame.event == "heartbeat", frame


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, db_url: str | None = None, **timing: float) -> AsyncIterator[tuple[Container, str]]:
    settings = make_settings(db_url or f"sqlite:///{tmp_path}/payhub.db", **timing)
    async with running(settings) as c:
        assert c.app is not None
        async with LiveServer(c.app) as server:
            yield c, server.url


@contextlib.asynccontextmanager
async def stream(c: Container, url: str, **params: str) -> AsyncIterator[Reader]:
    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", "/admin/analytics/stream", params=params, headers=auth_header(c, "admin")) as r,
    ):
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store, no-transform"
        yield Reader(r)


async def pay(c: Container, url: str, premium_id: int) -> None:
    """A premium of its own, paid by a signed AMK bill webhook over HTTP (the sandbox bank confirms it)."""
    async with c.store.transaction() as tx:
        premium = Premium(
            premium_id, f"ST{premium_id:08d}", "Streamer", Decimal("25.00"), Currency.USD, date(2030, 1, 1)
        )
        await tx.upsert_premium(premium, datetime.now(UTC))
    body = bill_body(premium_id=premium_id, policy=f"ST{premium_id:08d}", amount="25.00")
    body["payer"] = "Streamer"
    bank_paid(c, body["bankTransactionId"], "25.00")
    raw, headers = signed(c, body)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        r = await http.post("/AMK/payments", content=raw, headers=headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "CONFIRMED", r.text


def status_event(n: int) -> PaymentEvent:
    return PaymentEvent(n, 1, PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {}, datetime.now(UTC))


async def test_a_snapshot_at_once_then_a_fresh_one_when_a_payment_commits(tmp_path: Path, db_url: str) -> None:
    async with (
        serving(tmp_path, db_url, analytics_stream_interval_s=0.2, analytics_heartbeat_s=30) as (c, url),
        stream(c, url) as s,
    ):
        first = await s.snapshot()
        assert first["businessMetrics"]["transactionCount"] == 0
        assert first["realTimeMetrics"]["successRate"] is None
        await pay(c, url, 880001)
        after = first
        while after["businessMetrics"]["transactionCount"] == 0:  # a PENDING snapshot may come first
            after = await s.snapshot(timeout_s=5)
        assert after["businessMetrics"]["transactionCount"] == 1
        assert after["businessMetrics"]["totalVolume"]["USD"] == "25.00"
        assert after["realTimeMetrics"]["successRate"] == 1.0
        assert datetime.fromisoformat(after["range"]["to"]) > datetime.fromisoformat(first["range"]["to"])


async def test_a_burst_of_events_gives_one_snapshot_per_interval(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, analytics_stream_interval_s=0.5, analytics_heartbeat_s=0.2, analytics_refresh_s=60) as (
            c,
            url,
        ),
        stream(c, url) as s,
    ):
        await s.snapshot()
        for n in range(200):
            await c.analytics.on_event(status_event(n + 1))
        await s.snapshot(timeout_s=2)  # the burst: one snapshot ...
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:  # ... and then only heartbeats
            assert (await s.next(timeout_s=2)).event == "heartbeat"
        snapshots = [f for f in s.frames if f.event == "analytics.snapshot"]
        assert len(snapshots) == 2, s.frames  # the first one, and one for the burst
        # real payments, one after another: never two snapshots closer than the interval
        for premium_id in range(880101, 880104):
            await pay(c, url, premium_id)
        last = await s.snapshot(timeout_s=5)
        while last["businessMetrics"]["transactionCount"] < 3:
            last = await s.snapshot(timeout_s=5)
        # (stamped by the server: the test reads frames late while it pays)
        times = [datetime.fromisoformat(f.data["analytics"]["generatedAt"]) for f in s.frames if f.data]
        assert all((b - a).total_seconds() >= 0.5 for a, b in itertools.pairwise(times)), times
        events = 3 * 2  # each payment commits PENDING and CONFIRMED at least
        assert len(times) - 1 <= events


async def test_heartbeats_in_silence_and_a_refresh_that_slides_the_range(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, analytics_stream_interval_s=0.1, analytics_heartbeat_s=0.2, analytics_refresh_s=1.0) as (
            c,
            url,
        ),
        stream(c, url) as s,
    ):
        first = await s.snapshot()
        began = time.monotonic()
        second = await s.snapshot(timeout_s=3)
        assert time.monotonic() - began >= 0.8
        heartbeats = [f for f in s.frames if f.event == "heartbeat"]
        assert len(heartbeats) >= 3, s.frames
        assert second["range"]["to"] > first["range"]["to"] and second["range"]["from"] > first["range"]["from"]


async def test_an_unavailable_database_is_an_event_and_the_stream_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        serving(tmp_path, analytics_stream_interval_s=0.1, analytics_heartbeat_s=5, analytics_refresh_s=60) as (
            c,
            url,
        ),
        stream(c, url) as s,
    ):
        await s.snapshot()

        async def down(*_: Any) -> Any:
            raise ServiceUnavailable("database unavailable")

        monkeypatch.setattr(c.store, "payment_figures", down)
        await c.analytics.on_event(status_event(1))
        frame = await s.next()
        assert frame.event == "analytics.unavailable", frame
        assert frame.data["code"] == "SERVICE_UNAVAILABLE" and frame.data["message"] == "database unavailable"
        monkeypatch.undo()
        await c.analytics.on_event(status_event(2))
        assert (await s.snapshot())["businessMetrics"]["transactionCount"] == 0


async def test_streams_of_one_range_share_one_computation(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, analytics_stream_interval_s=0.5, analytics_heartbeat_s=30, analytics_refresh_s=60) as (
            c,
            url,
        ),
        stream(c, url, window="3600") as a,
        stream(c, url, window="3600") as b,
        stream(c, url, window="7200") as other,
    ):
        for s in (a, b, other):
            await s.snapshot()
        before = c.analytics.computed
        await c.analytics.on_event(status_event(1))
        for s in (a, b, other):
            await s.snapshot()
        assert c.analytics.computed - before == 2  # one for the hour (two streams), one for two hours
        assert c.analytics.streams == 3
