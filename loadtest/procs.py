"""What every load-test script needs around a ``payhub run`` it starts: a free port, the bench premiums, a
customer token, the server's memory and CPU from ``/proc`` (Linux).

The scripts that use it run as modules from the repository root (``python -m loadtest.NAME``).
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BIN = Path(sys.executable).parent
PREMIUM_COLUMNS = ["id", "policy_number", "application_number", "payer", "amount", "currency", "due_date"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def import_premiums(env: Mapping[str, str], workdir: Path, count: int, *, first_id: int, due: str) -> None:
    """``count`` unpaid premiums of USD 10.00, bills ``B00000000``…, ids from ``first_id``, due ``due``
    (YYYY-MM-DD), imported with ``payhub policies import`` into the database ``env`` names."""
    premiums = workdir / "premiums.csv"
    with premiums.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(PREMIUM_COLUMNS)
        for i in range(count):
            w.writerow([first_id + i, f"B{i:08d}", "", f"Bench Payer {i}", "10.00", "USD", due])
    subprocess.run([BIN / "payhub", "policies", "import", premiums], env=env, check=True, capture_output=True)


def customer_token(env: Mapping[str, str], ttl_s: int | None = None) -> str:
    """A customer bearer token (``payhub token``; ``ttl_s`` seconds, else its default) that may inquire bills."""
    ttl = ["--ttl", str(ttl_s)] if ttl_s is not None else []
    out = subprocess.run(
        [BIN / "payhub", "token", "--sub", "bench", "--role", "customer", *ttl],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` (``VmRSS`` of /proc/PID/status), KiB; 0 when not given."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid`` so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick
