"""PayHub under a plain ASGI host: ``uvicorn --factory payhub.app:create_app``, as a real process.

No ``payhub`` command is involved: uvicorn calls the factory, runs the lifespan (which opens the
database, the bus and the in-process clients, and seeds the sandbox), serves, and on SIGTERM runs
the lifespan's shutdown. A whole bill payment goes through it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.payhub_process import Server, start_server

UVICORN = [sys.executable, "-m", "uvicorn", "--factory", "payhub.app:create_app", "--host", "127.0.0.1", "--port"]


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("factory"), command=UVICORN)
    try:
        yield s
    finally:
        s.stop()


def test_uvicorn_factory_serves_a_whole_payment_and_shuts_down_through_the_lifespan(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        assert http.get("/healthz").json()["data"] == {"status": "alive"}
        assert http.get("/readyz").json()["data"]["database"] == "sqlite"

        customer = {"Authorization": f"Bearer {server.token('customer')}"}
        r = http.get("/AMK/payments", params={"query": "P123456789"}, headers=customer)
        assert r.status_code == 200, r.text  # the lifespan seeded the sandbox premiums
        payment_id = r.json()["data"]["paymentId"]

        r = http.post("/sandbox/amk/simulate/pay", json={"billNumber": "P123456789", "method": "BILL"})
        assert r.status_code == 200, r.text
        [webhook] = r.json()["data"]["webhooks"]
        answer = webhook["attempts"][-1]
        assert answer["status"] == 200, answer
        assert answer["response"]["data"] == {
            **answer["response"]["data"],
            "status": "CONFIRMED",
            "paymentId": payment_id,
        }

        admin = {"Authorization": f"Bearer {server.token('admin', 'ops')}"}
        assert http.get(f"/api/payments/{payment_id}", headers=admin).json()["data"]["status"] == "CONFIRMED"
        assert http.get("/AMK/payments", params={"query": "P123456789"}, headers=customer).status_code == 404

    assert server.stop() in (0, -signal.SIGTERM), server.output()
    log = server.output()
    assert "Application startup complete." in log, log
    assert "Application shutdown complete." in log, log  # the lifespan closed the container
