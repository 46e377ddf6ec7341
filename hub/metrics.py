"""Prometheus metrics for the on-call engineer: one registry per process (no import-time globals).

Scrape ``GET /metrics``. Gauges that describe shared state (pending verifications, unpublished
outbox rows) are read from the database at scrape time, so every process reports the truth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhooks = Counter("payhub_webhooks_total", "AMK webhooks answered", ["kind", "status"], registry=r)
        self.webhook_seconds = Histogram(
            "payhub_webhook_seconds",
            "Time to answer an AMK webhook",
            ["kind"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
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
        self._stored: list[_Stored | _StoredGauge] = []

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time (``read`` must be cheap and synchronous)."""
        self.registry.register(_Live(name, documentation, read))

    def stored_counter(self, name: str, documentation: str, read: Callable[[], Awaitable[float]]) -> None:
        """A counter kept in the database (``read`` counts rows that are never deleted), read at
        scrape time: every process reports the same truth, and a restart does not reset it."""
        stored = _Stored(name, documentation, read)
        self._stored.append(stored)
        self.registry.register(stored)

    def stored_counters(
        self, name: str, documentation: str, label: str, read: Callable[[], Awaitable[dict[str, float]]]
    ) -> None:
        """``stored_counter`` with one label: ``read`` returns the value of each label value (a bounded set)."""
        stored = _Stored(name, documentation, read, label=label)
        self._stored.append(stored)
        self.registry.register(stored)

    def stored_gauge(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        read: Callable[[], Awaitable[Mapping[tuple[str, ...], float]]],
    ) -> None:
        """A labelled gauge read from the database at scrape time: ``read`` returns a value per tuple
        of label values (in ``labels`` order; keep them bounded). Every process reports the same truth."""
        stored = _StoredGauge(name, documentation, tuple(labels), read)
        self._stored.append(stored)
        self.registry.register(stored)

    async def render_async(self) -> bytes:
        """``render`` after reading the stored counters (a failed read leaves the metric out)."""
        for stored in self._stored:
            try:
                stored.value = await stored.read()
            except Exception:
                stored.value = None
        return self.render()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, documentation, read

    def collect(self):  # type: ignore[no-untyped-def]
        yield GaugeMetricFamily(self._name, self._doc, value=self._read())


class _Stored(Collector):
    def __init__(
        self, name: str, documentation: str, read: Callable[[], Awaitable[Any]], *, label: str | None = None
    ) -> None:
        self._name, self._doc, self.read, self._label = name, documentation, read, label
        self.value: Any = None  # a float, or {label value: float} with a label

    def collect(self):  # type: ignore[no-untyped-def]
        if self.value is None:
            return
        if self._label is None:
            yield CounterMetricFamily(self._name, self._doc, value=self.value)
            return
        family = CounterMetricFamily(self._name, self._doc, labels=[self._label])
        for label_value, value in sorted(self.value.items()):
            family.add_metric([label_value], value)
        yield family


class _StoredGauge(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labels: tuple[str, ...],
        read: Callable[[], Awaitable[Mapping[tuple[str, ...], float]]],
    ) -> None:
        self._name, self._doc, self._labels, self.read = name, documentation, labels, read
        self.value: Mapping[tuple[str, ...], float] | None = None

    def collect(self):  # type: ignore[no-untyped-def]
        if self.value is None:
            return
        family = GaugeMetricFamily(self._name, self._doc, labels=self._labels)
        for label_values, value in sorted(self.value.items()):
            family.add_metric(list(label_values), value)
        yield family
