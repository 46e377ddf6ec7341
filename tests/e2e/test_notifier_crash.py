"""Exactly once through a crash: the notifier as a real process (``payhub serve notifier``) on PostgreSQL
and Kafka, killed with SIGKILL while partner webhooks are in flight, then started again while the same
events are delivered again (the relay's at-least-once). Real receivers: HTTP push provider, SMTP server,
a partner endpoint checking Standard Webhooks signatures.

What must hold: one notification row per (event, channel, recipient) whatever was redelivered; every
message answered by its receiver exactly once; the messages in flight at the kill are sent again after
their lease with the same ``webhook-id`` (the receiver's idempotency key), and nothing else is repeated.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from hub.adapters.stream.kafka import KafkaProducer
from hub.domain.money import Currency
from hub.domain.notification import Contact, Language
from hub.domain.payment import PaymentStatus
from hub.domain.records import PaymentEvent, Premium
from hub.event_codec import event_json
from hub.service.ledger import status_data
from payhub.backends import open_store
from tests.conftest import PG_BASE, free_port
from tests.kafka_broker import start_broker
from tests.notify_receivers import HttpReceiver, SmtpReceiver, standard_webhooks_valid
from tests.redis_server import PrivateRedis

PAYHUB = str(Path(sys.executable).parent / "payhub")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


async def confirmed_payments(url: str, count: int, first_id: int) -> list[PaymentEvent]:
    """``count`` premiums with contacts, each paid: the CONFIRMED events the relay would publish."""
    now = datetime.now(UTC)
    events = []
    async with open_store(url) as store, store.transaction() as tx:
        for i in range(count):
            pid = first_id + i
            contact = Contact(f"+8551200{pid:04d}", f"payer{pid}@example.com", f"token-{pid}", Language.EN)
            premium = Premium(
                pid, f"C{pid:09d}", f"Payer {pid}", Decimal("12.50"), Currency.USD, date(2027, 3, 1), contact=contact
            )
            await tx.upsert_premium(premium, now)
            payment = await tx.insert_open_payment(premium, None, now)
            assert payment is not None
            from dataclasses import replace

            paid = replace(payment, status=PaymentStatus.CONFIRMED, transaction_id=f"AMK{pid}", updated_at=now)
            await tx.update_payment(paid)
            events.append(await tx.append_event(paid.id, PaymentEvent.STATUS, paid.status, status_data(paid, now), now))
    return events


async def publish(bootstrap: str, topic: str, events: list[PaymentEvent]) -> None:
    async with KafkaProducer(bootstrap, idempotence=False) as producer:
        await producer.send_many([(topic, str(e.payment_id), event_json(e)) for e in events])


async def rows(url: str) -> dict[str, int]:
    schema = url.split("schema=")[1]
    con = await asyncpg.connect(PG_BASE, server_settings={"search_path": schema})
    try:
        found = await con.fetch("SELECT state, COUNT(*) AS n FROM notifications GROUP BY state")
        return {r["state"]: int(r["n"]) for r in found}
    finally:
        await con.close()


async def until(check, within: float = 40.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


class Notifier:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        port = free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below without blocking
                [PAYHUB, "serve", "notifier", "--port", str(port)], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        async with httpx.AsyncClient(timeout=1) as client:
            deadline = time.monotonic() + 30
            while True:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                await asyncio.sleep(0.1)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def test_kill_9_and_redelivery_send_each_message_once(pg_url: str, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)
    await redis.start()
    notifier: Notifier | None = None
    try:
        async with start_broker(tmp_path) as broker, HttpReceiver() as push, HttpReceiver() as partner:
            with SmtpReceiver() as smtp:
                prefix = "crash."
                env = {
                    **{k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")},
                    "PAYHUB_DATABASE_URL": pg_url,
                    "PAYHUB_REDIS_URL": redis.url,
                    "PAYHUB_KAFKA_BOOTSTRAP": broker.bootstrap,
                    "PAYHUB_KAFKA_IDEMPOTENCE": "false",
                    "PAYHUB_KAFKA_TOPIC_PREFIX": prefix,
                    "PAYHUB_KAFKA_SESSION_TIMEOUT_MS": "1000",
                    "PAYHUB_KAFKA_HEARTBEAT_MS": "100",
                    "PAYHUB_NOTIFY_PUSH_URL": push.url + "/send",
                    "PAYHUB_NOTIFY_SMS_URL": "sandbox:",
                    "PAYHUB_NOTIFY_SMTP_URL": smtp.url,
                    "PAYHUB_PARTNER_WEBHOOKS": f'[{{"name":"acme","url":"{partner.url}/hooks","secret":"{SECRET}"}}]',
                    "PAYHUB_NOTIFY_LEASE_S": "6",  # a claimed row whose sender died is due again after this
                    "PAYHUB_NOTIFY_TIMEOUT_S": "5",
                    "PAYHUB_NOTIFY_POLL_S": "0.05",
                    "PAYHUB_SEED_DEMO": "false",
                }
                first = await confirmed_payments(pg_url, 6, 700001)
                topic = f"{prefix}payhub.payment-status"
                partner.gate = asyncio.Event()  # the partner holds every webhook: they are in flight
                notifier = Notifier(env, tmp_path / "notifier.log")
                await notifier.start()
                await publish(broker.bootstrap, topic, first)
                # push and email recorded SENT; the webhooks claimed and in flight, their outcome not recorded
                await until(lambda: _rows_are(pg_url, {"SENT": 12, "PENDING": 6}), within=30)
                await until(lambda: _true(len(partner.requests) == 6), within=2)
                in_flight = {r.headers["webhook-id"] for r in partner.requests}

                notifier.kill9()  # SIGKILL: no shutdown, no outcome recorded for what was in flight
                partner.gate.set()  # the partner answers again (the dead sender never reads it)
                partner.gate = None
                second = await confirmed_payments(pg_url, 2, 700101)
                await publish(broker.bootstrap, topic, [*first, *second, *first])  # redelivered, and new ones
                await notifier.start()
                await until(lambda: _rows_are(pg_url, {"SENT": 24}))
                await asyncio.sleep(0.5)  # anything sent twice would arrive now

                assert len(push.requests) == 8 and len({r.body for r in push.requests}) == 8
                assert len(smtp.messages) == 8 and len({m["Message-ID"] for m in smtp.messages}) == 8
                ids = [r.headers["webhook-id"] for r in partner.requests]
                assert len(set(ids)) == 8
                repeated = {i for i in ids if ids.count(i) > 1}
                assert repeated == in_flight  # only what was in flight at the kill went twice, same webhook-id
                assert all(ids.count(i) == 2 for i in repeated)
                assert all(
                    standard_webhooks_valid(SECRET, r.headers, r.body, now=time.time()) for r in partner.requests
                )
    except AssertionError as exc:
        log = notifier.log.read_text(errors="replace")[-4000:] if notifier is not None else ""
        raise AssertionError(f"{exc}\n--- notifier log ---\n{log}") from exc
    finally:
        if notifier is not None:
            notifier.stop()
        redis.stop()


async def _true(value: bool) -> bool:
    return value


async def _rows_are(url: str, expected: dict[str, int]) -> bool:
    return await rows(url) == expected
