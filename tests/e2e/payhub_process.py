"""A real ``payhub run`` process on a free loopback port, for the end-to-end and browser tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port

PAYHUB = Path(sys.executable).parent / "payhub"
STARTUP_S = 20


def payhub_env(**extra: str) -> dict[str, str]:
    """The caller's environment minus any PAYHUB_* setting, plus ``extra``: hermetic and explicit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
    env.update(extra)
    return env


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def database_url(self) -> str:
        return self.env["PAYHUB_DATABASE_URL"]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def token(self, role: str, sub: str = "demo") -> str:
        done = subprocess.run(
            [str(PAYHUB), "token", "--sub", sub, "--role", role],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> int | None:
        """SIGTERM, wait, then SIGKILL: never leaves the process behind."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def start_server(workdir: Path, *, command: list[str] | None = None, **extra_env: str) -> Server:
    """``payhub run`` (or ``command``, given the port as its last argument) on a free port, once healthy."""
    port = free_port()
    env = payhub_env(**{"PAYHUB_PORT": str(port), "PAYHUB_DATABASE_URL": f"sqlite:///{workdir}/payhub.db", **extra_env})
    argv = [*command, str(port)] if command else [str(PAYHUB), "run"]
    log = workdir / "payhub.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, env=env, cwd=workdir, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", env, process, log)
    deadline = time.monotonic() + STARTUP_S
    while True:
        if process.poll() is not None:
            raise AssertionError(f"payhub run exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"payhub run not healthy after {STARTUP_S} s:\n{server.output()}")
        time.sleep(0.1)
