"""Prometheus metrics for the on-call engineer: one registry per process (no import-time globals).

Scrape ``GET /metrics`` (every HTTP service and every worker process serves it). Names follow
Prometheus' conventions: the ``payhub_`` prefix, base units in the name (``_seconds``), ``_total``
on counters, and labels whose values are bounded (kinds, endpoints, outcomes, transports, partitions).

Three ways a value gets here:

* instruments updated as things happen (``Counter``, ``Histogram`` below);
* ``gauge``/``labelled_gauge``: read at scrape time from this process's objects (cheap, synchronous);
* ``stored_counter``/``scraped_gauge``: read at scrape time by an ``async`` function (the database,
  the Kafka client), each bounded by ``SCRAPE_READ_TIMEOUT_S``. Gauges that describe shared state
  (outbox backlog, open reviews, double payments) come from the database, so every process that
  reports them reports the same truth. A failed or slow read leaves the samples out of that scrape.

``process_*`` (CPU, memory, open and maximum file descriptors) and ``python_info`` come from
prometheus-client's own collectors, registered on this registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.alerts import Alerts

SCRAPE_READ_TIMEOUT_S = 2.0
# Latencies of calls and deliveries that should take milliseconds and may take tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

Labels = tuple[str, ...]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.webhooks = Counter("payhub_webhooks_total", "AMK webhooks answered", ["kind", "status"], registry=r)
        self.webhook_seconds = Histogram(
            "payhub_webhook_seconds", "Time to answer an AMK webhook", ["kind"], registry=r, buckets=LATENCY_BUCKETS
        )
        self.webhook_committed_seconds = Histogram(
            "payhub_webhook_received_to_committed_seconds",
            "AMK webhook received (request routed) to its payment change committed, by kind",
            ["kind"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.push_delivery_seconds = Histogram(
            "payhub_push_delivery_seconds",
            "Status event committed (its occurredAt) to its live frame written to a subscriber, by transport",
            ["transport"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        # ``endpoint``: sign-in | qr/generator | payment-verify | other; ``outcome``: see hub.http.client_metrics.
        self.amk_request_seconds = Histogram(
            "payhub_amk_request_duration_seconds",
            "Calls to AMK's partner API: time to the answer's headers, by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.inquiries = Counter("payhub_inquiries_total", "Premium inquiries", ["outcome"], registry=r)
        # Labels are bounded: ``code`` is a spec error code, ``amk_code`` one of
        # hub.adapters.amk.client.REFUSAL_LABELS (any other code AMK sends counts as "unknown").
        self.amk_refusals = Counter(
            "payhub_amk_verify_refusals_total",
            "AMK payment-verify answers that refused or could not be read",
            ["code", "amk_code"],
            registry=r,
        )
        # Notifications (issue 10): ``channel`` is push|sms|email|webhook, ``outcome`` sent|retried|dead|cancelled.
        self.notifications = Counter(
            "payhub_notifications_total",
            "Notification attempts by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.notification_seconds = Histogram(
            "payhub_notification_send_seconds",
            "Time a notification channel took to accept or refuse a message",
            ["channel"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        # Bounded: ``rule`` is a configured rule name (at most 64, hub/fraud/rules.py) or "engine",
        # ``action`` block | flag | error, ``surface`` inquiry | qr | webhook.
        self.fraud_decisions = Counter(
            "payhub_fraud_decisions_total",
            "Fraud rules fired (block: refused before money moved; flag: reviewed, went on)",
            ["rule", "action", "surface"],
            registry=r,
        )
        self.alerts = Alerts(r)
        self._scraped: list[_Scraped] = []

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time (``read`` must be cheap and synchronous)."""
        self.registry.register(_Live(name, documentation, (), lambda: {(): read()}))

    def labelled_gauge(
        self, name: str, documentation: str, labels: Sequence[str], read: Callable[[], Mapping[Labels, float]]
    ) -> None:
        """A gauge family read at scrape time: ``read`` maps label values (in ``labels`` order) to values."""
        self.registry.register(_Live(name, documentation, tuple(labels), read))

    def stored_counter(self, name: str, documentation: str, read: Callable[[], Awaitable[float]]) -> None:
        """A counter kept in the database (``read`` counts rows that are never deleted), read at
        scrape time: every process reports the same truth, and a restart does not reset it."""

        async def one() -> Mapping[Labels, float]:
            return {(): await read()}

        self._add_scraped(_Scraped(name, documentation, (), one, counter=True))

    def stored_counters(
        self, name: str, documentation: str, label: str, read: Callable[[], Awaitable[Mapping[str, float]]]
    ) -> None:
        """``stored_counter`` with one label: ``read`` returns the value of each label value (a bounded set)."""

        async def labelled() -> Mapping[Labels, float]:
            return {(value,): count for value, count in (await read()).items()}

        self._add_scraped(_Scraped(name, documentation, (label,), labelled, counter=True))

    def scraped_gauge(
        self,
        name: str,
        documentation: str,
        read: Callable[[], Awaitable[Mapping[Labels, float]]],
        labels: Sequence[str] = (),
    ) -> None:
        """A gauge family read at scrape time by ``read`` (database rows, a Kafka client's offsets):
        a mapping of label values (in ``labels`` order; ``()`` without labels) to values."""
        self._add_scraped(_Scraped(name, documentation, tuple(labels), read, counter=False))

    def _add_scraped(self, scraped: _Scraped) -> None:
        self._scraped.append(scraped)
        self.registry.register(scraped)

    async def render_async(self) -> bytes:
        """``render`` after reading the scraped metrics, concurrently, each within ``SCRAPE_READ_TIMEOUT_S``."""
        await asyncio.gather(*(s.refresh() for s in self._scraped))
        return self.render()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    def __init__(
        self, name: str, documentation: str, labels: Labels, read: Callable[[], Mapping[Labels, float]]
    ) -> None:
        self._name, self._doc, self._labels, self._read = name, documentation, labels, read

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily(self._name, self._doc, labels=self._labels)
        for values, value in self._read().items():
            family.add_metric(list(values), value)
        yield family


class _Scraped(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Labels,
        read: Callable[[], Awaitable[Mapping[Labels, float]]],
        *,
        counter: bool,
    ) -> None:
        self._name, self._doc, self._labels, self._read, self._counter = name, documentation, labels, read, counter
        self.values: Mapping[Labels, float] = {}

    async def refresh(self) -> None:
        try:
            self.values = await asyncio.wait_for(self._read(), SCRAPE_READ_TIMEOUT_S)
        except Exception:  # the dependency is down or slow: /readyz says which; leave the samples out
            self.values = {}

    def collect(self):  # type: ignore[no-untyped-def]
        family: CounterMetricFamily | GaugeMetricFamily
        if self._counter:
            family = CounterMetricFamily(self._name, self._doc, labels=self._labels)
        else:
            family = GaugeMetricFamily(self._name, self._doc, labels=self._labels)
        for values, value in self.values.items():
            family.add_metric(list(values), value)
        yield family
