"""Premiums of the client-library tests, imported into a running ``payhub run`` (one per test, so the
tests of a module do not depend on their order: a paid premium cannot be paid again)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.payhub_process import PAYHUB, Server

HEADER = "id,policy_number,application_number,payer,amount,currency,due_date\n"


def import_policies(server: Server, workdir: Path, rows: list[tuple[int, str, str, str, str]]) -> None:
    """``rows``: (id, policy number, payer, amount, currency), due 2027-01-31."""
    path = workdir / "client-policies.csv"
    path.write_text(
        HEADER
        + "".join(
            f"{i},{policy},,{payer},{amount},{currency},2027-01-31\n" for i, policy, payer, amount, currency in rows
        ),
        encoding="utf-8",
    )
    subprocess.run(
        [str(PAYHUB), "policies", "import", str(path)],
        env=server.env,
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=30,
    )
