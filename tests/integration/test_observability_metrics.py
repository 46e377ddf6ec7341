"""The metrics an on-call engineer alerts on, measured through real HTTP paths (issue 11):
AMK call latency and outcome per endpoint, webhook received → committed, push delivery (commit →
frame written) per transport, subscribers per transport, ALERTs by kind, open reviews by kind, the
outbox backlog and its age, process metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.adapters.stream.kafka import KafkaProducer
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent
from hub.service.ledger import open_payment
from payhub.bootstrap import Container, open_store
from payhub.workers import relay_probes
from tests.conftest import LiveServer, auth_header, bank_paid, bill_body, free_port, make_settings, running, signed

KHQR_QUERY = {"bankCode": '{"id":"AMK","bank":"AMK"}', "billNumber": "P123456789"}


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample ``name{labels}`` of a /metrics text (None when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def metrics_text(c: Container, client: httpx.AsyncClient) -> str:
    r = await client.get("/metrics", headers=auth_header(c, "admin"))
    assert r.status_code == 200, r.text
    return r.text


async def _client(c: Container) -> httpx.AsyncClient:
    assert c.app is not None
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://testserver")


async def test_amk_calls_are_timed_per_endpoint_and_webhooks_from_arrival_to_commit(tmp_path: Path) -> None:
    async with running(make_settings(f"sqlite:///{tmp_path}/p.db")) as c, await _client(c) as client:
        r = await client.get("/khqr", params=KHQR_QUERY, headers=auth_header(c))
        assert r.status_code == 200, r.text
        body = bill_body(premium_id=150002, policy="P987654321", amount="600000", currency="KHR")
        bank_paid(c, body["bankTransactionId"], amount="600000", currency="KHR")
        raw, headers = signed(c, body)
        assert (await client.post("/AMK/payments", content=raw, headers=headers)).status_code == 200
        assert (await client.post("/AMK/payments", content=raw, headers=headers)).status_code == 200  # a replay
        text = await metrics_text(c, client)
    amk = "payhub_amk_request_duration_seconds_count"
    assert value(text, amk, endpoint="sign-in", outcome="success") == 1
    assert value(text, amk, endpoint="qr/generator", outcome="success") == 1
    assert value(text, amk, endpoint="payment-verify", outcome="success") == 1  # the replay asks AMK nothing
    assert (
        value(text, "payhub_webhook_received_to_committed_seconds_count", kind="BILL") == 1
    )  # a replay commits nothing
    committed = value(text, "payhub_webhook_received_to_committed_seconds_sum", kind="BILL")
    answered = value(text, "payhub_webhook_seconds_sum", kind="BILL")
    assert committed is not None and answered is not None and 0 < committed < answered
    assert (value(text, "process_open_fds") or 0) > 0 and (value(text, "process_max_fds") or 0) > 0


async def test_amk_qr_generator_outage_raises_an_alert(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    closed = free_port()  # nothing listens there: AMK unreachable
    settings = make_settings(
        f"sqlite:///{tmp_path}/p.db", amk_base_url=f"http://127.0.0.1:{closed}", amk_retry_attempts=2
    )
    async with running(settings) as c, await _client(c) as client:
        with caplog.at_level(logging.ERROR):
            r = await client.get("/khqr", params=KHQR_QUERY, headers=auth_header(c))
        assert r.status_code == 503, r.text
        text = await metrics_text(c, client)
    alerts = [rec for rec in caplog.records if rec.getMessage() == "ALERT AMK QR generator unavailable"]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR and alerts[0].alert == "amk_qr_unavailable"  # type: ignore[attr-defined]
    assert value(text, "payhub_alerts_total", kind="amk_qr_unavailable") == 1
    assert value(text, "payhub_alerts_total", kind="double_payment") == 0  # every kind is exported
    assert value(text, "payhub_amk_request_duration_seconds_count", endpoint="sign-in", outcome="unreachable") == 2


async def test_alerts_and_open_reviews_are_counted(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with running(make_settings(db_url)) as c, await _client(c) as client:
        body = bill_body()
        bank_paid(c, body["bankTransactionId"])
        raw, headers = signed(c, body)
        assert (await client.post("/AMK/payments", content=raw, headers=headers)).status_code == 200
        raw2, headers2 = signed(c, {**body, "amount": 151})  # same bank transaction, other amount
        with caplog.at_level(logging.ERROR):
            assert (await client.post("/AMK/payments", content=raw2, headers=headers2)).status_code == 409
        mismatch = bill_body(amount="149.00")  # does not match the premium: 422 and a review
        raw3, headers3 = signed(c, mismatch)
        assert (await client.post("/AMK/payments", content=raw3, headers=headers3)).status_code == 422
        text = await metrics_text(c, client)
    assert "ALERT duplicate transaction key with different content" in [r.getMessage() for r in caplog.records]
    assert value(text, "payhub_alerts_total", kind="duplicate_transaction_key") == 1
    assert value(text, "payhub_reviews_open", kind="webhook") == 1
    assert value(text, "payhub_reviews_open", kind="double-payment") == 0  # the kind /admin/reviews filters by


async def test_push_delivery_and_subscribers_per_transport(tmp_path: Path) -> None:
    async with (
        running(make_settings(f"sqlite:///{tmp_path}/p.db")) as c,
        await _client(c) as local,
    ):
        assert c.app is not None
        async with LiveServer(c.app) as live, httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            inquiry = (await http.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))).json()
            payment_id, token = inquiry["data"]["paymentId"], inquiry["data"]["subscribeToken"]
            qr = (await http.get("/khqr", params=KHQR_QUERY, headers=auth_header(c))).json()["data"]
            poll = asyncio.create_task(
                http.get(f"/khqr/sessions/{qr['sessionId']}", params={"wait": 20}, headers=auth_header(c))
            )
            url = f"/api/payments/{payment_id}/events?token={token}"
            async with http.stream("GET", url) as stream:
                lines = stream.aiter_lines()
                async for line in lines:
                    if line.startswith("data:"):
                        break  # the snapshot (from the log): not a live delivery
                deadline = time.monotonic() + 5
                while True:
                    text = await metrics_text(c, local)
                    if value(text, "payhub_push_subscribers", transport="longpoll") == 1:
                        break
                    assert time.monotonic() < deadline, "long-poll subscriber not seen"
                    await asyncio.sleep(0.02)
                assert value(text, "payhub_push_subscribers", transport="sse") == 1
                assert value(text, "payhub_push_subscribers", transport="ws") == 0
                assert value(text, "payhub_push_delivery_seconds_count", transport="sse") is None
                paid = await http.post("/sandbox/amk/simulate/pay", json={"paymentId": payment_id, "method": "KHQR"})
                assert paid.status_code == 200, paid.text
                async for line in lines:
                    if line.startswith("data:") and '"CONFIRMED"' in line:
                        break
            assert (await poll).json()["data"]["status"] == "PAID"
            deadline = time.monotonic() + 5
            while value(text := await metrics_text(c, local), "payhub_push_subscribers", transport="sse") != 0:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
    assert value(text, "payhub_push_delivery_seconds_count", transport="sse") == 1  # the live CONFIRMED frame
    seconds = value(text, "payhub_push_delivery_seconds_sum", transport="sse")
    assert seconds is not None and 0 <= seconds < 5


async def test_outbox_backlog_and_age_of_the_oldest_event(db_url: str) -> None:
    settings = make_settings(db_url)
    async with running(settings) as c:
        metrics, _ = relay_probes(settings, c.store, KafkaProducer("127.0.0.1:9", idempotence=False))
        now = datetime.now(UTC)
        async with c.store.transaction() as tx:
            premium = await tx.premium(150001)
            assert premium is not None
            payment, opened = await open_payment(tx, premium, None, now)
            await tx.outbox.mark_published([e.id for e in opened], now)  # relayed already
        text = (await metrics.render_async()).decode()
        assert value(text, "payhub_outbox_unpublished_events") == 0
        assert value(text, "payhub_outbox_oldest_unpublished_age_seconds") == 0
        async with c.store.transaction() as tx:
            first = await tx.append_event(
                payment.id, PaymentEvent.STATUS, PaymentStatus.PROCESSING, {}, now - timedelta(seconds=90)
            )
            await tx.append_event(
                payment.id, PaymentEvent.STATUS, PaymentStatus.CONFIRMED, {}, now - timedelta(seconds=10)
            )
        text = (await metrics.render_async()).decode()
        assert value(text, "payhub_outbox_unpublished_events") == 2
        age = value(text, "payhub_outbox_oldest_unpublished_age_seconds")
        assert age is not None and 90 <= age < 120
        async with c.store.transaction() as tx:
            await tx.outbox.mark_published([first.id], now)
        text = (await metrics.render_async()).decode()
        assert value(text, "payhub_outbox_unpublished_events") == 1
        age = value(text, "payhub_outbox_oldest_unpublished_age_seconds")
        assert age is not None and 10 <= age < 40


async def test_a_failed_scrape_read_leaves_the_samples_out(tmp_path: Path) -> None:
    """A database that is down drops the stored samples of that scrape; the rest still renders."""
    url = f"sqlite:///{tmp_path}/p.db"
    async with open_store(url) as store:
        metrics, _ = relay_probes(make_settings(url), store, KafkaProducer("127.0.0.1:9", idempotence=False))

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database down")

    store.transaction = down  # type: ignore[method-assign]
    text = (await metrics.render_async()).decode()
    assert value(text, "payhub_outbox_unpublished_events") is None
    assert "# TYPE payhub_outbox_unpublished_events gauge" in text
    assert (value(text, "process_open_fds") or 0) > 0
