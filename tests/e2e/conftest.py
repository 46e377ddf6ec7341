"""Fixtures for the browser tests: a real ``payhub run`` process and headless Debian Chromium.

Playwright's own browser download is not used: the tests drive the system ``chromium``
(``make test`` installs it when missing). Without it the browser tests skip, except with
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from tests.e2e.payhub_process import Server, start_server

CHROMIUM = os.environ.get("PAYHUB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}


DemoServer = Server  # the browser tests' name for it


def start_demo_server(workdir: Path, **settings: str) -> Server:
    return start_server(workdir, **settings)


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
