"""payhub_client against a real ``payhub run``: every call, the status stream to its end, resume after
a network cut with nothing missed, the errors it raises, and webhooks it signs as AMK would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from payhub_client import (
    Khqr,
    PayHubApiError,
    PayHubClient,
    PaymentEvent,
    PaymentStatus,
    SessionStatus,
)
from tests.e2e.client_policies import import_policies
from tests.e2e.payhub_process import Server, start_server
from tests.tcp_proxy import TcpProxy

SECRET = "clients-test-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The re-verifier asks AMK again every second: a payment AMK could not verify settles quickly.
    workdir = tmp_path_factory.mktemp("pyclient")
    s = start_server(workdir, PAYHUB_AMK_WEBHOOK_SECRET=SECRET, PAYHUB_REVERIFY_INTERVAL_S="1")
    try:
        import_policies(s, workdir, [(160001, "P160000001", "Sok Dara", "12.30", "USD")])
        yield s
    finally:
        s.stop()


async def pay(server: Server, payment_id: int, outcome: str = "SUCCESS") -> dict[str, object]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.post(
            "/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR", "outcome": outcome}
        )
    assert r.status_code == 200, r.text
    answer: dict[str, object] = r.json()["data"]["webhooks"][0]["attempts"][-1]["response"]["data"]
    return answer


async def sandbox_control(server: Server, **switches: object) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.post("/sandbox/amk/control", json=switches)
    assert r.status_code == 200, r.text


async def whole_log(server: Server, qr: Khqr) -> list[PaymentEvent]:
    """Every status event of the payment, read afresh from the event log (cursor 0)."""
    async with PayHubClient(server.url) as payhub:
        return [e async for e in payhub.events(qr.payment_id, token=qr.subscribe_token, last_event_id=0)]


async def test_inquiry_khqr_and_the_stream_to_confirmed(server: Server) -> None:
    async with PayHubClient(server.url, token=server.token("customer")) as payhub:
        premium = await payhub.inquire("P123456789")
        assert (premium.id, premium.payer, premium.amount, premium.currency) == (
            150001,
            "John Doe",
            Decimal("150.00"),
            "USD",
        )
        assert premium.amount.as_tuple().exponent == -2  # read as Decimal, never float
        qr = await payhub.khqr("P123456789")
        assert qr.payment_id == premium.payment_id and qr.amount == Decimal("150.00")
        assert qr.qr_string.startswith("000201") and "5406150.00" in qr.qr_string
        assert qr.expires_at.tzinfo is not None and qr.session_id
        assert "subscribe_token" not in repr(qr) and qr.subscribe_token not in repr(qr)

        seen: list[PaymentEvent] = []
        paid: asyncio.Task[dict[str, object]] | None = None
        async for event in payhub.events(qr.payment_id, token=qr.subscribe_token):
            seen.append(event)
            if paid is None:
                assert event.status is PaymentStatus.PENDING  # without a cursor: the current status first
                paid = asyncio.create_task(pay(server, qr.payment_id))
        assert paid is not None
        answer = await paid
        assert seen[-1].status is PaymentStatus.CONFIRMED and seen[-1].terminal
        assert [e.id for e in seen] == sorted({e.id for e in seen})
        assert seen[-1].payment.transaction_id == answer["transactionId"]
        assert seen[-1].payment.amount == Decimal("150.00") and seen[-1].payment.sent_at is not None

        state = await payhub.payment(qr.payment_id, token=qr.subscribe_token)
        assert state.status is PaymentStatus.CONFIRMED and state.transaction_id == answer["transactionId"]
        session = await payhub.qr_session(qr.session_id, token=qr.subscribe_token)
        assert session.status is SessionStatus.PAID and session.last_event_id == seen[-1].id
        # A cursor at the terminal event: the server answers 204 and the iterator simply ends.
        assert [
            e async for e in payhub.events(qr.payment_id, token=qr.subscribe_token, last_event_id=seen[-1].id)
        ] == []


async def test_long_poll_of_the_qr_session(server: Server) -> None:
    async with PayHubClient(server.url, token=server.token("customer")) as payhub:
        qr = await payhub.khqr("P444000222")
        first = await payhub.qr_session(qr.session_id, token=qr.subscribe_token)
        assert first.status is SessionStatus.PENDING and first.amount == Decimal(250000)
        started = time.monotonic()
        waiting = asyncio.create_task(
            payhub.qr_session(qr.session_id, wait_s=20, after=first.last_event_id, token=qr.subscribe_token)
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()  # held by the server
        await pay(server, qr.payment_id)
        answered = await waiting
        assert answered.last_event_id > first.last_event_id and time.monotonic() - started < 10


async def test_resume_after_a_network_cut_misses_nothing(server: Server) -> None:
    """The stream is cut; meanwhile the payment goes PROCESSING (AMK unreachable) and then CONFIRMED
    (the re-verifier). Reconnecting with Last-Event-ID must deliver both, in order, once."""
    host, port = server.url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    token = server.token("customer")
    async with PayHubClient(server.url, token=token) as direct:
        qr = await direct.khqr("P987654321")
    seen: list[PaymentEvent] = []
    try:
        async with PayHubClient(f"http://127.0.0.1:{proxy.port}") as payhub:
            stream = payhub.events(qr.payment_id, token=qr.subscribe_token, backoff_base_s=0.2, backoff_max_s=0.5)
            seen.append(await anext(stream))
            assert seen[0].status is PaymentStatus.PENDING
            await proxy.cut()
            await sandbox_control(server, verifyAvailable=False)
            answer = await pay(server, qr.payment_id)
            assert answer["status"] == "PROCESSING", answer
            await sandbox_control(server, verifyAvailable=True)
            async with PayHubClient(server.url) as check:
                for _ in range(100):  # the re-verifier confirms within a few seconds
                    if (await check.payment(qr.payment_id, token=qr.subscribe_token)).status is PaymentStatus.CONFIRMED:
                        break
                    await asyncio.sleep(0.1)
            await proxy.start()  # the network is back
            seen += [e async for e in stream]
    finally:
        await proxy.cut()
    log = await whole_log(server, qr)
    assert [e.status for e in log] == [PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.CONFIRMED]
    assert [e.id for e in seen] == [e.id for e in log]
    assert [e.status for e in seen] == [e.status for e in log]


async def test_errors_are_typed_and_refusals_are_not_retried(server: Server) -> None:
    async with PayHubClient(server.url, token=server.token("customer")) as payhub:
        with pytest.raises(PayHubApiError) as missing:
            await payhub.inquire("P000000000")
        assert (missing.value.code, missing.value.status_code, missing.value.retriable) == (
            "RESOURCE_NOT_FOUND",
            404,
            False,
        )
        assert missing.value.correlation_id
        with pytest.raises(PayHubApiError) as bad:
            await payhub.inquire("P-1")
        assert bad.value.code == "BAD_REQUEST"
        with pytest.raises(PayHubApiError) as anonymous:
            await payhub.inquire("P444000222", token="not-a-token")
        assert (anonymous.value.code, anonymous.value.status_code) == ("UNAUTHORIZED", 401)

        mine = await payhub.inquire("P160000001")
        started = time.monotonic()
        with pytest.raises(PayHubApiError) as forbidden:
            [e async for e in payhub.events(mine.payment_id + 1, token=mine.subscribe_token)]
        assert forbidden.value.code == "FORBIDDEN" and time.monotonic() - started < 2  # no retry loop


async def test_signed_webhooks_as_amk_sends_them(server: Server) -> None:
    """send_webhook signs with payhub_client.webhooks; the gateway accepts it, replays it, refuses a bad key."""
    async with PayHubClient(server.url, token=server.token("customer")) as payhub:
        premium = await payhub.inquire("P555000111")
    tx = f"CLIENTTEST{int(time.time())}"
    await sandbox_control(server, paidTransactions=[{"txId": tx, "amount": "75.50", "currency": "USD"}])
    body = {
        "id": premium.id,
        "policyNumber": premium.policy_number,
        "amount": Decimal("75.50"),
        "currency": "USD",
        "bankTransactionId": tx,
        "payer": premium.payer,
        "paidDate": "20261201093000",
    }
    async with PayHubClient(server.url, token=server.token("amk")) as amk:
        refused = await amk.send_webhook("bill", body, secrets="a-wrong-secret-of-enough-length-00000")
        assert (refused.status_code, refused.body["error"]["code"]) == (401, "UNAUTHORIZED")
        first = await amk.send_webhook("bill", body, secrets=["an-old-rotated-secret", SECRET])
        assert first.status_code == 200 and first.ok, first.body
        assert first.data["status"] == "CONFIRMED"
        again = await amk.send_webhook("bill", body, secrets=SECRET)
        assert (again.status_code, again.data) == (first.status_code, first.data)  # the original answer
        stale = await amk.send_webhook("bill", body, secrets=SECRET, timestamp=int(time.time()) - 301)
        assert stale.status_code == 401
    async with PayHubClient(server.url) as admin:
        state = await admin.payment(premium.payment_id, token=server.token("admin"))
    assert state.status is PaymentStatus.CONFIRMED and state.transaction_id == tx


def test_the_client_needs_no_server_package() -> None:
    """The client runs in a Python that has httpx and httpx-sse but none of PayHub's server packages."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    probe = (
        "import sys, importlib.abc\n"
        "SERVER = {'hub', 'payhub', 'gateway', 'khqr', 'push', 'integration', 'sandbox', 'backoffice'}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in SERVER:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import payhub_client\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'payhub_client')[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
