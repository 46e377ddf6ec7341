"""Every ALERT PayHub raises, named once, and the one way to raise one.

An ALERT is a condition a person must look at. Raising one does two things, always together:

* one ERROR log line whose message is ``ALERT <message of the kind>`` (the fields of the case as
  extra fields, plus ``alert: <kind label>``), on the logger of the code that raised it;
* one count in ``payhub_alerts_total{kind="<kind label>"}`` of the process's metrics registry, which
  ``deploy/prometheus/alerts.yml`` fires on (one rule per kind, each with a runbook section in
  ``docs/operations.md``).

No other module writes an ``"ALERT …"`` literal: ``tests/unit/test_alerts.py`` scans the source for
one, and checks that every kind has its rule and its runbook anchor. To add a kind: a member here,
a rule in ``deploy/prometheus/alerts.yml`` (and a case in ``alerts_test.yml``), a runbook section.

The counter lives in the registry handed in (``hub.metrics.Metrics`` builds one ``Alerts`` per
process); nothing is created at import time. An ``Alerts()`` without a registry still logs and
counts, only nothing scrapes it (objects built outside a process's container, as in unit tests).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from prometheus_client import CollectorRegistry, Counter

METRIC = "payhub_alerts_total"


class AlertKind(Enum):
    """``label`` is the bounded ``kind`` label value; ``message`` follows ``ALERT`` in the log line."""

    DUPLICATE_TRANSACTION_KEY = ("duplicate_transaction_key", "duplicate transaction key with different content")
    AMK_NOT_CONFIRMED = ("amk_not_confirmed", "AMK does not confirm transaction")
    AMK_VERIFY_REFUSED = ("amk_verify_refused", "AMK payment-verify refused")
    AMK_UNREACHABLE_FOR_PAYMENT = ("amk_unreachable_for_payment", "AMK still unreachable for a recorded payment")
    DOUBLE_PAYMENT = ("double_payment", "possible double payment")
    INTEGRATION_UNAVAILABLE = ("integration_unavailable", "integration service unavailable")
    AMBIGUOUS_INVOICE = ("ambiguous_invoice", "ambiguous KHQR invoice number")
    RATELIMIT_STORAGE_DOWN = (
        "ratelimit_storage_down",
        "rate-limit storage unavailable; limiting per process until it is back",
    )
    AMK_QR_MISMATCH = ("amk_qr_mismatch", "AMK QR does not match the premium")
    AMK_QR_INVALID = ("amk_qr_invalid", "AMK QR is not a valid KHQR")
    AMK_QR_UNAVAILABLE = ("amk_qr_unavailable", "AMK QR generator unavailable")
    # The day's reconciliation with AMK's statement (backoffice/reconcile): one per mismatched transaction.
    RECONCILE_MISSING_IN_PAYHUB = (
        "reconcile_missing_in_payhub",
        "reconciliation: AMK reports money PayHub never recorded",
    )
    RECONCILE_AMOUNT_MISMATCH = ("reconcile_amount_mismatch", "reconciliation: amount or currency differs from AMK")
    RECONCILE_MISSING_AT_AMK = ("reconcile_missing_at_amk", "reconciliation: PayHub recorded money AMK does not report")
    RECONCILE_STUCK_PROCESSING = ("reconcile_stuck_processing", "reconciliation: payment stuck in PROCESSING")
    # A customer or partner notification given up (notifier/dispatcher.py): one per notification.
    NOTIFICATION_DEAD = ("notification_dead", "notification given up")
    # Fraud controls (hub/fraud): a rule opened a review; the velocity windows lost Redis; screening a
    # bank's notice failed (the money was recorded unscreened).
    FRAUD_REVIEW_OPENED = ("fraud_review_opened", "fraud review opened")
    FRAUD_STORAGE_DOWN = (
        "fraud_storage_down",
        "fraud velocity storage unavailable; counting per process until it is back",
    )
    FRAUD_SCREENING_FAILED = (
        "fraud_screening_failed",
        "fraud screening failed; the bank's notice is recorded unscreened",
    )

    def __init__(self, label: str, message: str) -> None:
        self.label = label
        self.message = message

    @property
    def line(self) -> str:
        """The log message: ``ALERT <message>``."""
        return f"ALERT {self.message}"

    @property
    def rule_name(self) -> str:
        """The Prometheus alert rule that fires on this kind (``deploy/prometheus/alerts.yml``)."""
        return "PayHubAlert" + "".join(part.capitalize() for part in self.label.split("_"))

    @property
    def anchor(self) -> str:
        """The runbook section of ``docs/operations.md`` (GitHub-style heading anchor)."""
        return "alert-" + self.label.replace("_", "-")


class Alerts:
    """Raises ALERTs for one process: the log line and the count, in one call."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._counter = Counter(
            METRIC,
            "ALERTs raised, by kind (each also logged at ERROR as 'ALERT <message>')",
            ["kind"],
            registry=registry,
        )
        for kind in AlertKind:  # every series exists from the start: increase() sees the first one
            self._counter.labels(kind.label)

    def raise_(self, kind: AlertKind, log: logging.Logger, **fields: Any) -> None:
        """Log ``ALERT <message>`` at ERROR on ``log`` with ``fields`` and count it under ``kind``."""
        self._counter.labels(kind.label).inc()
        log.error(kind.line, extra={**fields, "alert": kind.label})
