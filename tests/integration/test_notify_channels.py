"""Each notification channel against a real local server: an HTTP push provider and SMS gateway, an
SMTP server (aiosmtpd), a partner endpoint that checks the Standard Webhooks signature itself. What
each answer means (sent, retriable, refused) is the port's contract (``hub.ports.NotificationChannel``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.header import decode_header, make_header

import httpx
import pytest

from hub.adapters.notify.email import EmailChannel, SmtpConfig
from hub.adapters.notify.push import PushChannel
from hub.adapters.notify.sms import SmsChannel
from hub.adapters.notify.webhook import PartnerEndpoint, WebhookChannel
from hub.domain.notification import Channel
from hub.errors import ChannelUnavailable, ConfigError, NotificationRefused
from hub.json_codec import loads
from hub.ports import Outbound
from tests.conftest import free_port
from tests.notify_receivers import HttpReceiver, SmtpReceiver, email_parts, standard_webhooks_valid

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks specification's example key
KHMER = "ការបង់ប្រាក់ចំនួន 600000 KHR បានជោគជ័យ។"


def message(channel: Channel, recipient: str, **kw: object) -> Outbound:
    base: dict[str, object] = {
        "message_id": "msg_0123456789abcdef0123456789abcdef",
        "channel": channel,
        "recipient": recipient,
        "subject": "Receipt: premium paid",
        "text": KHMER,
        "data": {"paymentId": "1000000000000"},
        "kind": "payment_success",
    }
    base.update(kw)
    return Outbound(**base)  # type: ignore[arg-type]


@pytest.fixture
async def receiver() -> HttpReceiver:
    async with HttpReceiver() as r:
        yield r  # type: ignore[misc]


# --- push (FCM HTTP v1 message format) ---


async def test_push_sends_an_fcm_v1_message(receiver: HttpReceiver) -> None:
    async with httpx.AsyncClient() as http:
        push = PushChannel(http, receiver.url + "/v1/projects/demo/messages:send", token="access-token")
        await push.send(message(Channel.PUSH, "device-token-1"))
    [req] = receiver.requests
    assert req.path == "/v1/projects/demo/messages:send"
    assert req.headers["authorization"] == "Bearer access-token"
    body = loads(req.body)["message"]
    assert body["token"] == "device-token-1"
    assert body["notification"] == {"title": "Receipt: premium paid", "body": KHMER}
    assert body["data"] == {
        "paymentId": "1000000000000",
        "messageId": "msg_0123456789abcdef0123456789abcdef",
        "kind": "payment_success",
    }
    assert all(isinstance(v, str) for v in body["data"].values())  # FCM: data values are strings
    assert body["android"] == {"priority": "high"}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, NotificationRefused),
        (400, NotificationRefused),
        (401, ChannelUnavailable),
        (429, ChannelUnavailable),
        (503, ChannelUnavailable),
    ],
)
async def test_push_outcomes_follow_fcm_error_codes(receiver: HttpReceiver, status: int, error: type) -> None:
    receiver.fail(1, status, {"Retry-After": "7"})
    async with httpx.AsyncClient() as http:
        with pytest.raises(error) as info:
            await PushChannel(http, receiver.url + "/send").send(message(Channel.PUSH, "t"))
    assert info.value.retriable is (error is ChannelUnavailable)
    if error is ChannelUnavailable:
        assert info.value.retry_after == 7


async def test_an_unreachable_provider_is_retriable() -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for channel in (
            PushChannel(http, f"http://127.0.0.1:{free_port()}/send"),
            SmsChannel(http, f"http://127.0.0.1:{free_port()}/sms"),
        ):
            with pytest.raises(ChannelUnavailable):
                await channel.send(message(channel.channel, "x"))


# --- SMS gateway ---


async def test_sms_posts_the_text_with_an_idempotency_key(receiver: HttpReceiver) -> None:
    async with httpx.AsyncClient() as http:
        sms = SmsChannel(http, receiver.url + "/sms", api_key="gateway-key", sender="DaiIchi")
        await sms.send(message(Channel.SMS, "+85512345678"))
        receiver.fail(1, 422)
        with pytest.raises(NotificationRefused):
            await sms.send(message(Channel.SMS, "+000"))
        receiver.fail(1, 500)
        with pytest.raises(ChannelUnavailable):
            await sms.send(message(Channel.SMS, "+85512345678"))
    first = receiver.requests[0]
    assert first.headers["authorization"] == "Bearer gateway-key"
    assert first.headers["idempotency-key"] == "msg_0123456789abcdef0123456789abcdef"
    assert loads(first.body) == {
        "to": "+85512345678",
        "from": "DaiIchi",
        "text": KHMER,
        "reference": "msg_0123456789abcdef0123456789abcdef",
    }


# --- email over SMTP ---


async def test_email_is_multipart_text_and_html_with_a_stable_message_id() -> None:
    with SmtpReceiver() as smtp:
        channel = EmailChannel(SmtpConfig.from_url(smtp.url), "receipts@insurer.example", "Insurer")
        html = "<p>ជូនចំពោះ Sok &lt;Dara&gt;</p>"
        await channel.send(message(Channel.EMAIL, "sok.dara@example.com", html=html))
    [mail] = smtp.messages
    assert smtp.envelopes == [("receipts@insurer.example", ["sok.dara@example.com"])]
    assert mail["To"] == "sok.dara@example.com"
    assert str(make_header(decode_header(mail["Subject"]))) == "Receipt: premium paid"
    assert mail["Message-ID"] == "<msg_0123456789abcdef0123456789abcdef@payhub>"
    assert mail.get_content_type() == "multipart/alternative"
    parts = email_parts(mail)
    assert parts["text/plain"].strip() == KHMER
    assert parts["text/html"].strip() == html


async def test_email_outcomes_follow_smtp_reply_codes() -> None:
    with SmtpReceiver() as smtp:
        channel = EmailChannel(SmtpConfig.from_url(smtp.url), "r@insurer.example")
        smtp.refuse_rcpt.append("550 5.1.1 No such user")
        with pytest.raises(NotificationRefused):
            await channel.send(message(Channel.EMAIL, "nobody@example.com"))
        smtp.refuse_data.append("451 4.3.0 Try again later")
        with pytest.raises(ChannelUnavailable):
            await channel.send(message(Channel.EMAIL, "a@example.com"))
        assert smtp.messages == []
    down = EmailChannel(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}?starttls=off", timeout_s=2), "r@x.example")
    with pytest.raises(ChannelUnavailable):
        await down.send(message(Channel.EMAIL, "a@example.com"))


async def test_email_goes_to_the_recipient_itself_or_nowhere() -> None:
    # The address's To header form was what aiosmtplib took the envelope from: "a(b)@example.com" went to
    # a@example.com, someone else's mailbox (a comment), and "x:y@example.com" to y@example.com (a group).
    with SmtpReceiver() as smtp:
        channel = EmailChannel(SmtpConfig.from_url(smtp.url), "r@insurer.example")
        for address in ("a(b)@example.com", "x:y@example.com", "a)b@example.com", "é@example.com", "a@b"):
            with pytest.raises(NotificationRefused):
                await channel.send(message(Channel.EMAIL, address))
        await channel.send(message(Channel.EMAIL, "o'brien+receipts@example.com"))
    assert smtp.envelopes == [("r@insurer.example", ["o'brien+receipts@example.com"])]


def test_smtp_urls() -> None:
    c = SmtpConfig.from_url("smtps://user%40corp:p%3Ass@mail.example")
    assert (c.hostname, c.port, c.username, c.password, c.use_tls, c.start_tls) == (
        "mail.example",
        465,
        "user@corp",
        "p:ss",
        True,
        False,
    )
    c = SmtpConfig.from_url("smtp://mail.example?starttls=required")
    assert (c.port, c.use_tls, c.start_tls) == (587, False, True)
    for bad in ("http://mail.example", "smtp://", "smtp://m.example?starttls=maybe"):
        with pytest.raises(ConfigError):
            SmtpConfig.from_url(bad)


# --- partner webhooks (Standard Webhooks) ---


async def test_partner_webhooks_carry_a_valid_standard_webhooks_signature(receiver: HttpReceiver) -> None:
    body = '{"type":"payment.confirmed","timestamp":"2026-11-27T05:00:00+00:00","data":{"paymentId":1}}'
    partner = PartnerEndpoint("acme", receiver.url + "/hooks", SECRET)
    async with httpx.AsyncClient() as http:
        channel = WebhookChannel(http, {"acme": partner})
        await channel.send(message(Channel.WEBHOOK, "acme", text=body))
        receiver.fail(1, 500)
        with pytest.raises(ChannelUnavailable):
            await channel.send(message(Channel.WEBHOOK, "acme", text=body))
        receiver.fail(1, 404)  # any answer but 2xx and 410 is retried, as the specification advises
        with pytest.raises(ChannelUnavailable):
            await channel.send(message(Channel.WEBHOOK, "acme", text=body))
        receiver.fail(1, 410)  # Gone: the partner wants no more
        with pytest.raises(NotificationRefused):
            await channel.send(message(Channel.WEBHOOK, "acme", text=body))
        with pytest.raises(NotificationRefused):
            await channel.send(message(Channel.WEBHOOK, "nobody", text=body))
    assert len(receiver.requests) == 4
    for req in receiver.requests:
        assert req.body == body.encode()
        assert req.headers["webhook-id"] == "msg_0123456789abcdef0123456789abcdef"  # the same on every retry
        assert req.headers["webhook-signature"].startswith("v1,")
        assert standard_webhooks_valid(SECRET, req.headers, req.body, now=time.time())
        assert not standard_webhooks_valid(SECRET, req.headers, req.body + b" ", now=time.time())
        assert not standard_webhooks_valid("whsec_" + "A" * 32, req.headers, req.body, now=time.time())
    # and the library's own verification agrees
    from standardwebhooks import Webhook

    first = receiver.requests[0]
    assert Webhook(SECRET).verify(first.body, first.headers)["type"] == "payment.confirmed"


async def test_each_attempt_is_signed_with_its_own_timestamp(receiver: HttpReceiver) -> None:
    times = iter([datetime(2026, 11, 27, 5, 0, tzinfo=UTC), datetime(2026, 11, 27, 5, 0, 5, tzinfo=UTC)])
    partner = PartnerEndpoint("acme", receiver.url + "/hooks", SECRET)
    async with httpx.AsyncClient() as http:
        channel = WebhookChannel(http, {"acme": partner}, clock=lambda: next(times))
        await channel.send(message(Channel.WEBHOOK, "acme", text="{}"))
        await channel.send(message(Channel.WEBHOOK, "acme", text="{}"))
    a, b = receiver.requests
    assert (a.headers["webhook-timestamp"], b.headers["webhook-timestamp"]) == ("1795755600", "1795755605")
    assert a.headers["webhook-id"] == b.headers["webhook-id"]
    assert a.headers["webhook-signature"] != b.headers["webhook-signature"]
    for req in (a, b):
        assert standard_webhooks_valid(SECRET, req.headers, req.body, now=int(req.headers["webhook-timestamp"]))
