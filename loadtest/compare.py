"""PayHub (SSE and WebSocket) side by side with python-socketio and sse-starlette, same scenarios.

    python -m loadtest.compare [--quick] [--runs 2] [--subscribers 5000] [--storm 2000] [--out var/bench]

Every target is measured the same way, with the same client code (``loadtest.swarm``): the
server alone on core 0, this process and the client swarm on core 1, the targets interleaved
(run 1: A B C D, run 2: A B C D), a fresh server per target and run. Scenarios, in order:

1. idle: N subscribers connect at once (accepted per second), then sit idle: memory per
   subscriber from the server's RSS before/after, CPU of the server over ``idle_s``;
2. fan-out: F more subscribers on one room, one event, last delivery after the commit/publish;
3. unicast: events at ``rate`` per second to random subscribers of the N (open loop), p50/p99;
4. storm: M other subscribers, the server is killed and restarted, events are published to a
   tenth of their rooms while they are away, then all reconnect at once with their cursor: time
   until every one is subscribed again and has the event it missed.

For PayHub an event is a whole payment (``simulate/pay`` → signed KHQR webhook → AMK verify →
commit → fan-out); for a peer it is ``POST /publish``. Prints one markdown table (with ratios vs
the peers) and writes the raw numbers as JSON. docs/performance.md explains every number.
Everything it starts ends with it (process groups, PR_SET_PDEATHSIG), on Ctrl-C and failure too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadtest import procs
from loadtest.http_pool import HttpPool
from loadtest.procs import BIN, free_port
from loadtest.swarm import Sub, Swarm, Target, die_with_parent, limit_files
from loadtest.table import COLUMNS, markdown

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, CLIENT_CORE = 0, 1
PEER_MODULES = {"sio": "loadtest.peers.socketio_peer", "sse": "loadtest.peers.sse_peer"}

FULL = {"subscribers": 5000, "idle_s": 45.0, "fanout": 2000, "rate": 200.0, "unicast_s": 20.0, "storm": 2000}
QUICK = {"subscribers": 1000, "idle_s": 10.0, "fanout": 500, "rate": 100.0, "unicast_s": 5.0, "storm": 500}


# --- processes ---------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/*/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
    return out


def rss_kib(pid: int) -> int:
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree (/proc/PID/stat fields 14 and 15), seconds."""
    ticks = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(
    cpu: Callable[[], float],
    *,
    quiet: float = 0.15,
    window_s: float = 1.0,
    timeout_s: float = 60.0,
    windows: int = 2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Wait until the server is quiet: ``cpu()`` (CPU seconds of the server process tree) grows by less
    than ``quiet`` × ``window_s`` in each of ``windows`` consecutive windows of ``window_s`` wall
    seconds (a tear-down has short dips), or ``timeout_s`` passed.
    Returns the seconds waited (``timeout_s`` or more when it never settled).

    Why: a scenario's set-up leaves the server working after the client side is done. Closing 2,000
    fan-out subscribers takes the client a few milliseconds (``connection_lost`` runs locally) but a
    server several hundred (sse-starlette) to a few thousand (python-socketio) milliseconds of
    tear-down on its one core (python-socketio: 30–100 % of the core for about 20 s); a timed scenario
    started at once measured that tear-down, not the scenario (docs/performance.md, "What the harness
    itself must not measure"). ``quiet`` sits above the peers' idle keep-alive cost (python-socketio
    3–11 % of a core with 5,000 subscribers) and below a tear-down's."""
    start = clock()
    calm = 0
    while True:
        t0, c0 = clock(), cpu()
        sleep(window_s)
        t1, c1 = clock(), cpu()
        calm = calm + 1 if c1 - c0 < quiet * (t1 - t0) else 0
        if calm >= windows or t1 - start >= timeout_s:
            return round(t1 - start, 3)


def pin(pid: int, core: int | None) -> None:
    if core is not None:
        for p in tree(pid):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(p, {core})


class Server:
    """One server process (its own process group, killed with us) on a fixed loopback port."""

    def __init__(self, kind: str, port: int, workdir: Path, core: int | None) -> None:
        self.kind, self.port, self.workdir, self.core = kind, port, workdir, core
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return [sys.executable, "-m", PEER_MODULES[self.kind], "--port", str(self.port)], env

    def start(self, timeout: float = 60) -> None:
        cmd, env = self.command()
        log = (self.workdir / f"{self.kind}-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True, preexec_fn=die_with_parent
        )
        log.close()
        pin(self.proc.pid, self.core)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: see {self.workdir}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    pin(self.proc.pid, self.core)  # threads and children started since
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} not ready after {timeout} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def payhub_env(port: int, db: Path) -> dict[str, str]:
    """``payhub run`` ready for load through its settings only (hub/settings.py): one host sends
    everything, so the per-user/per-IP rate limits, the per-IP connection cap and the fraud rules
    (one token inquiring thousands of bills) would refuse the swarm; subscribe tokens outlive the run;
    the daily reconciliation is off so that its start-up catch-up does not count as idle CPU."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAYHUB_PORT": str(port),
        "PAYHUB_DATABASE_URL": f"sqlite:///{db}",
        "PAYHUB_RATE_USER_PER_MIN": "100000000",
        "PAYHUB_RATE_IP_PER_MIN": "100000000",
        "PAYHUB_MAX_CONNECTIONS_PER_IP": "0",
        "PAYHUB_FRAUD_RULES": "[]",
        "PAYHUB_LOG_LEVEL": "WARNING",
        "PAYHUB_SUBSCRIBE_GRACE_S": "86400",
        "PAYHUB_RECONCILE_DAILY": "false",
    }


class PayHub(Server):
    def __init__(self, kind: str, port: int, workdir: Path, core: int | None, db: Path) -> None:
        super().__init__(kind, port, workdir, core)
        self.db = db

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [str(BIN / "payhub"), "run"], payhub_env(self.port, self.db)


def import_premiums(env: dict[str, str], workdir: Path, count: int) -> str:
    """``count`` unpaid premiums (bills ``B00000000``…) imported with ``payhub policies import``; returns
    a customer token (``payhub token``) that may inquire them."""
    procs.import_premiums(env, workdir, count, first_id=700000, due="2027-12-31")
    return procs.customer_token(env, ttl_s=86400)


async def inquire(base: str, token: str, count: int) -> list[tuple[int, str]]:
    """``GET /AMK/payments?query=B…`` for each imported bill (16 at a time): creates its payment and
    returns ``(paymentId, subscribeToken)`` in bill order."""
    out: list[tuple[int, str]] = [(0, "")] * count
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one(i: int) -> None:
            async with sem:
                r = await http.get(
                    "/AMK/payments", params={"query": f"B{i:08d}"}, headers={"Authorization": f"Bearer {token}"}
                )
                r.raise_for_status()
                data = r.json()["data"]
                out[i] = (int(data["paymentId"]), str(data["subscribeToken"]))

        await asyncio.gather(*(one(i) for i in range(count)))
    return out


def prepare_payhub(workdir: Path, count: int) -> tuple[Path, list[tuple[int, str]]]:
    """A template database holding ``count`` unpaid payments, and each one's (paymentId, subscribeToken).
    Every PayHub run starts from a copy of it, so every run sees the same fresh payments."""
    db = workdir / "template.db"
    port = free_port()
    token = import_premiums(payhub_env(port, db), workdir, count)
    server = PayHub("payhub-prepare", port, workdir, None, db)
    server.start()
    try:
        plan = asyncio.run(inquire(server.base, token, count))
    finally:
        server.stop()
    return db, plan


def copy_db(template: Path, to: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        src = template.with_name(template.name + suffix)
        if src.exists():
            shutil.copy(src, to.with_name(to.name + suffix))
    return to


# --- events ------------------------------------------------------------------------------------


def epoch(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(p / 100 * len(ordered))) - 1)]


class Publisher:
    """Sends "one event to a room": ``simulate/pay`` of that payment for PayHub, ``POST /publish`` for a peer
    (``loadtest.http_pool``, keep-alive connections)."""

    def __init__(self, server: Server, connections: int = 64) -> None:
        self.server = server
        self.connections = connections
        self.payhub = server.kind.startswith("payhub")
        self.errors: list[str] = []
        # room → (request written, response read), epoch seconds: where a late event lost its time
        self.stamps: dict[int, tuple[float, float]] = {}

    async def send(self, pool: HttpPool, room: int) -> None:
        written: list[float] = []
        try:
            if self.payhub:
                path, body_out = "/sandbox/amk/simulate/pay", {"paymentId": room, "method": "KHQR"}
            else:
                path, body_out = "/publish", {"room": room}
            status, body = await pool.post_json(path, body_out, written=written.append)
            if written:
                self.stamps[room] = (written[0], time.time())
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if status != 200:
            self.errors.append(f"{status} {body[:200]!r}")

    def pool(self) -> HttpPool:
        return HttpPool("127.0.0.1", self.server.port, self.connections)

    async def each(self, rooms: list[int], concurrency: int = 16) -> None:
        """Every room once, ``concurrency`` at a time."""
        pool = HttpPool("127.0.0.1", self.server.port, concurrency)
        try:
            await asyncio.gather(*(self.send(pool, room) for room in rooms))
        finally:
            await pool.close()

    async def at_rate(self, rooms: list[int], rate: float) -> dict[int, float]:
        """Open loop: room i is sent at start + i/rate whatever the answers (a request waits for a free
        connection when all are busy: that wait counts in the latency); returns each room's scheduled time."""
        scheduled: dict[int, float] = {}
        pool = self.pool()
        try:
            start = time.time() + 0.05
            tasks = []
            for i, room in enumerate(rooms):
                at = start + i / rate
                delay = at - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                scheduled[room] = at
                tasks.append(asyncio.create_task(self.send(pool, room)))
            await asyncio.gather(*tasks)
        finally:
            await pool.close()
        return scheduled


def collect(
    swarm: Swarm, want: set[tuple[int, int]], timeout: float
) -> dict[tuple[int, int], tuple[float, float | None]]:
    """Poll the swarm until every (key, room) in ``want`` got its CONFIRMED frame, or ``timeout``.
    Returns ``{(key, room): (received_at, occurredAt epoch)}`` (the first frame of each)."""
    got: dict[tuple[int, int], tuple[float, float | None]] = {}
    deadline = time.time() + timeout
    while True:
        _, events = swarm.events()
        for key, room, _id, received, occurred in events:
            got.setdefault((key, room), (received, epoch(occurred)))
        if want <= got.keys() or time.time() > deadline:
            return got
        time.sleep(0.1)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def unicast_stages(
    chosen: list[Sub],
    scheduled: Mapping[int, float],
    stamps: Mapping[int, tuple[float, float]],
    got: Mapping[tuple[int, int], tuple[float, float | None]],
) -> dict[str, float | None]:
    """p50/p99 (ms) of each stage of the unicast events, all stamps epoch seconds on one clock:

    * ``send_lag``: scheduled → request written (the publisher's own lateness: its loop, a wait for a
      free connection);
    * ``to_server``: request written → the server's stamp (``occurredAt``: the peer's publish handler
      ran / PayHub committed): the request in flight and waiting in the server, the server's work;
    * ``to_frame``: the server's stamp → frame parsed by the swarm (fan-out, the wire, the swarm's loop);
    * ``response``: request written → response read by the publisher.
    """
    lists: dict[str, list[float]] = {"send_lag": [], "to_server": [], "to_frame": [], "response": []}
    for s in chosen:
        stamp = stamps.get(s.room)
        if stamp is None:
            continue
        written, answered = stamp
        lists["send_lag"].append(written - scheduled[s.room])
        lists["response"].append(answered - written)
        frame = got.get((s.key, s.room))
        if frame is not None and frame[1] is not None:
            lists["to_server"].append(frame[1] - written)
            lists["to_frame"].append(frame[0] - frame[1])
    out: dict[str, float | None] = {}
    for name, values in lists.items():
        for p in (50, 99):
            out[f"{name}_p{p}_ms"] = ms(percentile(values, p)) if values else None
    return out


# --- one target, one run -----------------------------------------------------------------------


def measure(kind: str, server: Server, swarm: Swarm, cfg: dict[str, Any], rooms: dict[str, Any]) -> dict[str, Any]:
    """The four scenarios against a started ``server``; ``rooms``: idle/fanout/storm room ids and tokens."""
    target = Target(kind, server.port)
    publisher = Publisher(server)
    result: dict[str, Any] = {"target": kind}
    tokens: dict[int, str | None] = rooms["tokens"]

    # 1. idle: N at once, memory, CPU
    time.sleep(1)
    rss_before = rss_kib(server.pid)
    subs = [Sub(i, room, tokens.get(room)) for i, room in enumerate(rooms["idle"])]
    opened = swarm.open(target, subs, timeout=cfg["connect_timeout_s"])
    ok = [r for r in opened if r[2] is not None]
    first = min(r[1] for r in opened)
    last = max(r[2] for r in ok if r[2] is not None) if ok else first
    time.sleep(2)
    rss_after = rss_kib(server.pid)
    settled_idle = settle(lambda: cpu_seconds(server.pid))
    cpu0, t0 = cpu_seconds(server.pid), time.time()
    time.sleep(cfg["idle_s"])
    cpu1, t1 = cpu_seconds(server.pid), time.time()
    frames_idle, _ = swarm.events()  # snapshots (PayHub) and nothing else: nobody published
    result["idle"] = {
        "subscribers": len(subs),
        "connected": len(ok),
        "failed": len(subs) - len(ok),
        "errors": sorted({r[3] for r in opened if r[3]})[:5],
        "connect_s": round(last - first, 3),
        "accepted_per_s": round(len(ok) / max(last - first, 1e-6), 1),
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "kib_per_subscriber": round((rss_after - rss_before) / max(1, len(ok)), 2),
        "cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        "idle_s": round(t1 - t0, 1),
        "settle_s": settled_idle,
        "frames_read": frames_idle,
    }

    # 2. fan-out: F subscribers of one room, one event
    fan_room = rooms["fanout"]
    base = 1_000_000
    fan = [Sub(base + i, fan_room, tokens.get(fan_room)) for i in range(cfg["fanout"])]
    fan_open = swarm.open(target, fan, timeout=cfg["connect_timeout_s"])
    time.sleep(1)
    settled_fan = settle(lambda: cpu_seconds(server.pid))
    swarm.events()
    swarm.lag()
    sent = time.time()
    asyncio.run(publisher.each([fan_room]))
    want = {(s.key, fan_room) for s in fan}
    got = collect(swarm, want, cfg["deliver_timeout_s"])
    received = [got[w][0] for w in want if w in got]
    committed = next((o for _, o in got.values() if o is not None), None)
    result["fanout"] = {
        "subscribers": len(fan),
        "connected": sum(1 for r in fan_open if r[2] is not None),
        "delivered": len(received),
        "missed": len(want) - len(received),
        "errors": publisher.errors[:5],
        # after the commit (PayHub: occurredAt, stamped in the transaction) / the publish (a peer's stamp)
        "last_ms": ms(max(received) - committed) if received and committed else None,
        "p50_ms": ms(statistics.median(received) - committed) if received and committed else None,
        # after the pay/publish call was sent (PayHub: webhook, verify and commit included)
        "last_from_call_ms": ms(max(received) - sent) if received else None,
        "settle_s": settled_fan,
        "client_lag_max_ms": ms(swarm.lag()[0]),
    }
    swarm.close_from(base)
    # the server tears the F fan-out streams down long after the client closed them: wait for it
    settled_uni = settle(lambda: cpu_seconds(server.pid))

    # 3. unicast at a fixed rate to random idle subscribers, each at most once (a PayHub payment is paid once)
    count = min(len(subs), int(cfg["rate"] * cfg["unicast_s"]))
    chosen = random.Random(7).sample(subs, count)
    swarm.events()
    swarm.lag()
    load_before = os.getloadavg()
    publisher.errors.clear()
    publisher.stamps.clear()
    scheduled = asyncio.run(publisher.at_rate([s.room for s in chosen], cfg["rate"]))
    lag_max, lag_late = swarm.lag()
    want = {(s.key, s.room) for s in chosen}
    got = collect(swarm, want, cfg["deliver_timeout_s"])
    stages = unicast_stages(chosen, scheduled, publisher.stamps, got)
    from_call = [got[(s.key, s.room)][0] - scheduled[s.room] for s in chosen if (s.key, s.room) in got]
    from_commit = [r - o for r, o in (got[w] for w in want if w in got) if o is not None]
    last_read = max((got[w][0] for w in want if w in got), default=None)
    result["unicast"] = {
        "events": count,
        "rate": cfg["rate"],
        "delivered": len(from_call),
        "missed": count - len(from_call),
        "errors": publisher.errors[:5],
        "error_count": len(publisher.errors),
        # scheduled send of the pay/publish call → frame read by the client (open loop: queueing counts)
        "p50_ms": ms(percentile(from_call, 50)) if from_call else None,
        "p99_ms": ms(percentile(from_call, 99)) if from_call else None,
        "max_ms": ms(max(from_call)) if from_call else None,
        # commit (occurredAt) / publish stamp → frame read by the client
        "commit_p50_ms": ms(percentile(from_commit, 50)) if from_commit else None,
        "commit_p99_ms": ms(percentile(from_commit, 99)) if from_commit else None,
        # events delivered per second, from the first scheduled send to the last frame read: below
        # ``rate`` when the server cannot keep up (PayHub: payments per second end to end)
        "delivered_per_s": round(len(from_call) / (last_read - min(scheduled.values())), 1) if last_read else None,
        # where the time went (docs/performance.md): the harness's part, the server's, the frame's
        **stages,
        "settle_s": settled_uni,
        "client_lag_max_ms": ms(lag_max),
        "client_lag_ticks_over_20ms": lag_late,
        "loadavg_before": [round(x, 2) for x in load_before],
    }
    swarm.close_from(0)

    # 4. reconnect storm: M subscribers, the server restarts, a tenth of their rooms get an event meanwhile
    storm = [Sub(2_000_000 + i, room, tokens.get(room)) for i, room in enumerate(rooms["storm"])]
    storm_open = swarm.open(target, storm, timeout=cfg["connect_timeout_s"])
    swarm.events()
    server.stop(signal.SIGKILL)
    still = swarm.wait_lost(15)
    server.start()
    missed_subs = storm[:: max(1, len(storm) // max(1, len(storm) // 10))][: max(1, len(storm) // 10)]
    publisher.errors.clear()
    asyncio.run(publisher.each([s.room for s in missed_subs]))
    t_storm = time.time()
    back = swarm.reopen(target, timeout=cfg["connect_timeout_s"])
    want = {(s.key, s.room) for s in missed_subs}
    got = collect(swarm, want, cfg["deliver_timeout_s"])
    back_at = [r[2] for r in back if r[2] is not None]
    resumed_at = [got[w][0] for w in want if w in got]
    result["storm"] = {
        "clients": len(storm),
        "connected_before": sum(1 for r in storm_open if r[2] is not None),
        "not_dropped_by_restart": still,
        "back": len(back_at),
        "failed": len(back) - len(back_at),
        "errors": sorted({r[3] for r in back if r[3]})[:5] + publisher.errors[:5],
        "events_while_away": len(want),
        "missed": len(want) - len(resumed_at),
        "all_back_s": round(max(back_at) - t_storm, 3) if back_at else None,
        "all_resumed_s": round(max([*back_at, *resumed_at]) - t_storm, 3) if back_at else None,
        "accepted_per_s": round(len(back_at) / max(max(back_at) - t_storm, 1e-6), 1) if back_at else None,
    }
    swarm.close_from(0)
    return result


# --- main --------------------------------------------------------------------------------------


@contextlib.contextmanager
def cleanup(servers: list[Server], swarms: list[Swarm], workdir: Path) -> Iterator[None]:
    """Stop every server and client process on the way out, Ctrl-C and SIGTERM included; the servers'
    logs and databases in ``workdir`` are removed after a clean run and kept (path printed) after a failure."""

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, on_signal)
    failed = True
    try:
        yield
        failed = False
    finally:
        for s in servers:
            with contextlib.suppress(Exception):
                s.stop(signal.SIGKILL)
        for sw in swarms:
            with contextlib.suppress(Exception):
                sw.shutdown()
        signal.signal(signal.SIGTERM, old)
        if failed:
            print(f"server logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer subscribers and seconds (about 4 minutes)")
    parser.add_argument("--runs", type=int, default=2, help="interleaved runs of every target (default 2)")
    parser.add_argument("--subscribers", type=int, help="idle subscribers N (default 5000; quick 1000)")
    parser.add_argument("--fanout", type=int, help="subscribers of the fan-out room (default 2000; quick 500)")
    parser.add_argument("--rate", type=float, help="unicast events per second (default 200; quick 100)")
    parser.add_argument("--idle-s", type=float, help="seconds of idle CPU measurement (default 45; quick 10)")
    parser.add_argument("--unicast-s", type=float, help="seconds of unicast (default 20; quick 5; at most N/rate)")
    parser.add_argument("--storm", type=int, help="clients in the reconnect storm (default 2000; quick 500)")
    parser.add_argument("--targets", default=",".join(k for k, _ in COLUMNS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="where the JSON and table go")
    parser.add_argument("--table", type=Path, help="print the table of a saved compare-*.json and stop")
    args = parser.parse_args(argv)
    if args.table is not None:
        saved = json.loads(args.table.read_text())
        print(markdown(saved["runs"], saved["meta"]["config"]))
        return 0

    cfg: dict[str, Any] = dict(QUICK if args.quick else FULL)
    for name in ("subscribers", "fanout", "rate", "idle_s", "unicast_s", "storm"):
        if getattr(args, name) is not None:
            cfg[name] = getattr(args, name)
    cfg |= {"connect_timeout_s": 120.0, "deliver_timeout_s": 60.0, "runs": args.runs, "quick": args.quick}
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    pinned = len(os.sched_getaffinity(0)) >= 2 and (os.cpu_count() or 1) >= 2
    server_core, client_core = (SERVER_CORE, CLIENT_CORE) if pinned else (None, None)
    if client_core is not None:
        os.sched_setaffinity(0, {client_core})
    limit_files()

    workdir = Path(tempfile.mkdtemp(prefix="payhub-compare-"))
    servers: list[Server] = []
    swarms: list[Swarm] = []
    results: list[dict[str, Any]] = []
    started = datetime.now(UTC)
    n, fan, storm = cfg["subscribers"], cfg["fanout"], cfg["storm"]
    with cleanup(servers, swarms, workdir):
        swarm = Swarm(max(n + fan, storm), client_core)
        swarms.append(swarm)
        template: Path | None = None
        plan: list[tuple[int, str]] = []
        if any(t.startswith("payhub") for t in targets):
            print(f"preparing {n + 1 + storm:,} PayHub payments …", flush=True)
            template, plan = prepare_payhub(workdir, n + 1 + storm)
        for run in range(1, args.runs + 1):
            for kind in targets:
                port = free_port()
                if kind.startswith("payhub"):
                    assert template is not None
                    db = copy_db(template, workdir / f"{kind}-{run}.db")
                    server: Server = PayHub(kind, port, workdir, server_core, db)
                    ids = [p for p, _ in plan]
                    rooms = {"idle": ids[:n], "fanout": ids[n], "storm": ids[n + 1 :], "tokens": dict(plan)}
                else:
                    server = Server(kind, port, workdir, server_core)
                    rooms = {"idle": list(range(1, n + 1)), "fanout": 0, "storm": list(range(n + 1, n + 1 + storm))}
                    rooms["tokens"] = {}
                servers.append(server)
                print(f"run {run}: {kind} on :{port} …", flush=True)
                server.start()
                try:
                    result = measure(kind, server, swarm, cfg, rooms)
                finally:
                    server.stop()
                    swarm.close_from(0)
                result["run"] = run
                results.append(result)
                print(json.dumps(result), flush=True)
    table = markdown(results, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    meta = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "config": cfg,
        "pinned": {"server_core": server_core, "client_core": client_core},
        "loadavg_at_end": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    (args.out / f"compare-{stamp}.json").write_text(json.dumps({"meta": meta, "runs": results}, indent=2))
    (args.out / f"compare-{stamp}.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nraw numbers: {args.out / f'compare-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
