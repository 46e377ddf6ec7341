"""Real local receivers for the notification channels: an HTTP server that records requests and answers
what the test scripts (push provider, SMS gateway, partner endpoint), and an SMTP server (aiosmtpd).

``HttpReceiver.script`` holds the answers to give, in order (status, headers); once it is empty every
request gets 200. ``SmtpReceiver.refuse`` makes the next RCPT or DATA answer a given reply.
"""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import LiveServer, free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """A provider on 127.0.0.1: records every POST, answers from ``script`` then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.gate: asyncio.Event | None = None  # when set: requests wait for it before answering
        self.arrived = asyncio.Event()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        self._server = LiveServer(app)
        self.url = self._server.url

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body))
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        status, headers = self.script.popleft() if self.script else (200, {})
        return Response(b'{"name":"ok"}' if status < 300 else b'{"error":"scripted"}', status, headers)

    def fail(self, times: int, status: int = 503, headers: dict[str, str] | None = None) -> None:
        self.script.extend([(status, headers or {})] * times)

    async def __aenter__(self) -> HttpReceiver:
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.gate is not None:
            self.gate.set()
        await self._server.__aexit__(*exc)


@dataclass
class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 (its own thread); ``messages`` are the parsed emails accepted."""

    port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_rcpt: deque[str] = field(default_factory=deque)
    refuse_data: deque[str] = field(default_factory=deque)
    controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data.popleft()
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def standard_webhooks_valid(
    secret: str, headers: dict[str, str], body: bytes, *, now: float, tolerance: int = 300
) -> bool:
    """The receiver's check, written from the specification (not the library that signs): the
    ``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`` of any listed signature matches, and
    the timestamp is within ``tolerance`` seconds."""
    msg_id, stamp, signatures = headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
    if abs(now - int(stamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return True
    return False


def email_parts(message: Message) -> dict[str, str]:
    """``text/plain`` and ``text/html`` parts of an email, decoded."""
    out: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return out
