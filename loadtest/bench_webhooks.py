"""Benchmark: how fast AMK's bill webhooks are acknowledged (the whole path, AMK verify included).

Starts a real ``payhub run`` on a loopback port (SQLite by default, or --database-url), imports N
premiums, tells the sandbox bank about N transactions, then sends N correctly signed webhooks
from C concurrent senders, each followed by one retry of the same webhook (idempotent replay).
Reports acknowledgement latency and throughput. Ends by itself; loopback only.

    .venv/bin/python loadtest/bench_webhooks.py --webhooks 2000 --concurrency 20
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from hub import json_codec
from hub.adapters.amk.signature import signature_header
from hub.auth import Authenticator
from hub.secrets_policy import SANDBOX_JWT_SECRET, SANDBOX_WEBHOOK_SECRET

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * p))], 1)


async def run(base: str, n: int, concurrency: int) -> dict[str, object]:
    auth = Authenticator(secret=SANDBOX_JWT_SECRET, subscribe_secret=SANDBOX_JWT_SECRET)
    bearer = f"Bearer {auth.issue('bench-bank', 'amk', 3600)}"
    bodies = [
        {
            "id": 800000 + i,
            "policyNumber": f"W{i:08d}",
            "amount": 25.00,
            "currency": "USD",
            "bankTransactionId": f"BENCH{i:010d}",
            "payer": "Bench",
            "paidDate": "20261127120000",
        }
        for i in range(n)
    ]
    first: list[float] = []
    replay: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        r = await client.post(
            "/sandbox/amk/control",
            json={
                "paidTransactions": [
                    {"txId": b["bankTransactionId"], "amount": "25.00", "currency": "USD"} for b in bodies
                ]
            },
        )
        r.raise_for_status()

        async def send(body: dict[str, object], into: list[float]) -> None:
            raw = json_codec.dumps_bytes(body)
            ts = int(time.time())
            headers = {
                "Authorization": bearer,
                "Content-Type": "application/json",
                "X-AMK-Timestamp": str(ts),
                "X-AMK-Signature": signature_header([SANDBOX_WEBHOOK_SECRET], ts, raw),
            }
            started = time.perf_counter()
            response = await client.post("/AMK/payments", content=raw, headers=headers)
            into.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        async def sender() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                await send(body, first)
                await send(body, replay)  # the bank's retry: answered from the receipt

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    first.sort()
    replay.sort()
    return {
        "webhooks": n,
        "concurrency": concurrency,
        "answers": statuses,
        "first_delivery_ms_p50": pct(first, 0.5),
        "first_delivery_ms_p99": pct(first, 0.99),
        "replay_ms_p50": pct(replay, 0.5),
        "replay_ms_p99": pct(replay, 0.99),
        "webhooks_per_second": round(2 * n / elapsed, 1),
        "mean_first_ms": round(statistics.fmean(first), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="payhub-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "PAYHUB_PORT": str(port),
        "PAYHUB_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
        "PAYHUB_RATE_IP_PER_MIN": "100000000",
        "PAYHUB_FRAUD_RULES": "[]",  # measures the webhook path itself, not the review of one policy paid 1000 times
        "PAYHUB_LOG_LEVEL": "WARNING",
        "PAYHUB_MAX_CONNECTIONS_PER_IP": "0",  # every client runs on this host
    }
    with (tmp / "premiums.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "policy_number", "application_number", "payer", "amount", "currency", "due_date"])
        for i in range(args.webhooks):
            w.writerow([800000 + i, f"W{i:08d}", "", "Bench", "25.00", "USD", "2027-01-01"])
    subprocess.run(
        [BIN / "payhub", "policies", "import", str(tmp / "premiums.csv")], env=env, check=True, capture_output=True
    )
    server = subprocess.Popen([BIN / "payhub", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        report = asyncio.run(run(base, args.webhooks, args.concurrency))
        report["database"] = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
