"""The README's client-library examples, run as written against a live ``payhub run``.

Each example is the fenced block after its ``<!-- example: NAME -->`` marker in README.md; the test
supplies only what the text says the reader has (a URL, a token, the /khqr answer, a webhook body).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.payhub_process import Server, start_server

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECRET = "examples-test-webhook-secret-0123456789"


def example(name: str) -> str:
    found = re.search(
        rf"<!-- example: {re.escape(name)} -->\n```\w+\n(.*?)```", README.read_text(encoding="utf-8"), re.S
    )
    assert found, f"README has no example {name!r}"
    code = found.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12, f"the {name} example is no longer short"
    return code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("examples"), PAYHUB_AMK_WEBHOOK_SECRET=SECRET)
    try:
        yield s
    finally:
        s.stop()


async def run_until_done(
    argv: list[str], env: dict[str, str], trigger: str, pay: dict[str, Any], server: Server
) -> list[str]:
    """Run the example; when a line contains ``trigger``, pay through the sandbox; its output lines."""
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    paid = False
    try:
        async with asyncio.timeout(40):
            while raw := await proc.stdout.readline():
                lines.append(raw.decode().rstrip("\n"))
                if trigger in lines[-1] and not paid:
                    paid = True
                    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
                        assert (await http.post("/sandbox/amk/simulate/pay", json=pay)).status_code == 200
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (await proc.stderr.read()).decode()
    return lines


async def test_python_example(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(example("python"), encoding="utf-8")
    env = {**os.environ, "PAYHUB_URL": server.url, "TOKEN": server.token("customer")}
    lines = await run_until_done(
        [sys.executable, str(script)], env, "John Doe", {"billNumber": "P123456789", "method": "KHQR"}, server
    )
    assert lines[0].startswith("John Doe 150.00 USD 20"), lines
    statuses = [line.split()[1] for line in lines[1:]]
    assert statuses[0] == "PENDING", lines
    assert statuses[-1] == "CONFIRMED" and len(lines) >= 3, lines


async def test_js_example(server: Server, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node not found (CI=true: not skipping)")
        pytest.skip("node not found")
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.get(
            "/khqr",
            params={"bankCode": '{"id":"AMK","bank":"AMK"}', "billNumber": "P987654321"},
            headers={"Authorization": f"Bearer {server.token('customer')}"},
        )
    qr = r.json()["data"]
    module = (ROOT / "clients" / "js" / "payhub.js").as_uri()
    code = example("js").replace("'./payhub.js'", f"'{module}'")
    prelude = f"const PAYHUB = {json.dumps(server.url)};\nconst qr = {json.dumps(qr)};\n"
    script = tmp_path / "example.mjs"
    script.write_text(prelude + code, encoding="utf-8")
    lines = await run_until_done(
        [node, str(script)],
        dict(os.environ),
        "connection live",
        {"paymentId": qr["paymentId"], "method": "KHQR"},
        server,
    )
    assert "connection live sse" in lines, lines
    events = [line for line in lines if re.match(r"^\d+ ", line)]
    assert events[0].endswith("PENDING 600,000 KHR sse") and events[-1].endswith("CONFIRMED 600,000 KHR sse"), lines
    assert re.fullmatch(r"final CONFIRMED \S+", lines[-1]), lines


async def test_webhook_example(server: Server) -> None:
    from decimal import Decimal

    from payhub_client import PayHubClient

    async with PayHubClient(server.url, token=server.token("customer")) as payhub:
        premium = await payhub.inquire("P555000111")
    tx = f"EXAMPLE{int(time.time())}"
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.post(
            "/sandbox/amk/control", json={"paidTransactions": [{"txId": tx, "amount": "75.50", "currency": "USD"}]}
        )
        assert r.status_code == 200
    body = {
        "id": premium.id,
        "policyNumber": premium.policy_number,
        "amount": Decimal("75.50"),
        "currency": "USD",
        "bankTransactionId": tx,
        "payer": premium.payer,
        "paidDate": "20261201093000",
    }
    printed: list[str] = []
    scope: dict[str, Any] = {
        "PayHubClient": PayHubClient,
        "base_url": server.url,
        "amk_token": server.token("amk"),
        "body": body,
        "webhook_secret": SECRET,
        "print": lambda *a: printed.append(" ".join(map(str, a))),
    }
    exec("async def _example():\n" + textwrap.indent(example("python-webhook"), "    "), scope)
    await scope["_example"]()
    assert printed == ["200 CONFIRMED"]
