"""Benchmark: a newcomer's first ``make run``, from a clean clone until ``/healthz`` answers.

For each run: ``git clone`` the given revision of this repository into a fresh temporary folder,
start ``make run`` there (it creates ``.venv``, installs, starts ``payhub run`` on a free port of a
loopback address of its own), poll ``GET /healthz`` every 100 ms, and stop the clock at the first 200. Then the process
group is stopped (SIGTERM, then SIGKILL) and the clone deleted. Reports each run, the median, the
CPU seconds the whole ``make run`` session had used by then (user + system of every process in it, finished
children included: steadier than wall time on a shared machine), and the size of the environment
``make run`` installed.

Standard library only, so the system ``python3`` runs it before any environment exists:

    python3 loadtest/bench_first_run.py --rev HEAD --runs 3
    python3 loadtest/bench_first_run.py --rev HEAD --runs 3 --no-pip-cache   # nothing from pip's cache

``--no-pip-cache`` sets ``PIP_NO_CACHE_DIR=1``: every wheel is fetched from the package index again
(a first install on a new machine); without it pip's wheel cache of this machine is used, as on a
developer's second clone. Loopback only; it ends by itself (``--timeout`` per run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_address() -> tuple[str, int]:
    """A loopback address of its own (127.x.y.z: the whole 127/8 is loopback on Linux) and a free port on it,
    so that no other server on this machine can be the one that answers ``/healthz``."""
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    with socket.socket() as s:
        s.bind((host, 0))
        return host, int(s.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def session_cpu_seconds(sid: int) -> float:
    """User + system seconds of every process in session ``sid``, with the children they have reaped (Linux
    ``/proc/PID/stat`` fields 14-17)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[3]) == sid:  # field 6: session id
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def one_run(rev: str, no_cache: bool, timeout_s: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="payhub-first-run-") as tmp:
        clone = Path(tmp) / "payhub"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", rev], check=True)
        host, port = free_address()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
        env["PAYHUB_HOST"], env["PAYHUB_PORT"] = host, str(port)
        env.pop("VIRTUAL_ENV", None)
        if no_cache:
            env["PIP_NO_CACHE_DIR"] = "1"
        log = Path(tmp) / "make-run.log"
        url = f"http://{host}:{port}/healthz"
        started = time.monotonic()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["make", "run"], cwd=clone, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            while not healthy(url):
                if process.poll() is not None:
                    raise SystemExit(f"make run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                if time.monotonic() - started > timeout_s:
                    raise SystemExit(f"not healthy after {timeout_s:g} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            cpu = session_cpu_seconds(process.pid)
        finally:
            _stop(process)
        venv = clone / ".venv"
        packages = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
            capture_output=True,
            text=True,
            check=False,
        )
        count = len(json.loads(packages.stdout)) if packages.returncode == 0 else -1
        return {
            "seconds": round(elapsed, 1),
            "cpuSeconds": round(cpu, 1),
            "venvMiB": round(folder_bytes(venv) / 2**20),
            "packages": count,
        }


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="HEAD", help="the revision to clone (default HEAD)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pip-cache", action="store_true", help="PIP_NO_CACHE_DIR=1: fetch every wheel again")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take")
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    results = []
    for i in range(args.runs):
        result = one_run(rev, args.no_pip_cache, args.timeout)
        results.append(result)
        print(f"run {i + 1}: {json.dumps(result)}", flush=True)
    seconds = [float(str(r["seconds"])) for r in results]
    cpu = [float(str(r["cpuSeconds"])) for r in results]
    summary = {
        "rev": rev,
        "pipCache": not args.no_pip_cache,
        "runs": len(results),
        "medianSeconds": round(statistics.median(seconds), 1),
        "minSeconds": min(seconds),
        "maxSeconds": max(seconds),
        "medianCpuSeconds": round(statistics.median(cpu), 1),
        "venvMiB": results[-1]["venvMiB"],
        "packages": results[-1]["packages"],
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
