"""Every ALERT is raised through hub/alerts.py, has a Prometheus rule and a runbook section.

Issue 11: alerts were free-text log lines nothing could fire on. These tests keep it that way:
a new ``"ALERT …"`` literal anywhere else fails, a kind without its rule or runbook fails.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from hub.alerts import AlertKind, Alerts

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("payhub", "hub", "gateway", "khqr", "push", "integration", "sandbox", "backoffice")
ALERT_LITERAL = re.compile(r"\bALERT\s")
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "operations.md"


def _alert_literals(path: Path) -> list[str]:
    """String constants (plain or f-string parts) that start an ALERT message: ``"ALERT …"``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if ALERT_LITERAL.search(node.value):
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                found.append(f"{where}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_no_alert_line_is_written_outside_hub_alerts() -> None:
    """An ALERT must be raised with ``Alerts.raise_`` (logged AND counted): no module writes the line itself."""
    own = ROOT / "hub" / "alerts.py"
    offenders = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != own
        for hit in _alert_literals(path)
    ]
    assert not offenders, "ALERT written outside hub/alerts.py (use Alerts.raise_):\n" + "\n".join(offenders)


def test_the_scan_finds_an_alert_literal(tmp_path: Path) -> None:
    """The scan above is not blind: it sees a plain literal and an f-string, not a docstring."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Docs may say: ALERT lines are counted."""\n'
        "import logging\n"
        'logging.getLogger("x").error("ALERT something new", extra={})\n'
        'kind = "x"\n'
        'logging.getLogger("x").error(f"ALERT {kind} happened")\n'
    )
    assert len(_alert_literals(sample)) == 2


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_alert_kind_has_its_prometheus_rule() -> None:
    rules = {str(r["alert"]): r for r in _rules()}
    for kind in AlertKind:
        rule = rules.get(kind.rule_name)
        assert rule is not None, f"no rule {kind.rule_name} for ALERT kind {kind.label} in {RULES}"
        assert f'payhub_alerts_total{{kind="{kind.label}"}}' in str(rule["expr"])
        assert rule["labels"]["kind"] == kind.label  # type: ignore[index]
        assert rule["labels"]["severity"] in ("page", "ticket")  # type: ignore[index]
        assert rule["annotations"]["runbook_url"].endswith("#" + kind.anchor)  # type: ignore[index]


def _anchors() -> set[str]:
    text = RUNBOOK.read_text()
    explicit = set(re.findall(r'<a id="([^"]+)"></a>', text))
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens
    slugs = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.M)
    }
    return explicit | slugs


def test_every_rule_links_a_runbook_section_that_exists() -> None:
    anchors = _anchors()
    for rule in _rules():
        url = str(rule["annotations"]["runbook_url"])  # type: ignore[index]
        path, _, fragment = url.partition("#")
        assert (ROOT / path).resolve() == RUNBOOK.resolve(), url
        assert fragment in anchors, f"{rule['alert']}: runbook anchor #{fragment} not in docs/operations.md"


def test_rule_names_are_unique() -> None:
    names = [r["alert"] for r in _rules()]
    assert len(names) == len(set(names))


def test_kinds_have_unique_bounded_labels() -> None:
    labels = [k.label for k in AlertKind]
    assert len(labels) == len(set(labels))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", label) for label in labels)
    assert len({k.message for k in AlertKind}) == len(labels)


def test_every_alert_message_is_in_the_runbook() -> None:
    text = RUNBOOK.read_text()
    missing = [k.line for k in AlertKind if k.line not in text]
    assert not missing, f"not described in docs/operations.md: {missing}"


def test_raise_logs_the_line_and_counts_the_kind(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    alerts = Alerts(registry)
    log = logging.getLogger("payhub.test-alerts")
    for kind in AlertKind:  # every series exists at 0 before anything is raised
        assert registry.get_sample_value("payhub_alerts_total", {"kind": kind.label}) == 0.0
    with caplog.at_level(logging.ERROR):
        alerts.raise_(AlertKind.DOUBLE_PAYMENT, log, paymentId=7)
        alerts.raise_(AlertKind.DOUBLE_PAYMENT, log, paymentId=8)
    assert registry.get_sample_value("payhub_alerts_total", {"kind": "double_payment"}) == 2.0
    assert registry.get_sample_value("payhub_alerts_total", {"kind": "amk_qr_unavailable"}) == 0.0
    records = [r for r in caplog.records if r.name == "payhub.test-alerts"]
    assert [r.getMessage() for r in records] == ["ALERT possible double payment"] * 2
    assert [(r.levelno, r.alert, r.paymentId) for r in records] == [  # type: ignore[attr-defined]
        (logging.ERROR, "double_payment", 7),
        (logging.ERROR, "double_payment", 8),
    ]


def test_reconciliation_alerts_say_the_outcome_headline() -> None:
    from backoffice.reconcile.matching import HEADLINES, MISMATCHES
    from backoffice.reconcile.runner import ALERT_KINDS

    assert set(ALERT_KINDS) == set(MISMATCHES)
    for outcome, kind in ALERT_KINDS.items():
        assert kind.line == f"ALERT reconciliation: {HEADLINES[outcome]}"
