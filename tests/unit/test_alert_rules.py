"""deploy/prometheus/alerts.yml is valid Prometheus and does what it says: ``promtool check rules``
and ``promtool test rules`` (Debian's ``prometheus`` package; ``make promtool`` installs it).

Without promtool the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.alerts import AlertKind

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus"


def _promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool not installed (CI=true: not skipping); run `make promtool`")
        pytest.skip("promtool not installed; run `make promtool`")
    return binary


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=60)


def test_promtool_check_rules() -> None:
    result = _run("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = _run("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """The unit tests catch a wrong threshold (they are not vacuous): raise one and they fail."""
    rules = (RULES_DIR / "alerts.yml").read_text()
    assert "payhub_outbox_unpublished_events) > 1000" in rules
    (tmp_path / "alerts.yml").write_text(rules.replace("payhub_outbox_unpublished_events) > 1000", "x) > 1000"))
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    result = subprocess.run(
        [_promtool(), "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "PayHubOutboxBacklog" in result.stdout + result.stderr


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    rules = [r["alert"] for g in yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    cases = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    assert set(rules) <= fired, f"rules never shown firing: {set(rules) - fired}"
    assert set(rules) <= quiet, f"rules never shown quiet: {set(rules) - quiet}"


def test_the_sample_scrape_configuration_is_valid(tmp_path: Path) -> None:
    """deploy/prometheus/prometheus.yml (every process of the Procfile, with the rules) passes
    ``promtool check config``; its token file is the operator's, made up here."""
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    (tmp_path / "metrics-token").write_text("a-metrics-token\n")
    result = subprocess.run(
        [_promtool(), "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = [job["job_name"] for job in yaml.safe_load((RULES_DIR / "prometheus.yml").read_text())["scrape_configs"]]
    procfile = (ROOT / "Procfile").read_text()
    for job in jobs:  # a job per process kind of the Procfile
        assert job.removeprefix("payhub-") in procfile, job


def _promtool_test(tmp_path: Path, tests: list[dict[str, object]]) -> subprocess.CompletedProcess[str]:
    """Run promtool's unit tests ``tests`` against a copy of alerts.yml."""
    shutil.copy(RULES_DIR / "alerts.yml", tmp_path / "alerts.yml")
    cases = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "edge_test.yml").write_text(yaml.safe_dump(cases, sort_keys=False))
    return subprocess.run(
        [_promtool(), "test", "rules", "edge_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_every_alert_kind_fires_when_counted_before_the_first_scrape(tmp_path: Path) -> None:
    """A process that raises an ALERT before Prometheus first scrapes it (Redis down at start-up, a new
    pod's new ``instance``) shows a series whose first sample is already 1: ``increase()`` needs two
    samples and would never see it. Every kind's rule fires on such a series, and on a restart (reset)."""
    tests: list[dict[str, object]] = []
    for kind in AlertKind:
        tests.append(
            {
                "name": f"{kind.rule_name}: counted before the first scrape, then after a restart",
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'payhub_alerts_total{{kind="{kind.label}",job="payhub-gateway",instance="new"}}',
                        "values": "1x30",
                    },
                    {
                        "series": f'payhub_alerts_total{{kind="{kind.label}",job="payhub-gateway",instance="old"}}',
                        "values": "0x3 2x16 1x10",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "2m",
                        "alertname": kind.rule_name,
                        "exp_alerts": [_expected(kind.rule_name, job="payhub-gateway", instance="new")],
                    },
                    {"eval_time": "15m", "alertname": kind.rule_name, "exp_alerts": []},
                    {
                        "eval_time": "22m",
                        "alertname": kind.rule_name,
                        "exp_alerts": [_expected(kind.rule_name, job="payhub-gateway", instance="old")],
                    },
                ],
            }
        )
    result = _promtool_test(tmp_path, tests)
    assert result.returncode == 0, result.stdout + result.stderr


def _rule(name: str) -> dict[str, Any]:
    rules = [r for g in yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    found: dict[str, Any] = next(r for r in rules if r["alert"] == name)
    return found


def _expected(name: str, **labels: str) -> dict[str, object]:
    """One alert of rule ``name`` as promtool expects it: the rule's labels and annotations plus ``labels``."""
    rule = _rule(name)
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": rule["annotations"]}


def test_success_rate_fires_when_no_webhook_succeeds(tmp_path: Path) -> None:
    """After a restart with the database down every webhook answers 503: no 2xx series exists at all.
    The worst success rate (0 %) must fire, not vanish with its missing numerator."""
    tests: list[dict[str, object]] = [
        {
            "name": "every webhook fails after a restart",
            "interval": "1m",
            "input_series": [
                {
                    "series": 'payhub_webhooks_total{kind="BILL",status="503",job="payhub-gateway",instance="gw"}',
                    "values": "0+30x60",
                },
            ],
            "alert_rule_test": [
                {
                    "eval_time": "30m",
                    "alertname": "PayHubWebhookSuccessRateDropping",
                    "exp_alerts": [_expected("PayHubWebhookSuccessRateDropping")],
                },
            ],
        }
    ]
    result = _promtool_test(tmp_path, tests)
    assert result.returncode == 0, result.stdout + result.stderr
