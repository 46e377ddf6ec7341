"""The long-running worker processes of the production topology: relay, feeder, integration and notifier consumers.

Each is an ``async`` function the CLI runs until it is stopped; drivers are imported here only,
when the process that needs them starts. Each worker process serves ``/metrics``, ``/healthz`` and
``/readyz`` (``payhub/probes.py``) on its port: ``--port``, else ``PAYHUB_WORKER_PORT``, else its
default in ``WORKER_PORTS``; its ``/readyz`` checks each dependency it uses (database, Redis, Kafka).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from tenacity import wait_fixed

from hub.background import running
from hub.errors import ConfigError
from hub.metrics import Metrics
from hub.ports import Store
from hub.readiness import Readiness
from hub.resilience.retry import retry_logged
from hub.settings import Settings
from hub.topics import Topics
from hub.tracing import Tracer
from integration.premiums import PremiumService
from notifier.service import Notifier

if TYPE_CHECKING:
    # Only for annotations: the Kafka driver is imported when a process that uses it starts.
    from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer

log = logging.getLogger("payhub.processes")

# Default probe ports of the worker processes (the HTTP services serve the probes on their own port).
WORKER_PORTS = {"relay": 9101, "feeder": 9102, "notifier": 9103}


def worker_port(settings: Settings, name: str, port: int | None = None) -> int:
    """The port of worker ``name``'s probes: ``port`` (the command line), else PAYHUB_WORKER_PORT, else the default."""
    if port is not None:
        return port
    return settings.worker_port or WORKER_PORTS[name]


class Pingable(Protocol):
    """A client whose dependency answers ``ping`` (or raises): Redis bus, Kafka producer and consumer."""

    async def ping(self) -> None: ...


class LagReporter(Pingable, Protocol):
    """A consumer-group member that reports how far behind its partitions it is."""

    group_id: str

    async def lag(self) -> Mapping[tuple[str, int], int]: ...


def relay_probes(settings: Settings, store: Store, producer: Pingable) -> tuple[Metrics, Readiness]:
    """The relay's metrics (process, outbox backlog and age) and readiness (database, Kafka)."""
    metrics, readiness = Metrics(), Readiness(settings.readiness_timeout_s)
    readiness.add("database", store.ping)
    readiness.add("kafka", producer.ping)
    outbox_gauges(metrics, store)
    return metrics, readiness


def feeder_probes(settings: Settings, bus: Pingable, consumer: LagReporter) -> tuple[Metrics, Readiness]:
    """The feeder's metrics (process, consumer lag) and readiness (Redis, Kafka)."""
    metrics, readiness = Metrics(), Readiness(settings.readiness_timeout_s)
    readiness.add("redis", bus.ping)
    readiness.add("kafka", consumer.ping)
    consumer_lag_gauge(metrics, [consumer])
    return metrics, readiness


def outbox_gauges(metrics: Metrics, store: Store) -> None:
    """``payhub_outbox_unpublished_events`` and ``payhub_outbox_oldest_unpublished_age_seconds``,
    read from the database at scrape time (the relay's backlog, the same from every relay)."""

    async def backlog() -> dict[tuple[str, ...], float]:
        async with store.transaction() as tx:
            return {(): float(await tx.outbox.unpublished_count())}

    async def oldest_age() -> dict[tuple[str, ...], float]:
        async with store.transaction() as tx:
            oldest = await tx.outbox.oldest_unpublished_at()
        return {(): 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())}

    metrics.scraped_gauge(
        "payhub_outbox_unpublished_events", "Committed payment events not yet relayed to Kafka", backlog
    )
    metrics.scraped_gauge(
        "payhub_outbox_oldest_unpublished_age_seconds",
        "Age of the oldest committed payment event not yet relayed to Kafka (0 when none waits)",
        oldest_age,
    )


def consumer_lag_gauge(metrics: Metrics, consumers: Sequence[LagReporter]) -> None:
    """``payhub_kafka_consumer_lag_messages{group,topic,partition}`` of this process's Kafka consumers
    (each reports the partitions assigned to it: one series per partition across the group's members)."""

    async def lag() -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for consumer in consumers:
            for (topic, partition), behind in (await consumer.lag()).items():
                out[(consumer.group_id, topic, str(partition))] = float(behind)
        return out

    metrics.scraped_gauge(
        "payhub_kafka_consumer_lag_messages",
        "Messages a consumer group has yet to read, per partition (high watermark minus position)",
        lag,
        ["group", "topic", "partition"],
    )


def _require_kafka(settings: Settings, what: str) -> None:
    if not settings.kafka_bootstrap:
        raise ConfigError(f"{what} needs PAYHUB_KAFKA_BOOTSTRAP (host:port of the Kafka brokers)")


async def run_relay(settings: Settings, *, port: int | None = None) -> None:
    """Outbox → Kafka, woken by PostgreSQL NOTIFY right after each commit, polling as a fallback.

    Serves its probes on ``worker_port(settings, "relay", port)``; ready while the database and
    Kafka answer. Metrics: the outbox backlog and the age of its oldest event.
    """
    from hub.adapters.stream.kafka import KafkaProducer, ensure_topics
    from hub.relay import OutboxRelay
    from payhub.backends import is_postgres, open_store
    from payhub.probes import serving_probes
    from payhub.tracing_setup import tracer_for

    _require_kafka(settings, "payhub relay")
    tracer = tracer_for(settings, "relay")
    topics = Topics(settings.kafka_topic_prefix)
    listen = settings.database_url if is_postgres(settings.database_url) else None
    async with (
        open_store(settings.database_url, pool_min=1, pool_max=4) as store,
        KafkaProducer(
            settings.kafka_bootstrap, idempotence=settings.kafka_idempotence, client_id="payhub-relay"
        ) as producer,
    ):
        metrics, readiness = relay_probes(settings, store, producer)
        async with serving_probes(
            settings, metrics, readiness, process="relay", port=worker_port(settings, "relay", port)
        ):
            await _ensure(
                ensure_topics,
                settings.kafka_bootstrap,
                [*topics.all(), topics.dead_letter(topics.status), topics.dead_letter(topics.success)],
            )
            relay = OutboxRelay(store, producer, topics, listen_url=listen, tracer=tracer)
            log.info("relay started", extra={"topics": topics.all()})
            try:
                await relay.run_forever()
            finally:
                tracer.shutdown()


async def run_feeder(settings: Settings, *, port: int | None = None) -> None:
    """Kafka status topic (consumer group) → Redis pub/sub, which every push node subscribes to.

    Serves its probes on ``worker_port(settings, "feeder", port)``; ready while Redis and Kafka
    answer. Metrics: the consumer group's lag per partition.
    """
    from hub.adapters.bus.redis import RedisBus
    from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
    from payhub.probes import serving_probes
    from push.feeder import GROUP_ID as FEEDER_GROUP
    from push.feeder import StatusFeeder

    _require_kafka(settings, "payhub feeder")
    if not settings.redis_url:
        raise ConfigError("payhub feeder needs PAYHUB_REDIS_URL")
    from payhub.tracing_setup import tracer_for

    tracer = tracer_for(settings, "feeder")
    topics = Topics(settings.kafka_topic_prefix)
    bus = RedisBus(settings.redis_url)
    try:
        async with (
            KafkaConsumer(
                settings.kafka_bootstrap,
                FEEDER_GROUP,
                [topics.status],
                client_id="payhub-feeder",
                **_group_timing(settings),
            ) as consumer,
            KafkaProducer(
                settings.kafka_bootstrap, idempotence=settings.kafka_idempotence, client_id="payhub-feeder-dlq"
            ) as dlq,
        ):
            metrics, readiness = feeder_probes(settings, bus, consumer)
            port = worker_port(settings, "feeder", port)
            async with serving_probes(settings, metrics, readiness, process="feeder", port=port):
                await _ensure(
                    ensure_topics, settings.kafka_bootstrap, [*topics.all(), topics.dead_letter(topics.status)]
                )
                log.info("feeder started", extra={"topic": topics.status})
                await StatusFeeder(consumer, bus, dlq, topics, tracer=tracer).run_forever()
    finally:
        tracer.shutdown()
        await bus.aclose()


@contextlib.asynccontextmanager
async def integration_consumer(
    settings: Settings,
    premiums: PremiumService,
    metrics: Metrics | None = None,
    readiness: Readiness | None = None,
    tracer: Tracer | None = None,
) -> AsyncIterator[None]:
    """While the integration service runs with Kafka: settle premiums from payment-success events.

    Its consumer joins the process's readiness (``kafka``) and reports its lag in ``metrics``.
    """
    if not settings.kafka_bootstrap:
        yield
        return
    from integration.consumer import GROUP_ID, PremiumSettlementConsumer

    topics = Topics(settings.kafka_topic_prefix)
    async with _consumer_group(
        settings,
        GROUP_ID,
        topics.success,
        "payhub-integration",
        lambda consumer, dlq: PremiumSettlementConsumer(consumer, premiums, dlq, tracer=tracer),
        metrics,
        readiness,
        task_name="payhub-settlement",
    ):
        yield


@contextlib.asynccontextmanager
async def notifier_consumer(
    settings: Settings,
    notifier: Notifier,
    metrics: Metrics | None = None,
    readiness: Readiness | None = None,
    tracer: Tracer | None = None,
) -> AsyncIterator[None]:
    """While the notifier runs with Kafka: consumer group ``payhub.notifier`` on the status topic.

    Its consumer joins the process's readiness (``kafka``) and reports its lag in ``metrics``.
    """
    if not settings.kafka_bootstrap:
        yield
        return
    from notifier.consumer import GROUP_ID, NotificationConsumer

    topics = Topics(settings.kafka_topic_prefix)
    async with _consumer_group(
        settings,
        GROUP_ID,
        topics.status,
        "payhub-notifier",
        lambda consumer, dlq: NotificationConsumer(consumer, notifier, dlq, tracer=tracer),
        metrics,
        readiness,
        task_name="payhub-notifier",
    ):
        yield


class _Worker(Protocol):
    async def run_forever(self) -> None: ...


@contextlib.asynccontextmanager
async def _consumer_group(
    settings: Settings,
    group_id: str,
    topic: str,
    client_id: str,
    worker: Callable[[KafkaConsumer, KafkaProducer], _Worker],
    metrics: Metrics | None,
    readiness: Readiness | None,
    *,
    task_name: str,
) -> AsyncIterator[None]:
    """Run ``worker(consumer, dlq)`` in the background while the block runs: a member of consumer group
    ``group_id`` on ``topic`` (client ``client_id``) and an idempotent producer for its dead letters
    (client ``<client_id>-dlq``). The topics (with ``topic``'s dead-letter topic) are made sure of first;
    the consumer joins ``readiness`` as ``kafka`` while it runs and reports its lag in ``metrics``."""
    from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics

    topics = Topics(settings.kafka_topic_prefix)
    await _ensure(ensure_topics, settings.kafka_bootstrap, [*topics.all(), topics.dead_letter(topic)])
    async with (
        KafkaConsumer(
            settings.kafka_bootstrap, group_id, [topic], client_id=client_id, **_group_timing(settings)
        ) as consumer,
        KafkaProducer(
            settings.kafka_bootstrap, idempotence=settings.kafka_idempotence, client_id=f"{client_id}-dlq"
        ) as dlq,
    ):
        if readiness is not None:
            readiness.add("kafka", consumer.ping)
        if metrics is not None:
            consumer_lag_gauge(metrics, [consumer])
        try:
            async with running(worker(consumer, dlq).run_forever(), name=task_name):
                yield
        finally:
            if readiness is not None:
                readiness.remove("kafka")


def _group_timing(settings: Settings) -> dict[str, int]:
    return {
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_ms,
    }


async def _ensure(ensure_topics: object, bootstrap: str, topics: Topics | list[str]) -> None:
    names = topics.all() if isinstance(topics, Topics) else topics
    # The broker may still be starting: keep trying for 30 s, then give up loudly.
    await retry_logged(
        lambda: ensure_topics(bootstrap, names),  # type: ignore[operator]
        wait=wait_fixed(1),
        log=log,
        what="Kafka topics (broker not ready?)",
        attempts=30,
    )
