"""Fixtures for the browser tests: a real ``payhub run`` process and headless Debian Chromium.

Playwright's own browser download is not used: the tests drive the system ``chromium``
(``make test`` installs it when missing). Without it the browser tests skip, except with
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from tests.conftest import free_port

CHROMIUM = os.environ.get("PAYHUB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAYHUB = Path(sys.executable).parent / "payhub"
STARTUP_S = 20
PHONE = {"width": 390, "height": 844}


@dataclass
class DemoServer:
    """A ``payhub run`` subprocess on a free loopback port."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_demo_server(workdir: Path, **settings: str) -> DemoServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
    env.update(PAYHUB_PORT=str(port), PAYHUB_DATABASE_URL=f"sqlite:///{workdir}/payhub.db", **settings)
    log = workdir / "payhub.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(PAYHUB), "run"], env=env, cwd=workdir, stdout=sink, stderr=subprocess.STDOUT)
    server = DemoServer(f"http://127.0.0.1:{port}", process, log)
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
        time.sleep(0.05)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``payhub run`` with its defaults (sandbox mode, 30-minute QR sessions)."""
    server = start_demo_server(tmp_path_factory.mktemp("demo"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def short_ttl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``payhub run`` whose QR sessions expire after 5 seconds."""
    server = start_demo_server(tmp_path_factory.mktemp("demo-ttl"), PAYHUB_KHQR_SESSION_TTL_S="5")
    try:
        yield server
    finally:
        server.stop()


def require_chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"{CHROMIUM} not found (make test installs Debian's chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true: not skipping")
    pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = require_chromium()
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@dataclass
class Phone:
    """A phone-sized page plus what went wrong in it (console errors, uncaught exceptions)."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Phone]:
    context = await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        timezone_id="Asia/Phnom_Penh",
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    phone = Phone(page)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            phone.console_errors.append(msg.text)

    def on_error(exc: Error) -> None:
        phone.page_errors.append(str(exc))

    page.on("console", on_console)
    page.on("pageerror", on_error)
    try:
        yield phone
    finally:
        await context.close()
