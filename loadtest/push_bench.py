"""Benchmark of the push layer alone: accepts/s, idle CPU and memory per subscriber, one-payment fan-out.

Starts a real ``payhub run`` (SQLite, sandbox) on a loopback port (pinned to one core with
``--server-cpu``), opens N subscribers (SSE or WebSocket) from W client processes (pinned to the
other cores), and measures:

- ``accepts_per_s``: N subscribers opened at once, until each read its first frame (the current
  status, or, with ``--resume``, the ``retry:`` line/``SUBSCRIBED`` of a stream resumed at its last id;
  with ``--restart`` too, the server is restarted first: the storm after a push node restart);
- ``idle_cpu_pct``: the server's CPU (user+system, /proc) while all N sit idle for ``--idle-s``
  seconds, heartbeats and pings included;
- ``kib_per_subscriber``: the server's RSS growth from before the connections to all connected;
- ``fanout_last_ms``: with ``--fanout``, every subscriber watches one payment; the sandbox pays it and
  each client notes when CONFIRMED arrived; the last one minus the event's ``occurredAt`` (commit).

    .venv/bin/python -m loadtest.push_bench --transport sse --subscribers 5000 --idle-s 20
    .venv/bin/python -m loadtest.push_bench --transport ws --subscribers 2000 --fanout

Clients are hand-written on asyncio streams (no client library) so they cost the swarm little.
Loopback only; ends by itself. Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from loadtest.procs import BIN, cpu_times, customer_token, free_port, import_premiums, rss_kib


def _ws_frame(text: str) -> bytes:
    """A masked text frame (clients must mask, RFC 6455 §5.3)."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _read_ws_text(reader: asyncio.StreamReader) -> bytes | None:
    while True:
        head = await reader.readexactly(2)
        n = head[1] & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(n)
        opcode = head[0] & 0x0F
        if opcode == 0x8:
            return None
        if opcode == 0x1:
            return payload
        # pings are answered by... nobody: the bench client stays silent like a phone in a pocket,
        # except that RFC 6455 wants a pong; send one so the server's ping timeout does not fire.
        if opcode == 0x9:
            return b"__ping__" + payload


class Client:
    def __init__(self, port: int, transport: str, spec: tuple[int, str, int | None], state: dict[str, Any]) -> None:
        self.port, self.transport, self.spec, self.state = port, transport, spec, state

    async def run(self) -> None:
        payment_id, token, cursor = self.spec
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            if self.transport == "sse":
                query = f"?token={token}" + (f"&lastEventId={cursor}" if cursor is not None else "")
                writer.write(
                    f"GET /api/payments/{payment_id}/events{query} HTTP/1.1\r\nHost: b\r\n"
                    "Accept: text/event-stream\r\n\r\n".encode()
                )
                await self._sse(reader, cursor is not None)
            else:
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write(
                    f"GET /ws/payments HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                await reader.readuntil(b"\r\n\r\n")
                sub: dict[str, Any] = {"type": "subscribe", "paymentId": payment_id, "token": token}
                if cursor is not None:
                    sub["lastEventId"] = cursor
                writer.write(_ws_frame(json.dumps(sub)))
                await self._ws(reader, writer, cursor is not None)
        except (OSError, asyncio.IncompleteReadError):
            self.state["errors"] += 1
        finally:
            writer.close()

    def _ready(self) -> None:
        self.state["ready"] += 1
        if self.state["ready"] == self.state["total"]:
            self.state["all_ready"].set()

    def _confirmed(self, data: dict[str, Any], received: float) -> None:
        self.state["lags"].append(received - datetime.fromisoformat(data["occurredAt"]).timestamp())

    async def _sse(self, reader: asyncio.StreamReader, resume: bool) -> None:
        first = True
        while True:
            line = await reader.readline()
            received = time.time()
            if not line:
                return
            if resume and first and line.startswith(b"retry:"):
                first = False
                self._ready()
            elif line.startswith(b"data:"):
                if first:
                    first = False
                    self._ready()
                data = json.loads(line[5:])
                if data.get("status") == "CONFIRMED":
                    self._confirmed(data, received)
                    return

    async def _ws(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, resume: bool) -> None:
        first = True
        while True:
            text = await _read_ws_text(reader)
            received = time.time()
            if text is None:
                return
            if text.startswith(b"__ping__"):
                payload = text[8:]
                mask = os.urandom(4)
                writer.write(
                    bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                )
                continue
            msg = json.loads(text)
            if first and (msg.get("type") == "PAYMENT_STATUS" or (resume and msg.get("type") == "SUBSCRIBED")):
                first = False
                self._ready()
            if msg.get("type") == "PAYMENT_STATUS" and msg["data"].get("status") == "CONFIRMED":
                self._confirmed(msg["data"], received)
                return
            if msg.get("type") == "COMPLETED":
                return


def worker(port: int, transport: str, specs: list[tuple[int, str, int | None]], conn: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        state: dict[str, Any] = {"ready": 0, "total": len(specs), "all_ready": asyncio.Event(), "lags": [], "errors": 0}
        conn.recv()  # start together
        started = time.time()
        tasks = [asyncio.create_task(Client(port, transport, spec, state).run()) for spec in specs]
        try:
            await asyncio.wait_for(state["all_ready"].wait(), 300)
        except TimeoutError:
            pass
        conn.send(("ready", state["ready"], time.time() - started, state["errors"]))
        conn.recv()  # paid (or: stop)
        await asyncio.wait(tasks, timeout=30)
        for t in tasks:
            t.cancel()
        conn.send(("done", state["lags"]))

    try:
        import uvloop

        uvloop.run(main())  # the swarm's own loop costs less, so it measures the server, not itself
    except ImportError:
        asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=("sse", "ws"), default="sse")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--payments", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle-s", type=float, default=0.0, help="measure idle CPU this long")
    parser.add_argument("--fanout", action="store_true", help="every subscriber on one payment; pay it")
    parser.add_argument("--resume", action="store_true", help="connect with lastEventId = the current status id")
    parser.add_argument("--restart", action="store_true", help="restart the server before the clients connect")
    parser.add_argument("--server-cpu", type=int, default=0, help="pin the server to this core (-1: not pinned)")
    parser.add_argument("--client-cpu", type=int, default=1, help="pin the clients to this core (-1: not pinned)")
    parser.add_argument(
        "--profile", help="run the server under py-spy, writing this file (.svg: a flame graph, else speedscope)"
    )
    parser.add_argument("--server-cmd", help="the server command instead of `payhub run` (e.g. another checkout)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    payments = 1 if args.fanout else args.payments

    tmp = Path(tempfile.mkdtemp(prefix="payhub-push-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "PAYHUB_PORT": str(port),
        "PAYHUB_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        "PAYHUB_RATE_USER_PER_MIN": "1000000",
        "PAYHUB_RATE_IP_PER_MIN": "1000000",
        "PAYHUB_FRAUD_RULES": "[]",
        "PAYHUB_LOG_LEVEL": "WARNING",
        "PAYHUB_MAX_CONNECTIONS_PER_IP": "0",
        **dict(kv.split("=", 1) for kv in args.env),
    }
    import_premiums(env, tmp, payments, first_id=900000, due="2027-01-01")
    pin = ["taskset", "-c", str(args.server_cpu)] if args.server_cpu >= 0 else []
    fmt = "flamegraph" if args.profile and args.profile.endswith(".svg") else "speedscope"
    spy = [BIN / "py-spy", "record", "-r", "200", "-f", fmt, "-o", args.profile, "--"] if args.profile else []
    command = args.server_cmd.split() if args.server_cmd else [BIN / "payhub", "run"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([*pin, *spy, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_healthy(http: httpx.Client) -> None:
        for _ in range(300):
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)

    server = start()
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_healthy(http)
            token = customer_token(env)
            streams: list[tuple[int, str, int | None]] = []
            for i in range(payments):
                data = http.get(
                    "/AMK/payments", params={"query": f"B{i:08d}"}, headers={"Authorization": f"Bearer {token}"}
                ).json()["data"]
                cursor = None
                if args.resume:
                    with http.stream(
                        "GET", f"/api/payments/{data['paymentId']}/events", params={"token": data["subscribeToken"]}
                    ) as r:
                        for line in r.iter_lines():
                            if line.startswith("id:"):
                                cursor = int(line[3:])
                                break
                streams.append((data["paymentId"], data["subscribeToken"], cursor))
            if args.restart:  # the storm after a restart: the new process has not seen these payments
                server.terminate()
                server.wait(30)
                server = start()
                wait_healthy(http)
            time.sleep(0.5)
            rss_before = rss_kib(server.pid)
            specs = [streams[i % len(streams)] for i in range(args.subscribers)]
            pipes, procs = [], []
            for k in range(args.workers):
                parent, child = mp.Pipe()
                cpu = args.client_cpu if args.client_cpu >= 0 else None
                proc = mp.Process(target=worker, args=(port, args.transport, specs[k :: args.workers], child, cpu))
                proc.start()
                pipes.append(parent)
                procs.append(proc)
            time.sleep(1.0)
            for p in pipes:
                p.send("go")
            results = [p.recv() for p in pipes]
            connected = sum(r[1] for r in results)
            connect_s = max(r[2] for r in results)
            errors = sum(r[3] for r in results)
            time.sleep(1.0)
            rss_after = rss_kib(server.pid)
            idle_pct = idle_sys_pct = None
            if args.idle_s > 0:
                (u0, s0), t0 = cpu_times(server.pid), time.time()
                time.sleep(args.idle_s)
                (u1, s1), elapsed = cpu_times(server.pid), time.time() - t0
                idle_pct = 100 * (u1 - u0 + s1 - s0) / elapsed
                idle_sys_pct = 100 * (s1 - s0) / elapsed
            if args.fanout:
                r = http.post("/sandbox/amk/simulate/pay", json={"paymentId": streams[0][0], "method": "KHQR"})
                r.raise_for_status()
            for p in pipes:
                p.send("go")
            lags: list[float] = []
            for p in pipes:
                lags += p.recv()[1]
            for proc in procs:
                proc.join(30)
        lags_ms = sorted(x * 1000 for x in lags)
        report = {
            "transport": args.transport,
            "resume": args.resume,
            "restart": args.restart,
            "subscribers": args.subscribers,
            "connected": connected,
            "errors": errors,
            "connect_seconds": round(connect_s, 2),
            "accepts_per_s": round(connected / connect_s) if connect_s else None,
            "server_kib_per_subscriber": round((rss_after - rss_before) / max(1, connected), 2),
            "idle_cpu_pct": None if idle_pct is None else round(idle_pct, 2),
            "idle_cpu_system_pct": None if idle_sys_pct is None else round(idle_sys_pct, 2),
        }
        if args.fanout:
            report |= {
                "delivered": len(lags_ms),
                "fanout_first_ms": round(lags_ms[0], 1) if lags_ms else None,
                "fanout_p50_ms": round(lags_ms[len(lags_ms) // 2], 1) if lags_ms else None,
                "fanout_last_ms": round(lags_ms[-1], 1) if lags_ms else None,
            }
        print(json.dumps(report))
    finally:
        if args.profile:
            server.send_signal(2)  # py-spy writes its profile on SIGINT
            server.wait(60)
        else:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
