"""deploy/prometheus/alerts.yml is valid Prometheus and does what it says: ``promtool check rules``
and ``promtool test rules`` (Debian's ``prometheus`` package; ``make promtool`` installs it).

Without promtool the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
