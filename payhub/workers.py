"""The long-running worker processes of the production topology: relay, feeder, integration and notifier consumers.

Each is an ``async`` function the CLI runs until it is stopped; drivers are imported here only,
when the process that needs them starts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from tenacity import wait_fixed

from hub.background import running
from hub.errors import ConfigError
from hub.resilience.retry import retry_logged
from hub.settings import Settings
from hub.topics import Topics
from integration.premiums import PremiumService
from notifier.service import Notifier

log = logging.getLogger("payhub.processes")


def _require_kafka(settings: Settings, what: str) -> None:
    if not settings.kafka_bootstrap:
        raise ConfigError(f"{what} needs PAYHUB_KAFKA_BOOTSTRAP (host:port of the Kafka brokers)")


async def run_relay(settings: Settings) -> None:
    """Outbox → Kafka, woken by PostgreSQL NOTIFY right after each commit, polling as a fallback."""
    from hub.adapters.stream.kafka import KafkaProducer, ensure_topics
    from hub.relay import OutboxRelay
    from payhub.backends import is_postgres, open_store

    _require_kafka(settings, "payhub relay")
    topics = Topics(settings.kafka_topic_prefix)
    await _ensure(
        ensure_topics,
        settings.kafka_bootstrap,
        [*topics.all(), topics.dead_letter(topics.status), topics.dead_letter(topics.success)],
    )
    listen = settings.database_url if is_postgres(settings.database_url) else None
    async with (
        open_store(settings.database_url, pool_min=1, pool_max=4) as store,
        KafkaProducer(
            settings.kafka_bootstrap, idempotence=settings.kafka_idempotence, client_id="payhub-relay"
        ) as producer,
    ):
        relay = OutboxRelay(store, producer, topics, listen_url=listen)
        log.info("relay started", extra={"topics": topics.all()})
        await relay.run_forever()


async def run_feeder(settings: Settings) -> None:
    """Kafka status topic (consumer group) → Redis pub/sub, which every push node subscribes to."""
    from hub.adapters.bus.redis import RedisBus
    from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
    from push.feeder import GROUP_ID as FEEDER_GROUP
    from push.feeder import StatusFeeder

    _require_kafka(settings, "payhub feeder")
    if not settings.redis_url:
        raise ConfigError("payhub feeder needs PAYHUB_REDIS_URL")
    topics = Topics(settings.kafka_topic_prefix)
    await _ensure(ensure_topics, settings.kafka_bootstrap, [*topics.all(), topics.dead_letter(topics.status)])
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
            log.info("feeder started", extra={"topic": topics.status})
            await StatusFeeder(consumer, bus, dlq, topics).run_forever()
    finally:
        await bus.aclose()


@contextlib.asynccontextmanager
async def integration_consumer(settings: Settings, premiums: PremiumService) -> AsyncIterator[None]:
    """While the integration service runs with Kafka: settle premiums from payment-success events."""
    if not settings.kafka_bootstrap:
        yield
        return
    from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
    from integration.consumer import GROUP_ID, PremiumSettlementConsumer

    topics = Topics(settings.kafka_topic_prefix)
    await _ensure(ensure_topics, settings.kafka_bootstrap, [*topics.all(), topics.dead_letter(topics.success)])
    async with (
        KafkaConsumer(
            settings.kafka_bootstrap,
            GROUP_ID,
            [topics.success],
            client_id="payhub-integration",
            **_group_timing(settings),
        ) as consumer,
        KafkaProducer(
            settings.kafka_bootstrap, idempotence=settings.kafka_idempotence, client_id="payhub-integration-dlq"
        ) as dlq,
    ):
        async with running(PremiumSettlementConsumer(consumer, premiums, dlq).run_forever(), name="payhub-settlement"):
            yield


@contextlib.asynccontextmanager
async def notifier_consumer(settings: Settings, notifier: Notifier) -> AsyncIterator[None]:
    """While the notifier runs with Kafka: consumer group ``payhub.notifier`` on the status topic."""
    if not settings.kafka_bootstrap:
        yield
        return
    from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer, ensure_topics
    from notifier.consumer import GROUP_ID, NotificationConsumer

    topics = Topics(settings.kafka_topic_prefix)
    await _ensure(ensure_topics, settings.kafka_bootstrap, [*topics.all(), topics.dead_letter(topics.status)])
    async with (
        KafkaConsumer(
            settings.kafka_bootstrap, GROUP_ID, [topics.status], client_id="payhub-notifier", **_group_timing(settings)
        ) as consumer,
        KafkaProducer(
            settings.kafka_bootstrap, idempotence=settings.kafka_idempotence, client_id="payhub-notifier-dlq"
        ) as dlq,
    ):
        async with running(NotificationConsumer(consumer, notifier, dlq).run_forever(), name="payhub-notifier"):
            yield


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
