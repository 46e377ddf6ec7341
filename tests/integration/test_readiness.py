"""/readyz of every process checks each dependency it uses, and flips when one really stops:
a private redis-server stopped and started (HTTP service, feeder), PostgreSQL cut by a TCP proxy
(relay), the Kafka test broker stopped (relay, feeder). The worker processes serve /metrics,
/healthz and /readyz on their port; a consumer's lag is reported per group and partition."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
from hub.readiness import Readiness
from payhub import workers
from tests.conftest import PG_BASE, auth_header, free_port, fresh_pg_schema, make_settings, running
from tests.kafka_broker import GROUP_TIMEOUTS, Broker, start_broker
from tests.redis_server import PrivateRedis
from tests.tcp_proxy import TcpProxy

METRICS_TOKEN = "metrics-token-for-the-readiness-tests"


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not reached in {within} s: {what}"
        await asyncio.sleep(0.1)


async def ready_state(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    r = await client.get("/readyz")
    body: dict[str, Any] = r.json()
    return r.status_code, body


async def test_a_check_that_hangs_is_cut_off_and_named() -> None:
    readiness = Readiness(timeout_s=0.2)

    async def ok() -> None:
        return None

    async def hangs() -> None:
        await asyncio.sleep(3600)

    readiness.add("database", ok)
    readiness.add("kafka", hangs)
    started = time.monotonic()
    assert await readiness.probe() == {"database": "ok", "kafka": "timeout after 0.2 s"}
    assert time.monotonic() - started < 1
    with pytest.raises(Exception, match="kafka unreachable") as raised:
        await readiness.require()
    assert raised.value.details == {"database": "ok", "kafka": "timeout after 0.2 s"}  # type: ignore[attr-defined]


async def test_http_service_readiness_follows_redis(tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    try:
        settings = make_settings(f"sqlite:///{tmp_path}/p.db", redis_url=redis_server.url, readiness_timeout_s=1)
        async with running(settings, services=["push"]) as c:
            assert c.app is not None
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://t") as client:
                status, body = await ready_state(client)
                assert status == 200, body
                assert body["data"]["checks"] == {"database": "ok", "redis": "ok"}
                redis_server.stop()
                status, body = await ready_state(client)
                assert status == 503
                assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
                assert body["error"]["message"] == "redis unreachable"
                assert body["error"]["details"]["database"] == "ok"
                assert (await client.get("/healthz")).status_code == 200  # alive all the same
                await redis_server.start()
                await wait_for(lambda: _is_ready(client), "push ready again after Redis restarted")
                # the metrics of a push node still answer while Redis is away or back
                assert (await client.get("/metrics", headers=auth_header(c, "admin"))).status_code == 200
    finally:
        redis_server.stop()


async def _is_ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


@contextlib.asynccontextmanager
async def worker(run: Callable[..., Awaitable[None]], settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run a worker (``workers.run_relay`` / ``run_feeder``) in this loop; a client to its probe port."""
    port = free_port()
    task = asyncio.create_task(run(settings, port=port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def up() -> bool:
                if task.done():
                    task.result()  # raise what stopped it
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_for(up, "worker probes listening")
            yield client
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    async with start_broker(tmp_path) as b:
        yield b


def _kafka_settings(broker: Broker, **overrides: Any) -> Any:
    return make_settings(
        overrides.pop("database_url", "sqlite:///unused.db"),
        kafka_bootstrap=broker.bootstrap,
        kafka_idempotence=False,
        kafka_topic_prefix="r.",
        kafka_session_timeout_ms=1000,
        kafka_heartbeat_ms=100,
        readiness_timeout_s=1,
        metrics_token=METRICS_TOKEN,
        **overrides,
    )


@pytest.mark.postgres
async def test_relay_probes_follow_the_database_and_kafka(broker: Broker, tmp_path: Path) -> None:
    async with fresh_pg_schema() as url:
        schema = url.split("schema=")[1]
        proxy = TcpProxy("127.0.0.1", int(PG_BASE.rsplit(":", 1)[1].split("/")[0]))
        await proxy.start()
        proxied = f"postgresql://127.0.0.1:{proxy.port}/test?schema={schema}"
        settings = _kafka_settings(broker, database_url=proxied, redis_url="redis://127.0.0.1:9/0")
        try:
            async with worker(workers.run_relay, settings) as relay:
                await wait_for(lambda: _is_ready(relay), "relay ready")
                status, body = await ready_state(relay)
                assert body["data"]["checks"] == {"database": "ok", "kafka": "ok"}
                assert body["data"]["process"] == "relay"
                assert (await relay.get("/metrics")).status_code == 401  # not anonymous
                text = (await relay.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
                assert "payhub_outbox_unpublished_events 0.0" in text
                assert "payhub_outbox_oldest_unpublished_age_seconds 0.0" in text
                assert "process_open_fds" in text

                await proxy.cut()  # PostgreSQL unreachable
                status, body = await ready_state(relay)
                assert status == 503 and body["error"]["message"] == "database unreachable", body
                assert body["error"]["details"]["kafka"] == "ok"
                await proxy.start()
                await wait_for(lambda: _is_ready(relay), "relay ready after PostgreSQL is back")

                await broker.stop()  # Kafka unreachable
                status, body = await ready_state(relay)
                assert status == 503 and body["error"]["message"] == "kafka unreachable", body
                await broker.start()
                await wait_for(lambda: _is_ready(relay), "relay ready after Kafka is back", within=30)
        finally:
            await proxy.cut()


async def test_feeder_probes_follow_redis_and_kafka_and_report_lag(broker: Broker, tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)
    await redis_server.start()
    settings = _kafka_settings(broker, redis_url=redis_server.url)
    try:
        async with worker(workers.run_feeder, settings) as feeder:
            await wait_for(lambda: _is_ready(feeder), "feeder ready", within=30)
            status, body = await ready_state(feeder)
            assert body["data"]["checks"] == {"redis": "ok", "kafka": "ok"}

            redis_server.stop()
            status, body = await ready_state(feeder)
            assert status == 503 and body["error"]["message"] == "redis unreachable", body
            await redis_server.start()
            await wait_for(lambda: _is_ready(feeder), "feeder ready after Redis restarted")

            auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}

            async def lag_reported() -> bool:
                text = (await feeder.get("/metrics", headers=auth)).text
                return 'payhub_kafka_consumer_lag_messages{group="payhub.feeder"' in text

            await wait_for(lag_reported, "the feeder's partitions in its lag gauge", within=30)
            await broker.stop()
            status, body = await ready_state(feeder)
            assert status == 503 and "kafka" in body["error"]["message"], body
    finally:
        redis_server.stop()


async def test_consumer_lag_counts_what_the_group_has_not_read(broker: Broker) -> None:
    topic = "lag-test"
    await ensure_topics(broker.bootstrap, [topic], partitions=1)
    async with KafkaProducer(broker.bootstrap, idempotence=False) as producer:
        await producer.send_many([(topic, "k", {"n": n}) for n in range(5)])
    async with KafkaConsumer(broker.bootstrap, "lag-group", [topic], max_poll_records=2, **GROUP_TIMEOUTS) as consumer:
        got: list[Any] = []
        deadline = time.monotonic() + 30
        while not got:
            assert time.monotonic() < deadline
            got = await consumer.getmany(timeout_s=0.5, max_records=2)
        assert await consumer.lag() == {(topic, 0): 5 - len(got)}
        while len(got) < 5:
            assert time.monotonic() < deadline
            got += await consumer.getmany(timeout_s=0.5, max_records=2)
        assert await consumer.lag() == {(topic, 0): 0}
        assert consumer.group_id == "lag-group"


async def test_a_worker_port_that_is_taken_is_a_clear_start_up_error(tmp_path: Path) -> None:
    from hub.errors import ConfigError
    from hub.metrics import Metrics
    from payhub.probes import serving_probes

    settings = make_settings(f"sqlite:///{tmp_path}/p.db")
    async with serving_probes(settings, Metrics(), Readiness(), process="relay", port=0) as port:
        with pytest.raises(ConfigError, match=f"relay: cannot serve /metrics on 127.0.0.1:{port}"):
            async with serving_probes(settings, Metrics(), Readiness(), process="relay", port=port):
                pass


def test_worker_ports() -> None:
    settings = make_settings("sqlite:///x.db")
    assert workers.worker_port(settings, "relay") == 9101 and workers.worker_port(settings, "feeder") == 9102
    assert workers.worker_port(make_settings("sqlite:///x.db", worker_port=9200), "feeder") == 9200
    assert workers.worker_port(make_settings("sqlite:///x.db", worker_port=9200), "feeder", 9300) == 9300
