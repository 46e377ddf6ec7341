"""deploy/grafana/payhub.json asks only for metrics PayHub exports, and shows every one of them.

The exported names are collected from live registries, built by the same code each process kind
runs (every HTTP service on SQLite, the embedded process, the relay's and the feeder's probes), not
from a hand-written list: renaming a metric without updating the dashboard fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hub.adapters.bus.redis import RedisBus
from hub.adapters.stream.kafka import KafkaConsumer, KafkaProducer
from hub.metrics import Metrics
from payhub.bootstrap import SERVICES, open_store
from payhub.workers import feeder_probes, relay_probes
from tests.conftest import make_settings, running

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "payhub.json"

# PromQL words that are not metric names: functions and aggregations are followed by "(" and are
# dropped by the tokenizer; these are the keywords that may stand alone.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def sample_names(metrics: Metrics) -> set[str]:
    """Every series name a scrape of ``metrics`` can hold (from its families and their types)."""
    names: set[str] = set()
    for family in metrics.registry.collect():
        names |= {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a small tokenizer: enough for dashboards)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if word in _KEYWORDS or following.startswith("("):
            continue
        if re.fullmatch(r"\d+[smhdwy]", word) or word.startswith("$"):
            continue
        names.add(word)
    return names


def test_the_tokenizer_reads_metric_names() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, kind) (rate(payhub_x_seconds_bucket{job=~"$job",a="b c"}[5m])))'
        " / on (job) group_left max without (instance) (process_open_fds) > bool 2"
    )
    assert metric_names(expr) == {"payhub_x_seconds_bucket", "process_open_fds"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        out += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return out


async def _exported(tmp_path: Path) -> set[str]:
    names: set[str] = set()
    url = f"sqlite:///{tmp_path}/payhub.db"
    for services in [*([s] for s in SERVICES), list(SERVICES)]:
        async with running(make_settings(url), services=services) as c:
            await c.metrics.render_async()
            names |= sample_names(c.metrics)
    settings = make_settings(url)
    async with open_store(url) as store:
        relay_metrics, _ = relay_probes(settings, store, KafkaProducer("127.0.0.1:9", idempotence=False))
        await relay_metrics.render_async()
        names |= sample_names(relay_metrics)
    bus = RedisBus("redis://127.0.0.1:9/0")  # never connected: the feeder's registry is what is looked at
    try:
        feeder_metrics, _ = feeder_probes(settings, bus, KafkaConsumer("127.0.0.1:9", "g", ["t"]))
        await feeder_metrics.render_async()
        names |= sample_names(feeder_metrics)
    finally:
        await bus.aclose()
    return names


async def test_every_panel_queries_only_metrics_payhub_exports(dashboard: dict[str, Any], tmp_path: Path) -> None:
    exported = await _exported(tmp_path)
    assert {"payhub_alerts_total", "payhub_kafka_consumer_lag_messages", "process_open_fds"} <= exported
    unknown = {
        f"{title}: {name}" for title, expr in _targets(dashboard) for name in metric_names(expr) if name not in exported
    }
    assert not unknown, f"dashboard queries metrics no PayHub process exports: {sorted(unknown)}"

    shown = {name for _, expr in _targets(dashboard) for name in metric_names(expr)}
    families = {re.sub(r"_(bucket|count|sum|total|created)$", "", n) for n in exported if n.startswith("payhub_")}
    missing = {f for f in families if not any(re.sub(r"_(bucket|count|sum|total)$", "", s) == f for s in shown)}
    assert not missing, f"PayHub metrics missing from the dashboard: {sorted(missing)}"


def test_dashboard_is_importable(dashboard: dict[str, Any]) -> None:
    """What Grafana needs to import it: a uid, unique panel ids, a datasource variable, grid positions."""
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
