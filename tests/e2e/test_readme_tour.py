"""The README's two-minute curl tour, against a real ``payhub run`` process over real HTTP.

Get a token, inquire P123456789, pay it through the sandbox's ``simulate/pay`` (with duplicate
webhooks), see it CONFIRMED, and see the premium no longer offered; then the same with KHQR.

The README's own shell blocks (marked ``<!-- tested: … -->``) also run here as written, with bash, on
``PAYHUB_PORT``: the tour twice in one data directory with ``make reset`` between (and a third time after
``payhub run --fresh-demo``), the spec's example webhooks by hand, the KHQR block, and the start-up
banner's commands.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.constants import PAYMENT_ID_FLOOR
from payhub.bootstrap import open_store
from tests.e2e.payhub_process import PAYHUB, Server, payhub_env, start_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("tour"))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def answers(simulated: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway's final answer to each webhook the sandbox bank sent."""
    return [w["attempts"][-1] for w in simulated["webhooks"]]


def test_bill_tour(server: Server, http: httpx.Client) -> None:
    customer = server.token("customer")

    r = http.get("/AMK/payments", params={"query": "P123456789"}, headers=bearer(customer))
    assert r.status_code == 200, r.text
    assert r.headers.get("x-correlation-id")
    premium = r.json()["data"]
    assert (premium["id"], premium["payer"], premium["currency"]) == (150001, "John Doe", "USD")
    assert b'"amount":150.00' in r.content
    payment_id = premium["paymentId"]
    assert payment_id == PAYMENT_ID_FLOOR  # the README's step 3 reads /api/payments/1000000000000
    assert premium["eventsUrl"] == f"/api/payments/{payment_id}/events"

    r = http.post("/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", "method": "BILL", "duplicates": 2})
    assert r.status_code == 200, r.text
    sent = answers(r.json()["data"])
    assert len(sent) == 3, r.text
    for answer in sent:
        assert answer["status"] == 200, answer
        assert answer["response"]["data"]["status"] == "CONFIRMED"
        assert answer["response"]["data"]["paymentId"] == payment_id
    assert len({a["response"]["data"]["transactionId"] for a in sent}) == 1

    admin = server.token("admin", "ops")
    r = http.get(f"/api/payments/{payment_id}", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
    assert r.json()["data"]["method"] == "BILL"

    # The premium is paid: the biller lookup no longer offers it.
    r = http.get("/AMK/payments", params={"query": "P123456789"}, headers=bearer(customer))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"

    # Three webhooks, one payment, one CONFIRMED event (read from the server's own database).
    assert asyncio.run(_payments_and_confirmations(server.database_url, 150001, payment_id)) == (1, 1)

    # 5. The receipt went to the sandbox: push, email and the partner webhook, once each.
    deadline = time.monotonic() + 10
    while True:
        r = http.get("/sandbox/notifications", params={"paymentId": payment_id, "format": "json"})
        assert r.status_code == 200, r.text
        records = r.json()["data"]
        if len(records) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(x["channel"] for x in records) == ["email", "push", "webhook"]
    [receipt] = [x for x in records if x["channel"] == "email"]
    assert receipt["recipient"] == "john.doe@example.com"
    assert receipt["subject"] == "Receipt: premium paid for policy P123456789"
    assert "Amount paid:     150.00 USD" in receipt["text"]
    page = http.get("/sandbox/notifications")
    assert page.headers["content-type"].startswith("text/html") and "Receipt: premium paid" in page.text


async def _payments_and_confirmations(url: str, premium_id: int, payment_id: int) -> tuple[int, int]:
    async with open_store(url, migrate=False) as store, store.transaction() as tx:
        payments = await tx.count("payments", "premium_id = $1", premium_id)
        confirmed = await tx.count("payment_events", "payment_id = $1 AND status = $2", payment_id, "CONFIRMED")
    return payments, confirmed


def test_khqr_tour(server: Server, http: httpx.Client) -> None:
    customer = server.token("customer")
    r = http.get("/AMK/payments", params={"query": "P987654321"}, headers=bearer(customer))
    assert r.status_code == 200, r.text
    premium = r.json()["data"]
    assert premium["currency"] == "KHR"
    assert b'"amount":600000,' in r.content
    payment_id = premium["paymentId"]

    r = http.post("/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR"})
    assert r.status_code == 200, r.text
    [answer] = answers(r.json()["data"])
    assert answer["status"] == 200, answer
    assert answer["response"]["data"]["status"] == "CONFIRMED"
    assert answer["response"]["data"]["paymentId"] == payment_id

    # The subscribe token of the inquiry may read its own payment, and only that one.
    watch = bearer(premium["subscribeToken"])
    r = http.get(f"/api/payments/{payment_id}", headers=watch)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CONFIRMED"
    assert r.json()["data"]["method"] == "KHQR"
    assert http.get(f"/api/payments/{payment_id + 1000}", headers=watch).status_code == 403

    r = http.get("/AMK/payments", params={"query": "P987654321"}, headers=bearer(customer))
    assert r.status_code == 404, r.text


def test_probes_and_index(server: Server, http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200
    r = http.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["database"] == "sqlite"
    assert http.get("/").json()["data"]["mode"] == "sandbox"


def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        assert server.process.poll() is None
    finally:
        code = server.stop()
    # uvicorn re-raises the captured SIGTERM once it has shut down, as process managers expect.
    assert code in (0, -signal.SIGTERM), server.output()
    assert "PayHub (sandbox mode) on" in server.output()
    assert "Finished server process" in server.output()  # graceful, not killed


# --- the README's shell blocks, run as written ------------------------------------------------


def readme_block(marker: str) -> str:
    """The ```sh block that follows the README's ``<!-- tested: … -->`` comment containing ``marker``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- tested:[^>]*" + re.escape(marker) + r"[^>]*-->\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, f"no tested README block marked {marker!r}"
    return found[1]


TOUR = "runs this block as it is, twice"
BILL_BY_HAND = "The bill payment (AmkPaymentConfirmationReqDto)"
KHQR_BY_HAND = "The KHQR payment (AmkKhqrConfirmationReqDto)"


def by_hand(title: str) -> str:
    block = next(
        b
        for b in re.findall(
            r"replays this block on a fresh demo database -->\n```sh\n(.*?)```",
            (ROOT / "README.md").read_text(encoding="utf-8"),
            re.DOTALL,
        )
        if title in b
    )
    return str(block)


def bash(server: Server, script: str, cwd: Path = ROOT) -> list[Any]:
    """Run ``script`` with bash (``set -euo pipefail``) in ``cwd`` against ``server``'s port; every line it
    prints that is JSON (or an SSE ``data:`` line), parsed."""
    env = payhub_env(PAYHUB_PORT=server.url.rsplit(":", 1)[1])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    out = []
    for line in done.stdout.splitlines():
        line = line.removeprefix("data: ")
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def check_tour(outputs: list[Any]) -> None:
    inquiry, paid, status, again, notices = outputs
    assert inquiry["data"]["id"] == 150001 and inquiry["data"]["paymentId"] == PAYMENT_ID_FLOOR
    sent = answers(paid["data"])
    assert len(sent) == 3 and {a["response"]["data"]["status"] for a in sent} == {"CONFIRMED"}
    assert (status["data"]["paymentId"], status["data"]["status"]) == (PAYMENT_ID_FLOOR, "CONFIRMED")
    assert again["success"] is False and again["error"]["code"] == "RESOURCE_NOT_FOUND"
    # What the notifier has recorded so far (it works after the commit; test_bill_tour waits for all three).
    assert notices["success"] is True and isinstance(notices["data"], list)


def premium_offered(server: Server, policy: str = "P123456789") -> int:
    r = httpx.get(
        f"{server.url}/AMK/payments", params={"query": policy}, headers=bearer(server.token("customer")), timeout=10
    )
    return r.status_code


def test_the_readme_tour_works_twice_with_make_reset_and_fresh_demo(tmp_path: Path) -> None:
    tour = readme_block(TOUR)
    assert "PORT=${PAYHUB_PORT:-8000}" in tour and ":8000" not in tour.replace("${PAYHUB_PORT:-8000}", "")

    server = start_server(tmp_path)  # a first `make run`
    try:
        # The tour, then (in the same shell, as a reader goes on) the KHQR block: its SSE frames.
        outputs = bash(server, tour + readme_block("runs this block after the tour"))
        check_tour(outputs[:5])
        frames = outputs[5:]
        assert frames and frames[-1]["status"] == "CONFIRMED" and frames[-1]["method"] == "KHQR"
        # The banner's commands work as printed (they pay P555000111, which the tour leaves alone).
        banner = server.log.read_text(errors="replace")
        commands = banner[banner.index("try it") :].split("\n", 1)[1].split("  demo data back")[0]
        inquiry, simulated = bash(server, commands, cwd=tmp_path)
        assert inquiry["data"]["policyNumber"] == "P555000111"
        assert answers(simulated["data"])[0]["response"]["data"]["status"] == "CONFIRMED"
    finally:
        server.stop()

    server = start_server(tmp_path)  # a second `make run`: the data is kept, the premium stays paid
    try:
        assert premium_offered(server) == 404
        refused = subprocess.run(
            [str(PAYHUB), "reset"], env=server.env, cwd=tmp_path, capture_output=True, text=True, timeout=30
        )
        assert refused.returncode == 1 and "stop it first" in refused.stderr
        assert premium_offered(server) == 404  # nothing was reset under the running server
    finally:
        server.stop()

    reset = subprocess.run(
        ["make", "-s", "reset"], env=server.env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "demo data restored" in reset.stdout
    server = start_server(tmp_path)
    try:
        check_tour(bash(server, tour))  # the same tour, the same answers, the same payment id
    finally:
        server.stop()

    server = start_server(tmp_path, command=[str(PAYHUB), "run", "--fresh-demo", "--port"])
    try:
        assert "demo data restored" in server.log.read_text(errors="replace")
        check_tour(bash(server, tour))
        busy = subprocess.run(
            [str(PAYHUB), "run", "--fresh-demo", "--port", server.url.rsplit(":", 1)[1]],
            env=server.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert busy.returncode == 1 and "in use" in busy.stderr
        assert premium_offered(server) == 404  # the running server's data was not reset
    finally:
        server.stop()


@pytest.mark.parametrize("title", [BILL_BY_HAND, KHQR_BY_HAND])
def test_the_spec_examples_sent_by_hand(tmp_path: Path, title: str) -> None:
    server = start_server(tmp_path)
    try:
        setup = "export PATH=$PWD/.venv/bin:$PATH\nPORT=${PAYHUB_PORT:-8000}\n"
        setup += "TOKEN=$(payhub token --sub demo --role customer | tail -n1)\n"
        outputs = bash(server, setup + by_hand(title))
        control, answer = outputs[-2], outputs[-1]
        assert control["success"] is True
        assert answer["success"] is True, answer
        assert answer["data"]["status"] == "CONFIRMED"
        if title == BILL_BY_HAND:
            assert answer["data"]["transactionId"] == "AMK202510070001"
            assert answer["data"]["message"] == "Payment successfully processed"
        else:
            assert answer["data"]["transactionId"] == f"AMK_KHQR_{PAYMENT_ID_FLOOR}"
            assert answer["data"]["message"] == "KHQR payment successfully processed"
        assert premium_offered(server) == 404  # paid: one payment, confirmed
    finally:
        server.stop()
