"""The notifier end to end in a wired process (SQLite and PostgreSQL): committed payment events become
notifications sent once each, through real local receivers (push provider, SMS gateway, SMTP server,
a partner endpoint checking Standard Webhooks signatures), through duplicates, outages and dead letters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hub.domain.notification import Channel, NotificationState
from hub.json_codec import loads
from payhub.bootstrap import Container
from tests.conftest import make_settings, running
from tests.notify_receivers import HttpReceiver, SmtpReceiver, email_parts, standard_webhooks_valid

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Receivers:
    push: HttpReceiver
    sms: HttpReceiver
    partner: HttpReceiver
    smtp: SmtpReceiver

    def settings(self, db_url: str, **overrides: Any) -> Any:
        return make_settings(
            db_url,
            notify_push_url=self.push.url + "/v1/projects/demo/messages:send",
            notify_sms_url=self.sms.url + "/sms",
            notify_smtp_url=self.smtp.url,
            partner_webhooks=[{"name": "acme", "url": self.partner.url + "/hooks", "secret": SECRET}],
            notify_retry_initial_s=0.01,
            notify_retry_max_s=0.05,
            notify_webhook_schedule_s=(0.01, 0.02, 0.02),
            notify_poll_s=0.02,
            **overrides,
        )


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    async with HttpReceiver() as push, HttpReceiver() as sms, HttpReceiver() as partner:
        with SmtpReceiver() as smtp:
            yield Receivers(push, sms, partner, smtp)


async def wait_until(predicate: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await _call(predicate):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _call(predicate: Callable[[], Any]) -> Any:
    result = predicate()
    return await result if asyncio.iscoroutine(result) else result


async def pay(
    c: Container, client: httpx.AsyncClient, policy: str, outcome: str = "SUCCESS", duplicates: int = 0
) -> int:
    token = c.auth.issue("tester", "customer", 600)
    r = await client.get("/AMK/payments", params={"query": policy}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    payment_id: int = r.json()["data"]["paymentId"]
    method = "BILL" if outcome == "SUCCESS" else "KHQR"
    r = await client.post(
        "/sandbox/amk/simulate/pay",
        json={"paymentId": payment_id, "method": method, "outcome": outcome, "duplicates": duplicates},
    )
    assert r.status_code == 200, r.text
    return payment_id


async def states(c: Container, payment_id: int) -> dict[tuple[str, str], str]:
    async with c.store.transaction() as tx:
        rows = await tx.notifications.for_payment(payment_id)
    return {(n.key.channel.value, n.key.recipient): n.state.value for n in rows}


def all_sent(expected: int, c: Container, payment_id: int) -> Callable[[], Any]:
    async def check() -> bool:
        found = await states(c, payment_id)
        return len(found) == expected and set(found.values()) == {"SENT"}

    return check


@pytest.fixture
async def process(receivers: Receivers, db_url: str) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    async with running(receivers.settings(db_url), background=True) as c:
        assert c.app is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://t") as client:
            yield c, client


async def test_a_confirmed_payment_is_told_once_on_each_channel_despite_duplicates(
    process: tuple[Container, httpx.AsyncClient], receivers: Receivers
) -> None:
    c, client = process
    payment_id = await pay(c, client, "P123456789", duplicates=2)  # three webhooks from the bank
    await wait_until(all_sent(3, c, payment_id))
    # The same committed event handed over again, at once and repeatedly (a redelivery, a replay).
    async with c.store.transaction() as tx:
        [confirmed] = [e for e in await tx.events_after(payment_id, 0) if e.status.value == "CONFIRMED"]
    added = await asyncio.gather(*(c.notifier.on_event(confirmed) for _ in range(5)))
    assert sum(added) == 0
    await c.notify_catchup.sweep()
    await asyncio.sleep(0.2)

    assert await states(c, payment_id) == {
        ("push", "sandbox-device-john-doe"): "SENT",
        ("email", "john.doe@example.com"): "SENT",
        ("webhook", "acme"): "SENT",
    }
    [push] = receivers.push.requests
    fcm = loads(push.body)["message"]
    assert fcm["token"] == "sandbox-device-john-doe"
    assert fcm["notification"]["body"].startswith("Payment of 150.00 USD for policy P123456789 successful. Ref: ")
    assert receivers.sms.requests == []  # push worked: no SMS
    [mail] = receivers.smtp.messages
    assert mail["To"] == "john.doe@example.com"
    assert "Amount paid:     150.00 USD" in email_parts(mail)["text/plain"]
    [hook] = receivers.partner.requests
    assert standard_webhooks_valid(SECRET, hook.headers, hook.body, now=time.time())
    body = loads(hook.body)
    assert (body["type"], body["data"]["paymentId"], str(body["data"]["amount"])) == (
        "payment.confirmed",
        payment_id,
        "150.00",
    )

    admin = {"Authorization": f"Bearer {c.auth.issue('ops', 'admin', 600)}"}
    r = await client.get(f"/admin/payments/{payment_id}/notifications", headers=admin)
    assert r.status_code == 200, r.text
    shown = r.json()["data"]["notifications"]
    assert {(n["channel"], n["state"], n["attempts"]) for n in shown} == {
        ("push", "SENT", 1),
        ("email", "SENT", 1),
        ("webhook", "SENT", 1),
    }
    assert next(n for n in shown if n["channel"] == "webhook")["messageId"] == hook.headers["webhook-id"]


async def test_a_failed_payment_is_told_in_khmer_with_riel(
    process: tuple[Container, httpx.AsyncClient], receivers: Receivers
) -> None:
    c, client = process
    payment_id = await pay(c, client, "P987654321", outcome="FAILED")
    await wait_until(all_sent(3, c, payment_id))
    [push] = receivers.push.requests
    assert loads(push.body)["message"]["notification"]["body"] == (
        "ការបង់ប្រាក់ចំនួន 600000 KHR សម្រាប់បណ្ណសន្យារ៉ាប់រង P987654321 មិនបានជោគជ័យទេ។ សូមព្យាយាមម្តងទៀត ឬទាក់ទងផ្នែកបម្រើអតិថិជន។"
    )
    [mail] = receivers.smtp.messages
    assert "600000 KHR" in email_parts(mail)["text/html"]
    assert loads(receivers.partner.requests[0].body)["type"] == "payment.failed"


async def test_when_push_fails_for_good_sms_follows(
    process: tuple[Container, httpx.AsyncClient], receivers: Receivers
) -> None:
    c, client = process
    receivers.push.fail(1, 404)  # FCM: UNREGISTERED
    payment_id = await pay(c, client, "P123456789")
    await wait_until(lambda: len(receivers.sms.requests) == 1)
    await wait_until(lambda: states(c, payment_id))
    found = await states(c, payment_id)
    assert found[("push", "sandbox-device-john-doe")] == "DEAD"
    await wait_until(lambda: _state_is(c, payment_id, ("sms", "+85512345678"), "SENT"))
    [sms] = receivers.sms.requests
    assert loads(sms.body)["text"].startswith("Payment of 150.00 USD for policy P123456789 successful.")
    assert len(receivers.push.requests) == 1  # refused for good: not retried


async def _state_is(c: Container, payment_id: int, key: tuple[str, str], state: str) -> bool:
    return (await states(c, payment_id)).get(key) == state


async def test_a_channel_outage_and_its_recovery_send_each_message_once(
    process: tuple[Container, httpx.AsyncClient], receivers: Receivers
) -> None:
    c, client = process
    for r in (receivers.push, receivers.partner):
        r.fail(2, 503)
    receivers.partner.fail(1, 502, {"Retry-After": "0"})
    receivers.smtp.refuse_data.extend(["451 4.3.0 try later"] * 2)
    payment_id = await pay(c, client, "P123456789")
    await wait_until(all_sent(3, c, payment_id))
    assert len(receivers.push.requests) == 3 and len(receivers.partner.requests) == 4
    assert len(receivers.smtp.messages) == 1
    ids = {r.headers["webhook-id"] for r in receivers.partner.requests}
    assert len(ids) == 1  # every retry reuses its webhook-id
    assert all(standard_webhooks_valid(SECRET, r.headers, r.body, now=time.time()) for r in receivers.partner.requests)
    shown = {n.key.channel: n for n in await _rows(c, payment_id)}
    assert (shown[Channel.PUSH].attempts, shown[Channel.WEBHOOK].attempts, shown[Channel.EMAIL].attempts) == (3, 4, 3)
    metrics = (await client.get("/metrics", headers={"Authorization": f"Bearer {c.auth.issue('o', 'admin', 60)}"})).text
    assert 'payhub_notifications_total{channel="webhook",outcome="retried"} 3.0' in metrics
    assert 'payhub_notifications_total{channel="webhook",outcome="sent"} 1.0' in metrics


async def _rows(c: Container, payment_id: int) -> list[Any]:
    async with c.store.transaction() as tx:
        return await tx.notifications.for_payment(payment_id)


async def test_dead_letters_are_listed_and_retried(
    process: tuple[Container, httpx.AsyncClient], receivers: Receivers
) -> None:
    c, client = process
    receivers.partner.fail(4, 500)  # the schedule allows 4 attempts: all fail
    payment_id = await pay(c, client, "P123456789")
    await wait_until(lambda: _state_is(c, payment_id, ("webhook", "acme"), "DEAD"))
    admin = {"Authorization": f"Bearer {c.auth.issue('ops', 'admin', 600)}"}
    r = await client.get("/admin/notifications", params={"state": "DEAD"}, headers=admin)
    [dead] = r.json()["data"]
    assert (dead["channel"], dead["attempts"], dead["paymentId"]) == ("webhook", 4, payment_id)
    assert "500" in dead["lastError"]
    r = await client.post("/admin/notifications/retry", json={"ids": [dead["id"]]}, headers=admin)
    assert r.json()["data"] == {"retried": [dead["id"]]}
    await wait_until(lambda: _state_is(c, payment_id, ("webhook", "acme"), "SENT"))
    assert len(receivers.partner.requests) == 5
    assert len({r.headers["webhook-id"] for r in receivers.partner.requests}) == 1
    for ids in ("all", [2**63], [0]):  # 2**63: past BIGINT, was a 500 from the driver
        r = await client.post("/admin/notifications/retry", json={"ids": ids}, headers=admin)
        assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST"


async def test_customer_preferences_choose_the_channels(
    process: tuple[Container, httpx.AsyncClient], receivers: Receivers
) -> None:
    c, client = process
    admin = {"Authorization": f"Bearer {c.auth.issue('ops', 'admin', 600)}"}
    url = "/admin/policies/P123456789/notification-preferences"
    r = await client.put(url, json={"channels": ["fax"], "hours": {"start": "25:00", "end": "x"}}, headers=admin)
    assert r.status_code == 400
    assert {d["field"] for d in r.json()["error"]["details"]} == {"channels", "hours"}
    assert (await client.get(url, headers=admin)).json()["data"]["stored"] is False  # nothing changed
    r = await client.put(url, json={"channels": ["email"], "hours": {"start": "10:00", "end": "16:30"}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {
        "policyNumber": "P123456789",
        "channels": ["email"],
        "hours": {"start": "10:00", "end": "16:30"},
        "stored": True,
    }
    payment_id = await pay(c, client, "P123456789")
    await wait_until(all_sent(2, c, payment_id))
    assert set(await states(c, payment_id)) == {("email", "john.doe@example.com"), ("webhook", "acme")}
    assert receivers.push.requests == [] and receivers.sms.requests == []


async def test_the_admin_routes_need_an_admin(process: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = process
    assert (await client.get("/admin/payments/1000000000000/notifications")).status_code == 401
    customer = {"Authorization": f"Bearer {c.auth.issue('x', 'customer', 600)}"}
    r = await client.get("/admin/payments/1000000000000/notifications", headers=customer)
    assert r.status_code == 403 and r.json()["success"] is False
    admin = {"Authorization": f"Bearer {c.auth.issue('ops', 'admin', 600)}"}
    r = await client.get("/admin/payments/999/notifications", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


@pytest.mark.postgres
async def test_two_dispatchers_never_send_one_notification_twice(receivers: Receivers, pg_url: str) -> None:
    """Two notifier processes on one PostgreSQL database: claims skip what the other holds."""
    settings = receivers.settings(pg_url)
    async with (
        running(settings, services=("notifier", "integration")) as a,
        running(settings, services=("notifier",)) as b,
    ):
        from tests.notifications_data import enqueue_many

        keys = await enqueue_many(a.store, 40)
        await asyncio.gather(*(d.run_once() for d in (a.dispatcher, b.dispatcher) for _ in range(3)))
        await wait_until(lambda: len(receivers.partner.requests) >= 40)
        await asyncio.sleep(0.2)
        sent = [r.headers["webhook-id"] for r in receivers.partner.requests]
        assert sorted(sent) == sorted(keys)  # each once
        async with a.store.transaction() as tx:
            assert (await tx.notifications.count_by_state())[NotificationState.SENT.value] == 40
