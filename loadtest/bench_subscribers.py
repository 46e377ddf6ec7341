"""Benchmark: thousands of customers waiting on their payment's SSE stream, then all paid.

Starts a real ``payhub run`` (SQLite, sandbox) on a loopback port, imports P premiums, opens
N SSE subscribers spread over their payments from W client processes (each process has its
own file-descriptor budget), measures the server's memory with everyone waiting, then pays
every payment through the sandbox and measures how long each subscriber waited for CONFIRMED
after the webhook was answered. Ends by itself; loopback only.

    .venv/bin/python -m loadtest.bench_subscribers --subscribers 18000 --payments 200 --workers 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from loadtest.procs import BIN, customer_token, free_port, import_premiums, rss_kib


async def _subscribe(
    port: int, path: str, ready: asyncio.Event, counter: list[int], total: int, confirmed_at: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    seen_snapshot = False
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data:"):
                if not seen_snapshot:
                    seen_snapshot = True
                    counter[0] += 1
                    if counter[0] == total:
                        ready.set()
                if b'"status":"CONFIRMED"' in line:
                    received = time.time()
                    occurred = json.loads(line[5:])["occurredAt"]
                    confirmed_at.append(received - datetime.fromisoformat(occurred).timestamp())
                    return
    finally:
        writer.close()


def worker(port: int, paths: list[str], conn: Any) -> None:
    async def main() -> None:
        ready = asyncio.Event()
        counter = [0]
        confirmed: list[float] = []
        tasks = []
        for i, path in enumerate(paths):
            tasks.append(asyncio.create_task(_subscribe(port, path, ready, counter, len(paths), confirmed)))
            if i % 200 == 199:
                await asyncio.sleep(0.02)  # do not SYN-flood our own listener
        await asyncio.wait_for(ready.wait(), 600)
        conn.send(("ready", counter[0]))
        conn.recv()  # "pay" has been sent
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 600)
        conn.send(("done", confirmed))

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--payments", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="payhub-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "PAYHUB_PORT": str(port),
        "PAYHUB_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        "PAYHUB_RATE_USER_PER_MIN": "1000000",
        "PAYHUB_RATE_IP_PER_MIN": "1000000",
        "PAYHUB_FRAUD_RULES": "[]",  # one token inquires every payment: the fraud defaults would stop it
        "PAYHUB_LOG_LEVEL": "WARNING",
        "PAYHUB_MAX_CONNECTIONS_PER_IP": "0",  # every client runs on this host
    }
    import_premiums(env, tmp, args.payments, first_id=900000, due="2027-01-01")
    server = subprocess.Popen([BIN / "payhub", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(200):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            token = customer_token(env)
            streams = []
            for i in range(args.payments):
                data = http.get(
                    "/AMK/payments", params={"query": f"B{i:08d}"}, headers={"Authorization": f"Bearer {token}"}
                ).json()["data"]
                streams.append((data["paymentId"], f"{data['eventsUrl']}?token={data['subscribeToken']}"))
            rss_idle = rss_kib(server.pid)
            paths = [streams[i % len(streams)][1] for i in range(args.subscribers)]
            pipes, procs = [], []
            for k in range(args.workers):
                parent, child = mp.Pipe()
                proc = mp.Process(target=worker, args=(port, paths[k :: args.workers], child))
                proc.start()
                pipes.append(parent)
                procs.append(proc)
            t_connect = time.time()
            connected = sum(p.recv()[1] for p in pipes)
            connect_s = time.time() - t_connect
            time.sleep(1)
            rss_waiting = rss_kib(server.pid)
            for p in pipes:
                p.send("go")
            t_pay = time.time()
            for payment_id, _ in streams:
                r = http.post("/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR"})
                r.raise_for_status()
            pay_s = time.time() - t_pay
            confirmed: list[float] = []
            for p in pipes:
                confirmed += p.recv()[1]
            for proc in procs:
                proc.join(30)
        lags_ms = sorted(lag * 1000 for lag in confirmed)  # status committed → frame read by the client
        report = {
            "subscribers": args.subscribers,
            "connected": connected,
            "confirmed": len(confirmed),
            "payments": args.payments,
            "connect_seconds": round(connect_s, 2),
            "server_rss_mib_idle": round(rss_idle / 1024, 1),
            "server_rss_mib_waiting": round(rss_waiting / 1024, 1),
            "server_kib_per_subscriber": round((rss_waiting - rss_idle) / max(1, connected), 2),
            "pay_all_seconds": round(pay_s, 2),
            "commit_to_client_ms_p50": round(statistics.median(lags_ms), 1) if lags_ms else None,
            "commit_to_client_ms_p99": round(lags_ms[int(len(lags_ms) * 0.99) - 1], 1) if lags_ms else None,
            "commit_to_client_ms_max": round(lags_ms[-1], 1) if lags_ms else None,
        }
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
