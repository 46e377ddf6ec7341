"""The ``payhub`` command as an operator runs it: a real subprocess with a controlled environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import jwt
import pytest

from hub.settings import SANDBOX_JWT_SECRET
from payhub.bootstrap import open_store
from payhub.cli import main
from tests.conftest import free_port
from tests.e2e.payhub_process import PAYHUB, payhub_env, start_server

HEADER = "id,policy_number,application_number,payer,amount,currency,due_date\n"
VALID = HEADER + (
    "900001,P900000001,,Alice Import,10.50,USD,2027-03-01\n"
    "900002,P900000002,A900002,Bob Import,120000,KHR,2027-03-02\n"
    "900003,P900000003,,Carol Import,99.99,USD,2027-03-03\n"
)
# Rows 2, 4 and 6 are fine (row 2 would even change an imported premium); rows 3 and 5 are not.
WITH_ERRORS = HEADER + (
    "900001,P900000001,,Alice Changed,11.00,USD,2027-03-01\n"  # row 2
    "900004,P9000,,Dan,5.00,USD,2027-03-04\n"  # row 3: policy number too short
    "900005,P900000005,,Eve,6.00,USD,2027-03-05\n"  # row 4
    "900006,P900000006,,Finn,7.123,USD,2027-03-06\n"  # row 5: three decimals in USD
    "900007,P900000007,,Gia,8.00,USD,2027-03-07\n"  # row 6
)


def run(*args: str, env: dict[str, str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAYHUB), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def env(db: str) -> dict[str, str]:
    return payhub_env(PAYHUB_DATABASE_URL=db)


async def premium_ids(db: str) -> set[int]:
    async with open_store(db) as store, store.transaction() as tx:
        rows = [await tx.premium(pid) for pid in range(900001, 900010)]
    return {p.id for p in rows if p is not None}


async def test_import_valid_csv_imports_every_row(tmp_path: Path, db: str, env: dict[str, str]) -> None:
    (tmp_path / "ok.csv").write_text(VALID)
    done = run("policies", "import", "ok.csv", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 3 premium(s)" in done.stdout
    assert await premium_ids(db) == {900001, 900002, 900003}
    async with open_store(db) as store, store.transaction() as tx:
        bob = await tx.premium(900002)
        alice = await tx.premium(900001)
    assert bob is not None and alice is not None
    assert (bob.policy_number, bob.application_number, bob.payer) == ("P900000002", "A900002", "Bob Import")
    assert (bob.amount, bob.currency.value, bob.due_date) == (Decimal("120000"), "KHR", date(2027, 3, 2))
    assert (alice.amount, alice.application_number, alice.status) == (Decimal("10.50"), None, "DUE")


async def test_import_with_errors_names_rows_and_imports_nothing(tmp_path: Path, db: str, env: dict[str, str]) -> None:
    (tmp_path / "ok.csv").write_text(VALID)
    assert run("policies", "import", "ok.csv", env=env, cwd=tmp_path).returncode == 0
    (tmp_path / "bad.csv").write_text(WITH_ERRORS)

    done = run("policies", "import", "bad.csv", env=env, cwd=tmp_path)

    assert done.returncode != 0
    assert "row 3" in done.stderr and "row 5" in done.stderr, done.stderr
    assert "policy_number" in done.stderr and "amount" in done.stderr
    for good_row in ("row 2", "row 4", "row 6"):
        assert good_row not in done.stderr
    assert "nothing imported" in done.stderr
    assert "imported" not in done.stdout
    # Nothing written: no new premium, and the existing one is unchanged.
    assert await premium_ids(db) == {900001, 900002, 900003}
    async with open_store(db) as store, store.transaction() as tx:
        alice = await tx.premium(900001)
    assert alice is not None and (alice.payer, alice.amount) == ("Alice Import", Decimal("10.50"))


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For the quick refusals: ``payhub.cli.main`` in this process, with a hermetic PAYHUB_* environment."""
    for name in [k for k in os.environ if k.startswith("PAYHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PAYHUB_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cli.db"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("id,policy_number,payer\n1,P123456789,X\n", "row 1: missing column"),
        (HEADER, "no data rows"),
        (HEADER + "900001,P900000001,,A,1.00,USD,2027-03-01\n900001,P900000009,,B,2.00,USD,2027-03-01\n", "row 3"),
        (HEADER + "900001,P900000001,,A,1.00,EUR,2027-03-01\n", "row 2: currency"),
        (HEADER + "900001,P900000001,,A,1.00,USD,2027-02-30\n", "row 2: due_date"),
        (HEADER + "0,P900000001,,A,1.00,USD,2027-03-01\n", "row 2: id"),
        (HEADER + "900001,P900000001,,,1.00,USD,2027-03-01\n", "row 2: payer"),
        (HEADER + "900001,P900000001,,A,600.5,KHR,2027-03-01\n", "row 2: amount"),
    ],
    ids=["missing-columns", "no-rows", "repeated-id", "currency", "date", "id-zero", "no-payer", "khr-decimals"],
)
def test_import_refuses_bad_files(
    in_process: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    (in_process.parent / "f.csv").write_text(content)
    assert main(["policies", "import", "f.csv"]) != 0
    out = capsys.readouterr()
    assert expected in out.err, out.err
    assert "imported" not in out.out
    assert not in_process.exists()  # refused before the database was even opened


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfei\x00d\x00", "not UTF-8"),  # UTF-16 from a spreadsheet: UnicodeDecodeError traceback before
        (HEADER.encode() + b"900001,P900000001,,A,1.00,USD,2027-03-01," + b"x" * 200_000 + b"\n", "row 2"),
        (HEADER.encode() + "²,P900000001,,A,1.00,USD,2027-03-01\n".encode(), "row 2: id"),
        (HEADER.encode() + b"9223372036854775808,P900000001,,A,1.00,USD,2027-03-01\n", "row 2: id"),
    ],
    ids=["utf-16", "huge-field", "superscript-id", "id-past-bigint"],
)
def test_import_refuses_unreadable_files_without_a_traceback(
    in_process: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    (in_process.parent / "f.csv").write_bytes(content)
    assert main(["policies", "import", "f.csv"]) != 0
    out = capsys.readouterr()
    assert expected in out.err and "Traceback" not in out.err, out.err
    assert not in_process.exists()


def test_import_missing_file_fails(in_process: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "import", "nope.csv"]) != 0
    assert "nope.csv" in capsys.readouterr().err


def test_migrate_applies_then_reports_up_to_date(tmp_path: Path, env: dict[str, str]) -> None:
    first = run("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied: ")
    assert "0001" in first.stdout
    second = run("migrate", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout


def test_token_prints_a_token_on_the_last_line(tmp_path: Path, env: dict[str, str]) -> None:
    done = run("token", "--sub", "demo", "--role", "customer", "--ttl", "120", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, SANDBOX_JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"]) == ("demo", "customer")
    assert claims["exp"] - claims["iat"] == 120


def test_token_refuses_an_unknown_role(tmp_path: Path, env: dict[str, str]) -> None:
    done = run("token", "--sub", "demo", "--role", "bogus", env=env, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stdout.strip() == ""
    assert "bogus" in done.stderr


@pytest.mark.parametrize("args", [["--role", "subscriber"], ["--role", "customer", "--ttl", "0"], ["--role"]])
def test_token_refuses_bad_arguments(in_process: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with contextlib.suppress(SystemExit):  # argparse exits 2 itself
        assert main(["token", "--sub", "demo", *args]) != 0
    out = capsys.readouterr()
    assert out.out.strip() == ""
    assert out.err.strip()


def test_token_uses_the_environment_secret(tmp_path: Path, env: dict[str, str]) -> None:
    done = run("token", "--sub", "demo", "--role", "admin", env={**env, "PAYHUB_JWT_SECRET": "x"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT rightly warns that "x" is a short HMAC key
        assert jwt.decode(token, "x", algorithms=["HS256"])["role"] == "admin"
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, SANDBOX_JWT_SECRET, algorithms=["HS256"])


def test_run_uses_the_environment_secret(tmp_path: Path) -> None:
    secret = "an-operator-chosen-secret-of-32-bytes-or-more"
    server = start_server(tmp_path, PAYHUB_JWT_SECRET=secret)
    try:
        ours = run("token", "--sub", "demo", "--role", "customer", env=server.env, cwd=tmp_path)
        assert ours.returncode == 0, ours.stderr
        sandbox = run("token", "--sub", "demo", "--role", "customer", env=payhub_env(), cwd=tmp_path)
        query = {"query": "P123456789"}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            good = http.get("/AMK/payments", params=query, headers=_bearer(ours.stdout))
            assert good.status_code == 200, good.text
            stale = http.get("/AMK/payments", params=query, headers=_bearer(sandbox.stdout))
            assert stale.status_code == 401, stale.text
    finally:
        server.stop()


def _bearer(stdout: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stdout.strip().splitlines()[-1]}"}


def test_production_without_secrets_refuses_to_start(tmp_path: Path) -> None:
    port = free_port()
    env = payhub_env(
        PAYHUB_MODE="production",
        PAYHUB_PORT=str(port),
        PAYHUB_DATABASE_URL=f"sqlite:///{tmp_path}/prod.db",
    )
    done = run("run", env=env, cwd=tmp_path, timeout=20)
    assert done.returncode == 2, done.stdout + done.stderr
    for name in (
        "PAYHUB_AMK_WEBHOOK_SECRET",
        "PAYHUB_SUBSCRIBE_SECRET",
        "PAYHUB_JWT_SECRET",
        "PAYHUB_AMK_SECRET_KEY",
    ):
        assert name in done.stderr, done.stderr
    assert "PayHub" not in done.stdout  # no banner: it never served
    assert not (tmp_path / "prod.db").exists()


def test_production_refuses_sandbox_secrets(tmp_path: Path) -> None:
    env = payhub_env(
        PAYHUB_MODE="production",
        PAYHUB_DATABASE_URL=f"sqlite:///{tmp_path}/prod.db",
        PAYHUB_JWT_SECRET=SANDBOX_JWT_SECRET,
    )
    done = run("run", env=env, cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert "sandbox secret" in done.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PAYHUB_PORT", "not-a-number"),
        ("PAYHUB_PORT", "70000"),
        ("PAYHUB_DATABASE_URL", "mysql://x/y"),
        ("PAYHUB_MODE", "staging"),
        ("PAYHUB_SEED_DEMO", "maybe"),
    ],
)
def test_invalid_settings_name_the_variable(
    in_process: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 2
    assert name in capsys.readouterr().err
