"""``payhub reviews …``, ``payhub payments …`` and ``payhub premiums attempts`` as an operator runs
them: real subprocesses on a SQLite file (and once on PostgreSQL), plus in-process runs of
``payhub.cli.main`` for the many small cases."""

from __future__ import annotations

import asyncio
import getpass
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import simplejson as json

from hub.domain.payment import PaymentMethod, PaymentStatus
from hub.service import ledger
from integration.premiums import DEMO_PREMIUMS
from payhub.bootstrap import open_store
from payhub.cli import main
from tests.conftest import fresh_pg_schema
from tests.e2e.payhub_process import PAYHUB, payhub_env

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 10:00 in Phnom Penh
ME = f"cli:{getpass.getuser()}"  # the actor when --by is not given


@dataclass(frozen=True)
class Seeded:
    url: str
    paid: int  # John Doe's payment, CONFIRMED by AMK-CLI-1
    pending: int  # Sok Dara's payment, PENDING
    double: int  # review of kind double-payment on ``paid``
    webhook: int  # review of kind webhook, no payment


async def seed(url: str) -> Seeded:
    async with open_store(url) as store:
        async with store.transaction() as tx:
            for p in DEMO_PREMIUMS:
                await tx.upsert_premium(p, NOW)
            john, dara = DEMO_PREMIUMS[0], DEMO_PREMIUMS[1]
            paid, _ = await ledger.open_payment(tx, john, PaymentMethod.BILL, NOW)
            paid, _, _ = await ledger.transition(
                tx, paid, PaymentStatus.CONFIRMED, NOW, method=PaymentMethod.BILL, transaction_id="AMK-CLI-1"
            )
            pending, _ = await ledger.open_payment(tx, dara, PaymentMethod.KHQR, NOW + timedelta(days=1))
            await tx.add_review("double-payment:x:paid", "premium paid twice", paid.id, {}, NOW)
            await tx.add_review(
                "webhook:BILL:AMK-CLI-9:unknown premium id",
                "unknown premium id",
                None,
                {"policyNumber": "P000000099"},
                NOW + timedelta(days=1),
            )
            double = await tx.review_rows.by_key("double-payment:x:paid")
            webhook = await tx.review_rows.by_key("webhook:BILL:AMK-CLI-9:unknown premium id")
    assert double is not None and webhook is not None
    return Seeded(url, paid.id, pending.id, double.id, webhook.id)


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return asyncio.run(seed(f"sqlite:///{tmp_path}/cli.db"))


def payhub(seeded: Seeded, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = payhub_env(PAYHUB_DATABASE_URL=seeded.url)
    return subprocess.run([str(PAYHUB), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str
) -> tuple[int, str, str]:
    for name in [k for k in payhub_env() if k.startswith("PAYHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PAYHUB_DATABASE_URL", url)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_review_worked_from_the_shell(seeded: Seeded, tmp_path: Path) -> None:
    listed = payhub(seeded, "reviews", "list", "--state", "OPEN", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [str(seeded.webhook), str(seeded.double)]
    assert "double-payment" in lines[1] and f"payment={seeded.paid}" in lines[1] and "premium paid twice" in lines[1]
    assert "2 review(s)" in listed.stderr

    done = payhub(
        seeded,
        "reviews",
        "resolve",
        str(seeded.double),
        "--outcome",
        "refund-required",
        "--note",
        "refund it",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"review {seeded.double}: OPEN -> RESOLVED (refund_required) by {ME}"

    again = payhub(
        seeded, "reviews", "resolve", str(seeded.double), "--outcome", "accepted", "--note", "x", cwd=tmp_path
    )
    assert again.returncode == 1 and again.stdout == ""
    assert f"Review {seeded.double} is RESOLVED: cannot resolve it" in again.stderr

    reopened = payhub(
        seeded, "reviews", "reopen", str(seeded.double), "--note", "not refunded", "--by", "alice", cwd=tmp_path
    )
    assert reopened.returncode == 0 and "RESOLVED -> OPEN by alice" in reopened.stdout

    shown = payhub(seeded, "reviews", "show", str(seeded.double), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    case = json.loads(shown.stdout)
    assert case["review"]["state"] == "OPEN" and case["payment"]["paymentId"] == seeded.paid
    assert [(h["action"], h["actor"], h["note"]) for h in case["history"]] == [
        ("open", "payhub", "premium paid twice"),
        ("resolve", ME, "refund it"),
        ("reopen", "alice", "not refunded"),
    ]
    assert case["payment"]["transactionId"] == "AMK-CLI-1" and case["premium"]["payer"] == "John Doe"


def test_review_commands_refuse_bad_input(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str) -> tuple[int, str, str]:
        return run_main(monkeypatch, capsys, seeded.url, *args)

    code, out, err = cli("reviews", "list", "--state", "CLOSED", "--from", "2026-13-01")
    assert code == 2 and out == ""
    assert "state:" in err and "from:" in err
    code, _, err = cli("reviews", "resolve", str(seeded.webhook), "--outcome", "maybe", "--note", "n")
    assert code == 2 and "outcome:" in err
    code, _, err = cli("reviews", "escalate", str(seeded.webhook), "--note", "   ")
    assert code == 2 and "note:" in err
    code, _, err = cli("reviews", "show", "999999")
    assert code == 1 and "No review 999999" in err
    code, _, err = cli("reviews", "reopen", str(seeded.webhook), "--note", "n")
    assert code == 1 and "cannot reopen" in err and '"allowedFrom":["RESOLVED"]' in err
    with pytest.raises(SystemExit) as exited:  # argparse: --note is required
        cli("reviews", "escalate", str(seeded.webhook))
    assert exited.value.code == 2
    code, out, _ = cli("reviews", "show", str(seeded.webhook))
    assert code == 0 and json.loads(out)["review"]["state"] == "OPEN"  # nothing changed


def test_review_list_filters_and_pages(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def ids(*args: str) -> list[int]:
        code, out, err = run_main(monkeypatch, capsys, seeded.url, "reviews", "list", "--json", *args)
        assert code == 0, err
        return [r["id"] for r in json.loads(out)]

    assert ids() == [seeded.webhook, seeded.double]
    assert ids("--kind", "double-payment") == [seeded.double]
    assert ids("--kind", "webhook", "--kind", "double-payment") == [seeded.webhook, seeded.double]
    assert ids("--policy", "P123456789") == [seeded.double]
    assert ids("--policy", "P000000099") == [seeded.webhook]
    assert ids("--payment", str(seeded.paid)) == [seeded.double]
    assert ids("--from", "2026-11-28") == [seeded.webhook]
    assert ids("--to", "2026-11-27") == [seeded.double]
    assert ids("--state", "resolved") == []
    code, out, err = run_main(monkeypatch, capsys, seeded.url, "reviews", "list", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 1 and f"more: --before {seeded.webhook}" in err
    assert ids("--limit", "1", "--before", str(seeded.webhook)) == [seeded.double]


def test_look_ups_from_the_shell(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str) -> tuple[int, str, str]:
        return run_main(monkeypatch, capsys, seeded.url, *args)

    def ids(*args: str) -> list[int]:
        code, out, err = cli("payments", "find", "--json", *args)
        assert code == 0, err
        return [p["paymentId"] for p in json.loads(out)]

    assert ids() == [seeded.pending, seeded.paid]
    assert ids("--transaction-id", "AMK-CLI-1") == [seeded.paid]
    assert ids("--policy", "P987654321") == [seeded.pending]
    assert ids("--payer", "john") == [seeded.paid]
    assert ids("--status", "PENDING") == [seeded.pending]
    assert ids("--from", "2026-11-28", "--to", "2026-11-28") == [seeded.pending]
    code, out, _ = cli("payments", "find", "--payer", "Sok")
    assert code == 0 and out.split()[:3] == [str(seeded.pending), "PENDING", "KHQR"] and "Sok Dara" in out
    code, _, err = cli("payments", "find", "--transaction-id", "two words")
    assert code == 2 and "transactionId:" in err

    code, out, _ = cli("payments", "show", str(seeded.paid))
    case = json.loads(out)
    assert code == 0 and case["payment"]["status"] == "CONFIRMED"
    assert [r["id"] for r in case["reviews"]] == [seeded.double]
    code, out, _ = cli("premiums", "attempts", "150001")
    history = json.loads(out)
    assert code == 0 and [a["paymentId"] for a in history["attempts"]] == [seeded.paid]
    assert [e["status"] for e in history["attempts"][0]["events"]] == ["PENDING", "CONFIRMED"]
    code, _, err = cli("premiums", "attempts", "424242")
    assert code == 1 and "No premium 424242" in err
    code, _, err = cli("payments", "show", "1")
    assert code == 1 and "No payment 1" in err


@pytest.mark.postgres
def test_the_review_commands_on_postgresql(tmp_path: Path) -> None:
    with asyncio.Runner() as runner:  # one loop: the schema is dropped by the loop that made it
        schema = fresh_pg_schema()
        seeded = runner.run(seed(runner.run(schema.__aenter__())))
        try:
            done = payhub(seeded, "reviews", "escalate", str(seeded.webhook), "--note", "ask AMK", cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            listed = payhub(seeded, "reviews", "list", "--state", "ESCALATED", "--json", cwd=tmp_path)
            assert [r["id"] for r in json.loads(listed.stdout)] == [seeded.webhook]
            found = payhub(seeded, "payments", "find", "--payer", "JOHN", "--json", cwd=tmp_path)
            assert [p["paymentId"] for p in json.loads(found.stdout)] == [seeded.paid]
        finally:
            runner.run(schema.__aexit__(None, None, None))
