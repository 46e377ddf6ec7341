"""Reconciliation settings are validated at start-up, each problem naming its variable."""

from __future__ import annotations

from datetime import time

import pytest

from hub.errors import ConfigError
from hub.settings import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.reconcile_daily, s.reconcile_time, s.reports_dir) == (True, time(2, 0), "var/reports")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PAYHUB_RECONCILE_AT": "24:00"}, "PAYHUB_RECONCILE_AT"),
        ({"PAYHUB_RECONCILE_AT": "2:00"}, "PAYHUB_RECONCILE_AT"),
        ({"PAYHUB_RECONCILE_AT": "02:60"}, "PAYHUB_RECONCILE_AT"),
        ({"PAYHUB_RECONCILE_CATCH_UP_DAYS": "0"}, "PAYHUB_RECONCILE_CATCH_UP_DAYS"),
        ({"PAYHUB_RECONCILE_LEASE_S": "0"}, "PAYHUB_RECONCILE_LEASE_S"),
        ({"PAYHUB_RECONCILE_STUCK_AFTER_S": "-1"}, "PAYHUB_RECONCILE_STUCK_AFTER_S"),
        ({"PAYHUB_AMK_STATEMENT_URL": "https://amk.example/statements/today.csv"}, "PAYHUB_AMK_STATEMENT_URL"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert any(variable in problem for problem in refused.value.details or []), refused.value.details


def test_a_password_in_the_statement_url_never_reaches_the_logs() -> None:
    s = Settings.from_env({"PAYHUB_AMK_STATEMENT_URL": "https://amk:s3cr3t-pass@amk.example/st/{date}.csv"})
    assert "s3cr3t-pass" in s.log_secrets()
