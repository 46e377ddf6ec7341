"""What keeps loadtest/compare.py measuring the servers rather than itself: waiting for a busy server
to settle, the per-stage split of an event's latency, the swarm's loop-lag probe, the publisher's
write stamp and TCP_NODELAY. No timings are asserted: fake clocks, or bounds a blocked loop cannot beat."""

from __future__ import annotations

import asyncio
import socket
import time
from multiprocessing.connection import Connection
from typing import cast

from loadtest.compare import settle, unicast_stages
from loadtest.http_pool import HttpPool
from loadtest.swarm import Sub, Worker


class FakeServer:
    """CPU seconds that grow at ``busy`` cores for ``busy_windows`` windows, then at ``idle``; a fake clock."""

    def __init__(self, busy_windows: int, busy: float = 0.3, idle: float = 0.05) -> None:
        self.now = 0.0
        self.cpu_s = 0.0
        self.left = busy_windows
        self.busy, self.idle = busy, idle
        self.windows = 0

    def clock(self) -> float:
        return self.now

    def cpu(self) -> float:
        return self.cpu_s

    def sleep(self, seconds: float) -> None:
        rate = self.busy if self.left > 0 else self.idle
        self.left -= 1
        self.windows += 1
        self.now += seconds
        self.cpu_s += rate * seconds


def test_settle_waits_until_the_server_is_quiet() -> None:
    fake = FakeServer(busy_windows=3)
    waited = settle(fake.cpu, window_s=0.5, timeout_s=30, clock=fake.clock, sleep=fake.sleep)
    assert fake.windows == 5  # three busy windows, then two quiet ones
    assert waited == 2.5


def test_settle_is_not_fooled_by_a_dip_in_a_tear_down() -> None:
    fake = FakeServer(busy_windows=4)
    rates = iter([0.3, 0.05, 0.3, 0.3, 0.05, 0.05])  # busy, a dip, busy again, then quiet

    def sleep(seconds: float) -> None:
        fake.windows += 1
        fake.now += seconds
        fake.cpu_s += next(rates) * seconds

    assert settle(fake.cpu, window_s=1.0, clock=fake.clock, sleep=sleep) == 6.0


def test_settle_returns_at_once_on_a_quiet_server() -> None:
    fake = FakeServer(busy_windows=0)
    assert settle(fake.cpu, window_s=0.5, clock=fake.clock, sleep=fake.sleep) == 1.0
    assert fake.windows == 2


def test_settle_gives_up_after_its_timeout() -> None:
    fake = FakeServer(busy_windows=10_000)
    waited = settle(fake.cpu, window_s=0.5, timeout_s=5, clock=fake.clock, sleep=fake.sleep)
    assert waited == 5.0
    assert fake.windows == 10


def test_unicast_stages_split_each_event_on_one_clock() -> None:
    chosen = [Sub(1, 101), Sub(2, 102), Sub(3, 103)]
    scheduled = {101: 10.0, 102: 10.1, 103: 10.2}
    # (written, answered)
    stamps = {101: (10.001, 10.003), 102: (10.3, 10.302)}  # 103: the request failed, never written
    # (received, occurredAt)
    got = {(1, 101): (10.004, 10.002), (2, 102): (10.306, 10.301)}
    stages = unicast_stages(chosen, scheduled, stamps, got)
    assert stages["send_lag_p50_ms"] == 1.0
    assert stages["send_lag_p99_ms"] == 200.0  # room 102 was written 0.2 s late: the harness's own delay
    assert stages["to_server_p99_ms"] == 1.0
    assert stages["to_frame_p99_ms"] == 5.0
    assert stages["response_p99_ms"] == 2.0


def test_unicast_stages_without_any_stamp() -> None:
    stages = unicast_stages([Sub(1, 101)], {101: 1.0}, {}, {})
    assert set(stages) == {f"{s}_p{p}_ms" for s in ("send_lag", "to_server", "to_frame", "response") for p in (50, 99)}
    assert all(v is None for v in stages.values())


async def test_swarm_loop_lag_probe_sees_a_blocked_loop_and_resets() -> None:
    worker = Worker(cast(Connection, None))
    probe = asyncio.create_task(worker._probe())
    await asyncio.sleep(0)  # the probe asks for its first tick
    time.sleep(0.1)  # noqa: ASYNC251  (on purpose: the loop is blocked, the tick comes ≥ 0.1 - TICK_S late)
    await asyncio.sleep(Worker.TICK_S * 3)
    max_s, late = await worker.handle(("lag",))
    assert max_s >= 0.1 - Worker.TICK_S
    assert late >= 1
    # reset by the reply (nothing ran in between: the "lag" command does not await)
    assert (worker.lag_max, worker.lag_late) == (0.0, 0)
    probe.cancel()


async def test_pool_stamps_the_write_and_disables_nagle() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.readexactly(10)  # {"room":1}
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = HttpPool("127.0.0.1", port, 1)
    stamps: list[float] = []
    before = time.time()
    try:
        status, body = await pool.post_json("/publish", {"room": 1}, written=stamps.append)
        _, writer = pool._idle[0][1]
        sock = writer.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
    assert (status, body) == (200, b"{}")
    assert len(stamps) == 1 and before <= stamps[0] <= time.time()
    assert seen[0].startswith(b"POST /publish HTTP/1.1\r\n")
