"""Locust's scenarios (loadtest/locustfile.py) headless against a ``payhub run`` this script starts.

    python -m loadtest.run_locust [--users 100] [--spawn-rate 50] [--duration 30s]

The server gets the same settings as in ``loadtest.compare`` (raised rate limits and connection
cap, no fraud rules: every user comes from this host) on a free loopback port, pinned to core 0,
locust to core 1. Prints locust's own summary; its CSV files go to ``--out``. Ends by itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from loadtest.compare import CLIENT_CORE, ROOT, SERVER_CORE, PayHub
from loadtest.procs import BIN, free_port
from loadtest.swarm import die_with_parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=50)
    parser.add_argument("--duration", default="30s", help="locust --run-time (30s, 2m, …)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    pinned = len(os.sched_getaffinity(0)) >= 2
    workdir = Path(tempfile.mkdtemp(prefix="payhub-locust-"))
    server = PayHub("payhub-locust", free_port(), workdir, SERVER_CORE if pinned else None, workdir / "locust.db")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        server.start()
        cmd = [
            str(BIN / "locust"),
            "-f",
            str(ROOT / "loadtest" / "locustfile.py"),
            "--host",
            server.base,
            "--headless",
            "--users",
            str(args.users),
            "--spawn-rate",
            str(args.spawn_rate),
            "--run-time",
            args.duration,
            "--stop-timeout",
            "10",
            "--csv",
            str(args.out / "locust"),
        ]
        if pinned:
            cmd = ["taskset", "-c", str(CLIENT_CORE), *cmd]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # locust exits 1 when any request failed; its summary says which, so that is reported, not raised
        code = subprocess.run(cmd, env=env, cwd=ROOT, preexec_fn=die_with_parent).returncode
        print(f"\nlocust exited {code}; CSV: {args.out / 'locust_stats.csv'}")
        return 0 if code in (0, 1) else code
    finally:
        server.stop(signal.SIGTERM)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
