"""The production topology end to end: separate OS processes on PostgreSQL, Redis and Kafka.

gateway, integration, sandbox, two push nodes, relay, feeder and notifier run as ``payhub`` processes on
loopback ports, configured only through PAYHUB_* variables. One subscriber waits on each push
node; a payment made through ``simulate/pay`` reaches both as CONFIRMED (webhook → PostgreSQL →
NOTIFY → relay → Kafka → feeder → Redis → push nodes), and the topics hold what the contract says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import simplejson as json

from tests.conftest import PG_BASE, free_port
from tests.kafka_broker import Broker, read_topic, start_broker
from tests.redis_server import PrivateRedis

PAYHUB = str(Path(sys.executable).parent / "payhub")
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


class Topology:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def spawn(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as out:  # the child keeps its own descriptor
            self.procs[name] = subprocess.Popen([PAYHUB, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def serve(self, name: str, service: str, port: int) -> None:
        self.ports[name] = port
        self.spawn(name, "serve", service, "--port", str(port))

    def worker(self, name: str, port: int) -> None:
        """A worker process (relay, feeder) with its probes (/healthz, /readyz, /metrics) on ``port``."""
        self.ports[name] = port
        self.spawn(name, name, "--port", str(port))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def wait_healthy(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            for name in self.ports:
                deadline = time.monotonic() + 30
                while True:
                    if self.procs[name].poll() is not None:
                        raise AssertionError(f"{name} exited:\n{self.log(name)}")
                    try:
                        if (await client.get(self.url(name) + "/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{name} not healthy:\n{self.log(name)}")
                    await asyncio.sleep(0.1)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
async def topology(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[Topology, Broker, str]]:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    prefix = f"t{uuid.uuid4().hex[:8]}."
    try:
        async with start_broker(tmp_path) as broker:
            names = ("gateway", "integration", "sandbox", "push1", "push2", "relay", "feeder", "notifier")
            ports = {name: free_port() for name in names}
            env = {
                **os.environ,
                "PAYHUB_MODE": "sandbox",
                "PAYHUB_DATABASE_URL": pg_url,
                "PAYHUB_REDIS_URL": redis_server.url,
                "PAYHUB_KAFKA_BOOTSTRAP": broker.bootstrap,
                "PAYHUB_KAFKA_IDEMPOTENCE": "false",  # the test broker lacks the idempotent producer
                "PAYHUB_KAFKA_TOPIC_PREFIX": prefix,
                "PAYHUB_KAFKA_SESSION_TIMEOUT_MS": "1000",
                "PAYHUB_KAFKA_HEARTBEAT_MS": "100",
                "PAYHUB_INTEGRATION_URL": f"http://127.0.0.1:{ports['integration']}",
                "PAYHUB_GATEWAY_URL": f"http://127.0.0.1:{ports['gateway']}",
                "PAYHUB_AMK_BASE_URL": f"http://127.0.0.1:{ports['sandbox']}/sandbox/amk",
                "PAYHUB_AMK_VERIFY_URL": (
                    f"http://127.0.0.1:{ports['sandbox']}/sandbox/amk/amkpayway/v1/api/payment/payment-verify"
                ),
                "PAYHUB_LOG_LEVEL": "INFO",
            }
            migrate = await asyncio.create_subprocess_exec(PAYHUB, "migrate", env=env, stdout=subprocess.DEVNULL)
            assert await migrate.wait() == 0
            topo = Topology(env, tmp_path)
            try:
                for name, service in (
                    ("integration", "integration"),
                    ("gateway", "gateway"),
                    ("sandbox", "sandbox"),
                    ("push1", "push"),
                    ("push2", "push"),
                    ("notifier", "notifier"),
                ):
                    topo.serve(name, service, ports[name])
                topo.worker("relay", ports["relay"])
                topo.worker("feeder", ports["feeder"])
                await topo.wait_healthy()
                yield topo, broker, prefix
            finally:
                topo.stop()
    finally:
        redis_server.stop()


def token(env: dict[str, str], role: str) -> str:
    out = subprocess.run(
        [PAYHUB, "token", "--sub", "topology", "--role", role], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


async def wait_for_status(url: str, status: str, seen: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                if seen[-1]["status"] == status:
                    return


EXPECTED_CHECKS = {
    "gateway": {"database", "redis"},
    "integration": {"database", "redis", "kafka"},
    "sandbox": {"database", "redis"},
    "push1": {"database", "redis"},
    "push2": {"database", "redis"},
    "relay": {"database", "kafka"},
    "feeder": {"redis", "kafka"},
}


async def test_payment_reaches_subscribers_on_both_push_nodes(topology: tuple[Topology, Broker, str]) -> None:
    topo, broker, prefix = topology
    bootstrap = broker.bootstrap
    customer = {"Authorization": f"Bearer {token(topo.env, 'customer')}"}
    admin = {"Authorization": f"Bearer {token(topo.env, 'admin')}"}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, checks in EXPECTED_CHECKS.items():  # every process checks each dependency it uses
            deadline = time.monotonic() + 30
            while (r := await client.get(topo.url(name) + "/readyz")).status_code != 200:
                assert time.monotonic() < deadline, f"{name} not ready: {r.text}\n{topo.log(name)}"
                await asyncio.sleep(0.2)
            assert set(r.json()["data"]["checks"]) == checks, (name, r.text)
            scraped = await client.get(topo.url(name) + "/metrics", headers=admin)
            assert scraped.status_code == 200 and "process_open_fds" in scraped.text, name
        r = await client.get(topo.url("gateway") + "/AMK/payments", params={"query": "P123456789"}, headers=customer)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        payment_id, sub_token = data["paymentId"], data["subscribeToken"]
        seen1: list[dict[str, Any]] = []
        seen2: list[dict[str, Any]] = []
        path = f"/api/payments/{payment_id}/events?token={sub_token}"
        waiters = [
            asyncio.create_task(wait_for_status(topo.url("push1") + path, "CONFIRMED", seen1)),
            asyncio.create_task(wait_for_status(topo.url("push2") + path, "CONFIRMED", seen2)),
        ]
        async with asyncio.timeout(20):
            while not (seen1 and seen2):  # noqa: ASYNC110 - both subscribers hold their snapshot: live
                await asyncio.sleep(0.05)
        r = await client.post(
            topo.url("sandbox") + "/sandbox/amk/simulate/pay",
            json={"paymentId": payment_id, "method": "KHQR", "duplicates": 2},
        )
        assert r.status_code == 200, r.text
        answers = [w["attempts"][-1]["status"] for w in r.json()["data"]["webhooks"]]
        assert answers == [200, 200, 200]
        try:
            await asyncio.wait_for(asyncio.gather(*waiters), 60)
        except TimeoutError:
            raise AssertionError("\n".join(topo.log(n) for n in ("relay", "feeder", "push1"))) from None
    for seen in (seen1, seen2):
        assert [e["status"] for e in seen] == ["PENDING", "CONFIRMED"]
        assert seen[-1]["paymentId"] == payment_id and seen[-1]["transactionId"] == f"AMK_KHQR_{payment_id}"

    status = [
        r for r in await read_topic(bootstrap, f"{prefix}payhub.payment-status") if r.key == str(payment_id).encode()
    ]
    values = [json.loads(r.value) for r in status]
    assert [v["status"] for v in values][-1] == "CONFIRMED"
    assert len({v["id"] for v in values}) == len({v["id"] for v in values if v["paymentId"] == payment_id})
    confirmed_ids = {v["id"] for v in values if v["status"] == "CONFIRMED"}
    assert len(confirmed_ids) == 1  # three webhooks, one CONFIRMED event (duplicates in Kafka share its id)
    for topic in ("gateway.payment.success", "gateway.payment.verified", "gateway.payment.confirmed"):
        records = await read_topic(bootstrap, prefix + topic)
        assert {json.loads(r.value)["id"] for r in records if r.key == str(payment_id).encode()} >= confirmed_ids

    # The notifier consumed the status topic (consumer group payhub.notifier): the receipt went out once.
    admin = {"Authorization": f"Bearer {token(topo.env, 'admin')}"}
    async with httpx.AsyncClient(timeout=10) as client:
        deadline = time.monotonic() + 30
        while True:
            r = await client.get(f"{topo.url('notifier')}/admin/payments/{payment_id}/notifications", headers=admin)
            assert r.status_code == 200, r.text
            sent = {(n["channel"], n["state"]) for n in r.json()["data"]["notifications"]}
            if sent == {("push", "SENT"), ("email", "SENT"), ("webhook", "SENT")}:
                break
            assert time.monotonic() < deadline, (sent, topo.log("notifier"))
            await asyncio.sleep(0.2)
        r = await client.get(
            f"{topo.url('notifier')}/sandbox/notifications", params={"paymentId": payment_id, "format": "json"}
        )
        records = r.json()["data"]
        assert sorted(x["channel"] for x in records) == ["email", "push", "webhook"]  # three webhooks, one of each
        [receipt] = [x for x in records if x["channel"] == "email"]
        assert receipt["recipient"] == "john.doe@example.com" and "150.00 USD" in receipt["text"]

    # The integration service consumed gateway.payment.success: the premium is no longer offered.
    async with httpx.AsyncClient(timeout=10) as client:
        deadline = time.monotonic() + 20
        while True:
            r = await client.get(
                topo.url("gateway") + "/AMK/payments", params={"query": "P123456789"}, headers=customer
            )
            if r.status_code == 404:
                break
            assert time.monotonic() < deadline, r.text
            await asyncio.sleep(0.2)


async def test_kafka_down_while_payments_arrive(topology: tuple[Topology, Broker, str]) -> None:
    """Webhooks still succeed; the events reach Kafka, and the subscribers, once it returns. None lost."""
    topo, broker, _ = topology
    customer = {"Authorization": f"Bearer {token(topo.env, 'customer')}"}
    async with httpx.AsyncClient(timeout=20) as client:
        streams = []
        for policy in ("P123456789", "P987654321"):
            r = await client.get(topo.url("gateway") + "/AMK/payments", params={"query": policy}, headers=customer)
            assert r.status_code == 200, r.text
            data = r.json()["data"]
            streams.append((data["paymentId"], data["subscribeToken"]))
        seen: dict[int, list[dict[str, Any]]] = {pid: [] for pid, _ in streams}
        waiters = [
            asyncio.create_task(
                wait_for_status(f"{topo.url('push1')}/api/payments/{pid}/events?token={tok}", "CONFIRMED", seen[pid])
            )
            for pid, tok in streams
        ]
        async with asyncio.timeout(20):
            while not all(seen.values()):  # noqa: ASYNC110 - every subscriber holds its snapshot
                await asyncio.sleep(0.05)

        await broker.stop()
        for pid, _ in streams:
            r = await client.post(
                topo.url("sandbox") + "/sandbox/amk/simulate/pay", json={"paymentId": pid, "method": "KHQR"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["data"]["webhooks"][0]["attempts"][-1]["status"] == 200  # AMK is answered
        await asyncio.sleep(1.0)
        assert all(e["status"] == "PENDING" for events in seen.values() for e in events)  # not yet: Kafka is down
        for name in ("relay", "feeder", "integration"):  # the processes that use Kafka say so
            r = await client.get(topo.url(name) + "/readyz")
            assert r.status_code == 503 and "kafka" in r.json()["error"]["message"], (name, r.text)
        assert (await client.get(topo.url("gateway") + "/readyz")).status_code == 200  # it does not use Kafka
        admin = {"Authorization": f"Bearer {token(topo.env, 'admin')}"}
        backlog = (await client.get(topo.url("relay") + "/metrics", headers=admin)).text
        assert "payhub_outbox_unpublished_events 0.0" not in backlog  # the events wait in the outbox

        await broker.start()  # same port, empty: the relay publishes what was not acknowledged
        try:
            await asyncio.wait_for(asyncio.gather(*waiters), 60)
        except TimeoutError:
            raise AssertionError("\n".join(topo.log(n) for n in ("relay", "feeder"))) from None
    for pid, _ in streams:
        assert [e["status"] for e in seen[pid]] == ["PENDING", "CONFIRMED"]
    # Every event was acknowledged by the broker (the relay marks rows only after acks).
    schema = topo.env["PAYHUB_DATABASE_URL"].split("schema=")[1]
    con = await asyncpg.connect(PG_BASE, server_settings={"search_path": schema})
    try:
        assert await con.fetchval("SELECT count(*) FROM payment_events WHERE published_at IS NULL") == 0
        assert await con.fetchval("SELECT count(*) FROM payment_events WHERE status = 'CONFIRMED'") == 2
    finally:
        await con.close()
