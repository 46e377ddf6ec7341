"""``payhub reconcile`` as an operator runs it, against a real ``payhub run`` (its sandbox bank).

A run is killed with SIGKILL halfway, then run again: it resumes (the transactions decided before the
kill are not decided again), no review or ALERT is raised twice, and the report is complete.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from backoffice.reconcile.days import local_day
from payhub.backends import is_postgres
from tests.conftest import PG_BASE, require_postgres
from tests.e2e.payhub_process import PAYHUB, Server, payhub_env, start_server

BANK_ONLY = 16  # transactions the sandbox bank adds that PayHub never heard of
POLICIES = ("P123456789", "P987654321", "P555000111", "P444000222")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/payhub.db"
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        asyncio.run(_pg(PG_BASE, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def server(tmp_path: Path, database: str) -> Iterator[Server]:
    running = start_server(tmp_path, PAYHUB_RECONCILE_DAILY="false", PAYHUB_DATABASE_URL=database)
    try:
        yield running
    finally:
        running.stop()


async def _pg(url: str, sql: str) -> list[tuple[Any, ...]]:
    base, _, schema = url.partition("?schema=")
    con = await asyncpg.connect(base, server_settings={"search_path": schema} if schema else {})
    try:
        return [tuple(r) for r in await con.fetch(sql)]
    finally:
        await con.close()


class Db:
    """Reads the server's database from the test (SQLite file or PostgreSQL schema), as an operator would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite = None if is_postgres(url) else sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            return self._sqlite.execute(sql).fetchall()
        return asyncio.run(_pg(self.url, sql))

    def scalar(self, sql: str) -> Any:
        return self.rows(sql)[0][0]

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()


def cli_env(server: Server, tmp_path: Path, **extra: str) -> dict[str, str]:
    return payhub_env(
        PAYHUB_DATABASE_URL=server.database_url,
        PAYHUB_AMK_BASE_URL=f"{server.url}/sandbox/amk",
        PAYHUB_REPORTS_DIR=str(tmp_path / "reports"),
        PAYHUB_AMK_RETRY_INITIAL_S="0.05",
        **extra,
    )


def alert_lines(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if str(line.get("msg", "")).startswith("ALERT reconciliation")]


def test_a_run_killed_halfway_resumes_and_completes_without_duplicates(server: Server, tmp_path: Path) -> None:
    day = local_day(datetime.now(UTC))
    for policy in POLICIES:
        r = httpx.post(
            f"{server.url}/sandbox/amk/simulate/pay", json={"billNumber": policy, "method": "BILL"}, timeout=20
        )
        assert r.status_code == 200, r.text
    added = [
        {"txId": f"AMK-ONLY-{n:03}", "channel": "BILL", "amount": f"{n + 1}.00", "currency": "USD"}
        for n in range(BANK_ONLY)
    ]
    control = {"statement": {"add": added}, "verifyDelayS": 0.1}  # a slow bank: the run takes seconds
    assert httpx.post(f"{server.url}/sandbox/amk/control", json=control, timeout=10).status_code == 200
    total = len(POLICIES) + BANK_ONLY
    env = cli_env(server, tmp_path, PAYHUB_RECONCILE_LEASE_S="1")

    first_log = tmp_path / "first.log"
    with first_log.open("wb") as sink:
        first = subprocess.Popen(
            [str(PAYHUB), "reconcile", "--date", day.isoformat()], env=env, cwd=tmp_path, stdout=sink, stderr=sink
        )
    con = Db(server.database_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                decided = con.scalar("SELECT COUNT(*) FROM reconciliation_items WHERE decided_generation = 1")
            except sqlite3.OperationalError:  # the writer holds the lock for a moment
                decided = 0
            if decided >= 6:
                break
            assert first.poll() is None, first_log.read_text()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

        ((status, lease),) = con.rows("SELECT status, lease_owner FROM reconciliation_runs")
        before = dict(con.rows("SELECT key, decided_at FROM reconciliation_items WHERE decided_generation = 1"))
        assert status == "RUNNING" and lease is not None  # left as it was: killed, not stopped
        assert 6 <= len(before) < total, "killed halfway"
        reviews_before = con.scalar("SELECT COUNT(*) FROM reviews WHERE key LIKE 'reconcile:%'")
        assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
        first_alerts = alert_lines(first_log.read_text())
        assert reviews_before - 1 <= len(first_alerts) <= reviews_before  # the kill may fall after a commit

        time.sleep(1.2)  # the killed process's lease expires
        second = subprocess.run(
            [str(PAYHUB), "reconcile", "--date", day.isoformat()],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0, second.stderr[-3000:]
        assert f"reconciliation of {day}" in second.stdout and "COMPLETED" in second.stdout

        run = con.rows("SELECT id, status, generation, summary FROM reconciliation_runs")
        assert len(run) == 1 and run[0][1:3] == ("COMPLETED", 1)  # the same run, resumed: not a rerun
        after = dict(con.rows("SELECT key, decided_at FROM reconciliation_items WHERE decided_generation = 1"))
        assert len(after) == total
        assert {k: after[k] for k in before} == before  # decided before the kill: not decided again
        review_keys = [k for (k,) in con.rows("SELECT key FROM reviews WHERE key LIKE 'reconcile:%'")]
        assert sorted(review_keys) == sorted(f"reconcile:missing_in_payhub:BILL:{a['txId']}" for a in added)
        second_alerts = alert_lines(second.stderr)
        alerted = [a["txRef"] for a in first_alerts + second_alerts]
        # Every mismatch ALERTed; only the one in flight at the kill (between its commit and the mark
        # that its ALERT was logged) may be ALERTed twice.
        assert sorted(set(alerted)) == sorted(a["txId"] for a in added)
        assert len(alerted) - len(set(alerted)) <= 1
        assert (
            con.scalar("SELECT COUNT(*) FROM reconciliation_items WHERE review_key IS NOT NULL AND alerted_at IS NULL")
            == 0
        )
        summary = json.loads(run[0][3])
        assert summary["counts"]["matched"] == len(POLICIES) and summary["counts"]["missing_in_payhub"] == BANK_ONLY
    finally:
        con.close()

    report = json.loads((tmp_path / "reports" / f"reconciliation-{day}.json").read_text())
    assert len(report["items"]) == total and report["status"] == "COMPLETED"
    assert all(i["outcome"] for i in report["items"])
    csv_rows = (tmp_path / "reports" / f"reconciliation-{day}.csv").read_text().splitlines()
    assert len(csv_rows) == total + 1
    if local_day(datetime.now(UTC)) != day:  # pragma: no cover - the test ran across midnight in Phnom Penh
        pytest.skip("ran across midnight (Asia/Phnom_Penh): the payments may belong to the next day")


def test_reconcile_imports_a_statement_file_or_refuses_it_naming_line_and_column(
    server: Server, tmp_path: Path
) -> None:
    env = cli_env(server, tmp_path)
    day = date(2026, 1, 15)
    header = "settlement_date,tx_id,channel,bill_number,amount,currency,paid_at\n"
    bad = header + f"{day},T1,BILL,,10.00,USD,{day}T10:00:00+07:00\n{day},T2,BILL,,10.001,USD,{day}T11:00:00+07:00\n"
    (tmp_path / "bad.csv").write_text(bad)
    refused = subprocess.run(
        [str(PAYHUB), "reconcile", "--statement", "bad.csv"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "line 3, column amount" in refused.stderr and "nothing imported" in refused.stderr, refused.stderr
    con = Db(server.database_url)
    try:
        tables = ("reconciliation_statements", "reconciliation_runs", "reconciliation_items", "reviews")
        assert [con.scalar(f"SELECT COUNT(*) FROM {t}") for t in tables] == [0, 0, 0, 0]

        good = header + f"{day},AMK-FILE-1,BILL,150001,150.00,USD,{day}T10:00:00+07:00\n"
        (tmp_path / "amk-2026-01-15.csv").write_text(good)
        done = subprocess.run(
            [str(PAYHUB), "reconcile", "--statement", "amk-2026-01-15.csv"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "imported 1 statement entr" in done.stdout and "missing_in_payhub 1" in done.stdout
        source = con.scalar("SELECT source FROM reconciliation_statements")
        assert source == "file:amk-2026-01-15.csv"
        assert [k for (k,) in con.rows("SELECT key FROM reviews")] == ["reconcile:missing_in_payhub:BILL:AMK-FILE-1"]
    finally:
        con.close()
    assert (tmp_path / "reports" / f"reconciliation-{day}.csv").is_file()


def test_reconcile_without_the_sandbox_bank_fails_clearly(tmp_path: Path) -> None:
    env = payhub_env(PAYHUB_DATABASE_URL=f"sqlite:///{tmp_path}/x.db", PAYHUB_PORT="9", PAYHUB_AMK_RETRY_ATTEMPTS="1")
    done = subprocess.run(
        [str(PAYHUB), "reconcile", "--date", "2026-01-15"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "FAILED" in done.stdout
    assert "AMK statement unreachable" in done.stderr, done.stderr


def test_reconcile_needs_a_day_or_a_statement(tmp_path: Path) -> None:
    env = payhub_env(PAYHUB_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    done = subprocess.run([str(PAYHUB), "reconcile"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--date" in done.stderr
    done = subprocess.run(
        [str(PAYHUB), "reconcile", "--date", "2026-02-30"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "not a date" in done.stderr
