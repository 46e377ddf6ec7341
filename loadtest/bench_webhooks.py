"""Benchmark: how fast AMK's bill webhooks are acknowledged (the whole path, AMK verify included).

Starts real ``payhub run`` processes on loopback ports (SQLite by default, or a fresh database beside
--database-url postgresql://…, dropped at the end), imports N premiums, tells the sandbox bank about N
transactions, then sends N correctly signed webhooks from C concurrent senders, each followed by one
retry of the same webhook (idempotent replay), or at a fixed --rate. Reports acknowledgement latency,
throughput and the servers' CPU per webhook. Ends by itself; loopback only. docs/perf/webhooks.md
holds the numbers and how they were taken.

    .venv/bin/python loadtest/bench_webhooks.py --webhooks 2000 --concurrency 20
    .venv/bin/python loadtest/bench_webhooks.py --webhooks 1000 --rate 200 --server-cpus 0 --client-cpus 1
    .venv/bin/python loadtest/bench_webhooks.py --database-url postgresql://127.0.0.1:5432/test \
        --processes 2 --server-cpus 0,1 --no-replays
    .venv/bin/python loadtest/bench_webhooks.py --scenario simulate --webhooks 1000 --concurrency 10
    .venv/bin/python loadtest/bench_webhooks.py --in-process --profile cprofile --profile-out w.pstats
    valgrind --tool=callgrind --instr-atstart=no .venv/bin/python loadtest/bench_webhooks.py \
        --in-process --webhooks 100 --warmup 20 --concurrency 1 --loop asyncio --profile callgrind
    valgrind --tool=callgrind --instr-atstart=no .venv/bin/python loadtest/bench_webhooks.py --in-process \
        --scenario simulate --webhooks 60 --warmup 15 --concurrency 1 --loop asyncio --profile callgrind

``--in-process --scenario simulate`` posts ``/sandbox/amk/simulate/pay`` for each bill through the app
(the sandbox bank's look-up and its signed webhook, no replay).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TypeVar

import httpx

from hub import json_codec
from hub.adapters.amk.signature import signature_header
from hub.auth import Authenticator
from hub.secrets_policy import SANDBOX_JWT_SECRET, SANDBOX_WEBHOOK_SECRET

BIN = Path(sys.executable).parent
_T = TypeVar("_T")
# Connections kept open for reuse, as a bank's client keeps them: a new TCP connection per burst would
# measure connection set-up, not webhooks.
_POOL = httpx.Limits(max_connections=256, max_keepalive_connections=256)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * p))], 1)


async def run(bases: list[str], n: int, concurrency: int, replays: bool, rate: float = 0) -> dict[str, object]:
    """Signed bill webhooks from ``concurrency`` senders, sender i posting to ``bases[i % len(bases)]``;
    each followed by its retry (answered from the receipt) when ``replays``. With ``rate``: sent at that
    many per second instead (open loop, no replays), for latency at a given load."""
    auth = Authenticator(secret=SANDBOX_JWT_SECRET, subscribe_secret=SANDBOX_JWT_SECRET)
    bearer = f"Bearer {auth.issue('bench-bank', 'amk', 3600)}"
    bodies = _bodies(n)
    first: list[float] = []
    replay: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(bodies))
    paid = [{"txId": b["bankTransactionId"], "amount": "25.00", "currency": "USD"} for b in bodies]
    clients = [httpx.AsyncClient(base_url=base, timeout=30, limits=_POOL) for base in bases]
    try:
        for client in clients:  # each process's sandbox bank learns of every transaction
            r = await client.post("/sandbox/amk/control", json={"paidTransactions": paid})
            r.raise_for_status()

        async def send(client: httpx.AsyncClient, body: dict[str, object], into: list[float]) -> None:
            raw = json_codec.dumps_bytes(body)
            headers = dict(_signed_headers(bearer, raw)[1:])  # without host: httpx writes its own
            started = time.perf_counter()
            response = await client.post(
                "/AMK/payments", content=raw, headers={k.decode(): v.decode() for k, v in headers.items()}
            )
            into.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        async def sender(i: int) -> None:
            client = clients[i % len(clients)]
            while queue:
                body = queue.pop()
                await send(client, body, first)
                if replays:
                    await send(client, body, replay)  # the bank's retry: answered from the receipt

        async def at_rate() -> None:
            """Open loop: webhook i leaves at t0 + i / rate whatever the answers (a bank does not wait)."""
            tasks = []
            for i, body in enumerate(bodies):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(clients[i % len(clients)], body, first)))
            await asyncio.gather(*tasks)

        t0 = time.perf_counter()
        if rate:
            await at_rate()
        else:
            await asyncio.gather(*(sender(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    finally:
        for client in clients:
            await client.aclose()
    first.sort()
    replay.sort()
    report: dict[str, object] = {
        "scenario": "webhooks",
        "webhooks": n,
        "concurrency": f"open loop at {rate:g}/s" if rate else concurrency,
        "answers": statuses,
        "new_webhooks_per_second": round(n / elapsed, 1),
        "requests_per_second": round((len(first) + len(replay)) / elapsed, 1),
        "first_delivery_ms_p50": pct(first, 0.5),
        "first_delivery_ms_p99": pct(first, 0.99),
        "mean_first_ms": round(statistics.fmean(first), 1),
    }
    if replay:
        report |= {"replay_ms_p50": pct(replay, 0.5), "replay_ms_p99": pct(replay, 0.99)}
    return report


async def run_simulate(bases: list[str], n: int, concurrency: int) -> dict[str, object]:
    """``POST /sandbox/amk/simulate/pay`` for n bills (the sandbox bank looks the bill up, records the
    transaction and posts the signed webhook, all inside the server) from ``concurrency`` callers."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = [f"W{i:08d}" for i in reversed(range(n))]
    clients = [httpx.AsyncClient(base_url=base, timeout=30, limits=_POOL) for base in bases]
    try:

        async def caller(i: int) -> None:
            client = clients[i % len(clients)]
            while queue:
                bill = queue.pop()
                started = time.perf_counter()
                r = await client.post("/sandbox/amk/simulate/pay", json={"billNumber": bill, "method": "BILL"})
                latencies.append((time.perf_counter() - started) * 1000)
                code = r.status_code
                if code == 200:  # the webhook's own answer, as the simulator got it
                    code = int(r.json()["data"]["webhooks"][0]["attempts"][-1]["status"])
                statuses[code] = statuses.get(code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    finally:
        for client in clients:
            await client.aclose()
    latencies.sort()
    return {
        "scenario": "simulate",
        "payments": n,
        "concurrency": concurrency,
        "webhook_answers": statuses,
        "payments_per_second": round(n / elapsed, 1),
        "pay_ms_p50": pct(latencies, 0.5),
        "pay_ms_p99": pct(latencies, 0.99),
    }


def _premiums_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "policy_number", "application_number", "payer", "amount", "currency", "due_date"])
        for i in range(n):
            w.writerow([800000 + i, f"W{i:08d}", "", "Bench", "25.00", "USD", "2027-01-01"])


def _bodies(n: int, first: int = 0) -> list[dict[str, object]]:
    return [
        {
            "id": 800000 + i,
            "policyNumber": f"W{i:08d}",
            "amount": 25.00,
            "currency": "USD",
            "bankTransactionId": f"BENCH{i:010d}",
            "payer": "Bench",
            "paidDate": "20261127120000",
        }
        for i in range(first, first + n)
    ]


def _signed_headers(bearer: str, raw: bytes) -> list[tuple[bytes, bytes]]:
    ts = int(time.time())
    return [
        (b"host", b"bench"),
        (b"authorization", bearer.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"x-amk-timestamp", str(ts).encode()),
        (b"x-amk-signature", signature_header([SANDBOX_WEBHOOK_SECRET], ts, raw).encode()),
    ]


async def _asgi_post(
    app: object, path: str, headers: list[tuple[bytes, bytes]], raw: bytes, *, body_out: bool = False
) -> int | bytes:
    """One POST through the ASGI app as a server would make it (no socket): the answer's status (or,
    with ``body_out``, its body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    body = bytearray()

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))  # type: ignore[arg-type]

    await app(scope, receive, send)  # type: ignore[operator]
    return bytes(body) if body_out else status


def in_process(args: argparse.Namespace) -> dict[str, object]:
    """``payhub run``'s app driven in this process through ASGI (no sockets, no client): what the server
    itself spends per webhook. ``--profile cprofile`` writes a pstats file; ``--profile callgrind``
    (run under ``valgrind --tool=callgrind --instr-atstart=no``) switches instrumentation on for the
    measured webhooks only, so the instruction count excludes start-up."""
    tmp = Path(tempfile.mkdtemp(prefix="payhub-bench-"))
    database_url, fresh = args.database_url, ""
    if database_url.startswith("postgres"):
        database_url, fresh = _fresh_postgres(args.database_url)
    try:
        return _in_process(args, _env(args, tmp, 8000, database_url), tmp)  # no socket is opened
    finally:
        if fresh:
            _drop_postgres(args.database_url, fresh)


def _in_process(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> dict[str, object]:
    from hub.settings import Settings
    from payhub.app import container_of, create_app

    _premiums_csv(tmp / "premiums.csv", args.warmup + args.webhooks)
    subprocess.run(
        [BIN / "payhub", "policies", "import", str(tmp / "premiums.csv")], env=env, check=True, capture_output=True
    )
    from hub import logs

    settings = Settings.from_env(env)
    # Logs as `payhub run` writes them, into /dev/null: their cost counts, not the terminal's.
    logs.configure(settings.log_level, settings.log_secrets(), repeat_window_s=settings.log_repeat_window_s)
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # type: ignore[attr-defined]
    auth = Authenticator(secret=SANDBOX_JWT_SECRET, subscribe_secret=SANDBOX_JWT_SECRET)
    bearer = f"Bearer {auth.issue('bench-bank', 'amk', 3600)}"
    warm, measured = _bodies(args.warmup), _bodies(args.webhooks, args.warmup)

    async def go() -> dict[str, object]:
        from decimal import Decimal

        from sandbox.state import Transaction

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            c = container_of(app)
            for b in warm + measured:
                c.sandbox_state.record(Transaction(str(b["bankTransactionId"]), "PAID", Decimal("25.00"), "USD"))

            async def one(b: dict[str, object], statuses: dict[int, int]) -> None:
                if args.scenario == "simulate":  # the sandbox bank pays the bill: look-up, then webhook
                    pay = json_codec.dumps_bytes({"billNumber": b["policyNumber"], "method": "BILL"})
                    headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
                    answer = await _asgi_post(app, "/sandbox/amk/simulate/pay", headers, pay, body_out=True)
                    assert isinstance(answer, bytes)
                    code = int(json_codec.loads(answer)["data"]["webhooks"][0]["attempts"][-1]["status"])
                    statuses[code] = statuses.get(code, 0) + 1
                    return
                raw = json_codec.dumps_bytes(b)
                for _ in range(2):  # the delivery, then the bank's retry (answered from the receipt)
                    status = await _asgi_post(app, "/AMK/payments", _signed_headers(bearer, raw), raw)
                    assert isinstance(status, int)
                    statuses[status] = statuses.get(status, 0) + 1

            async def batch(bodies: list[dict[str, object]], statuses: dict[int, int]) -> None:
                queue = list(reversed(bodies))

                async def sender() -> None:
                    while queue:
                        await one(queue.pop(), statuses)

                await asyncio.gather(*(sender() for _ in range(args.concurrency)))

            await batch(warm, {})
            statuses: dict[int, int] = {}
            profiler = _start_profile(args.profile)
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            await batch(measured, statuses)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            _stop_profile(args.profile, profiler, args.profile_out)
            report: dict[str, object] = {
                "mode": "in-process",
                "scenario": args.scenario,
                "webhooks": args.webhooks,
                "concurrency": args.concurrency,
                "answers": statuses,
                "webhooks_per_second": round(args.webhooks / elapsed, 1),
                "cpu_ms_per_webhook": round(cpu * 1000 / args.webhooks, 3),
            }
            print(json.dumps(report, indent=2), flush=True)
            # Python 3.11's asyncio.wait_for can swallow a cancellation (gh-86296): a background loop
            # woken at the moment shutdown cancels it may go on and hold the shutdown. The numbers are out.
            asyncio.get_running_loop().call_later(15, os._exit, 0)
        return report

    return _run_loop(go(), args.loop)


def _start_profile(kind: str) -> object:
    if kind == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        return profiler
    if kind == "callgrind":
        _callgrind("--instr=on")
    return None


def _callgrind(switch: str) -> None:
    """Ask callgrind (which runs this process) to switch instrumentation; spin meanwhile: valgrind reads
    the request only while this process runs code, and a process blocked in a wait never would."""
    control = subprocess.Popen(["callgrind_control", switch, str(os.getpid())], stdout=subprocess.DEVNULL)
    while control.poll() is None:
        sum(range(1000))


def _stop_profile(kind: str, profiler: object, out: str) -> None:
    if kind == "cprofile":
        import cProfile

        assert isinstance(profiler, cProfile.Profile)
        profiler.disable()
        profiler.dump_stats(out or "webhooks.pstats")
    elif kind == "callgrind":
        _callgrind("--dump=measured")  # the measured webhooks' counts, in their own file (*.out.1)
        _callgrind("--instr=off")


def _run_loop(coro: Coroutine[object, object, _T], loop: str) -> _T:
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


def _env(args: argparse.Namespace, tmp: Path, port: int, database_url: str = "") -> dict[str, str]:
    env = {
        **os.environ,
        "PAYHUB_PORT": str(port),
        "PAYHUB_DATABASE_URL": database_url or args.database_url or f"sqlite:///{tmp}/bench.db",
        "PAYHUB_RATE_IP_PER_MIN": "100000000",
        "PAYHUB_RATE_USER_PER_MIN": "100000000",
        # The default fraud rules, as `payhub run` has them: every bench premium is its own policy, so none fires.
        "PAYHUB_LOG_LEVEL": args.log_level,
        "PAYHUB_MAX_CONNECTIONS_PER_IP": "0",  # every client runs on this host
    }
    if getattr(args, "scenario", "") == "simulate":
        # Every simulated payment's inquiry comes from one address and one sandbox subject: the defaults
        # without the per-IP and per-customer velocity rules (a bench is no scripted abuse).
        from hub.fraud.rules import DEFAULT_RULES

        kept = [r for r in DEFAULT_RULES if r.get("subject") not in ("ip", "customer")]
        env["PAYHUB_FRAUD_RULES"] = json.dumps(kept)
    return env


def _fresh_postgres(url: str) -> tuple[str, str]:
    """A new database beside the one ``url`` names (dropped by ``_drop_postgres``): (its URL, its name)."""
    import asyncpg

    name = f"payhub_bench_{os.getpid()}"

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name}")
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}", name


def _drop_postgres(url: str, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()

    asyncio.run(drop())


def _cpus(spec: str, i: int) -> list[str]:
    """``taskset`` for the i-th process of a comma-separated CPU list (round robin), or nothing."""
    cpus = [c for c in spec.split(",") if c]
    return ["taskset", "-c", cpus[i % len(cpus)]] if cpus else []


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=1000, help="new webhooks (or payments) to send (default 1000)")
    parser.add_argument("--concurrency", type=int, default=20, help="closed-loop senders at once (default 20)")
    parser.add_argument(
        "--database-url",
        default="",
        help="e.g. postgresql://127.0.0.1:5432/test (a fresh database is made); default SQLite",
    )
    parser.add_argument("--log-level", default="INFO", help="PAYHUB_LOG_LEVEL (INFO: as `payhub run` logs)")
    parser.add_argument("--in-process", action="store_true", help="drive the app through ASGI in this process")
    parser.add_argument("--warmup", type=int, default=50, help="--in-process: webhooks before measuring")
    parser.add_argument("--profile", choices=("", "cprofile", "callgrind"), default="", help="--in-process: profile")
    parser.add_argument("--profile-out", default="", help="where --profile writes")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    parser.add_argument(
        "--scenario", choices=("webhooks", "simulate"), default="webhooks", help="signed webhooks or simulate/pay"
    )
    parser.add_argument("--no-replays", action="store_true", help="each webhook once (no bank retry)")
    parser.add_argument("--rate", type=float, default=0, help="open loop: webhooks per second (latency at a load)")
    parser.add_argument("--processes", type=int, default=1, help="`payhub run` processes on one PostgreSQL")
    parser.add_argument("--server-cpus", default="", help="e.g. 0 or 0,1: pin server i to the i-th (taskset)")
    parser.add_argument("--client-cpus", default="", help="e.g. 1: pin this sending process")
    args = parser.parse_args()
    if args.in_process:
        in_process(args)  # prints its report
        return
    if args.processes > 1 and not args.database_url.startswith("postgres"):
        parser.error("--processes above 1 needs --database-url postgresql://… (SQLite has one writer)")
    if args.client_cpus:  # the senders on their own core(s), away from the servers
        os.sched_setaffinity(0, {int(c) for c in args.client_cpus.split(",")})
    tmp = Path(tempfile.mkdtemp(prefix="payhub-bench-"))
    database_url, fresh = args.database_url, ""
    if database_url.startswith("postgres"):
        database_url, fresh = _fresh_postgres(args.database_url)
    ports = [free_port() for _ in range(args.processes)]
    env = _env(args, tmp, ports[0], database_url)
    _premiums_csv(tmp / "premiums.csv", args.webhooks)
    subprocess.run(
        [BIN / "payhub", "policies", "import", str(tmp / "premiums.csv")], env=env, check=True, capture_output=True
    )
    servers = [
        subprocess.Popen(
            [*_cpus(args.server_cpus, i), BIN / "payhub", "run"],
            env={**env, "PAYHUB_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, port in enumerate(ports)
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            for _ in range(300):
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        cpu0 = [_cpu_seconds(p.pid) for p in servers]
        if args.scenario == "simulate":
            report = asyncio.run(run_simulate(bases, args.webhooks, args.concurrency))
        else:
            replays = not args.no_replays and not args.rate
            report = asyncio.run(run(bases, args.webhooks, args.concurrency, replays, args.rate))
        cpu = sum(_cpu_seconds(p.pid) for p in servers) - sum(cpu0)
        report["server_cpu_ms_per_item"] = round(cpu * 1000 / args.webhooks, 3)
        report["database"] = "postgresql" if database_url.startswith("postgres") else "sqlite"
        report["processes"] = args.processes
        report["server_cpus"] = args.server_cpus or "any"
        report["load_average"] = os.getloadavg()[0]
        print(json.dumps(report, indent=2))
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:  # a shutdown held up (see _in_process): the numbers are out
                server.kill()
                server.wait()
        if fresh:
            _drop_postgres(args.database_url, fresh)


if __name__ == "__main__":
    main()
