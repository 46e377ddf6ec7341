"""Push routes: SSE ``GET /api/payments/{paymentId}/events`` and WebSocket ``/ws/payments``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.adapters.store.sql import SqlStore
from hub.auth import Authenticator, Principal, authenticate, bearer
from hub.errors import BadRequest, Forbidden, NotFound, PayHubError, Unauthorized
from hub.fanout import Fanout
from hub.json_codec import dumps, loads
from push.stream import PaymentStream, open_stream

log = logging.getLogger("payhub.push")
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
MAX_ID = 2**63 - 1  # ids are BIGINT: anything larger would fail in the database driver


@dataclass
class PushDeps:
    store: SqlStore
    hub: Fanout
    auth: Authenticator
    heartbeat_s: float = 15.0


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    # isascii: str.isdigit() also accepts "²" and other digits that int() refuses or that no client sends
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        raise BadRequest(details=[{"field": "lastEventId", "message": "must be a non-negative integer"}])
    return int(raw)


async def authorize(d: PushDeps, who: Principal, payment_id: int) -> None:
    if not who.may_watch(payment_id):
        raise Forbidden("This token does not cover that payment")
    if not 0 < payment_id <= MAX_ID or await d.store.payment(payment_id) is None:
        raise NotFound(f"No payment {payment_id}")


def routes(d: PushDeps) -> list[BaseRoute]:
    async def sse(request: Request) -> Response:
        who = await authenticate(request, d.auth)
        payment_id = int(request.path_params["payment_id"])
        await authorize(d, who, payment_id)
        cursor = _cursor(request.headers.get("last-event-id") or request.query_params.get("lastEventId"))
        stream = await open_stream(d.store, d.hub, payment_id, cursor)
        if stream is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        return StreamingResponse(_sse_body(stream, d.heartbeat_s), media_type="text/event-stream", headers=SSE_HEADERS)

    async def ws(websocket: WebSocket) -> None:
        await _WsSession(d, websocket).run()

    return [
        Route("/api/payments/{payment_id:int}/events", sse, methods=["GET"]),
        WebSocketRoute("/ws/payments", ws),
    ]


async def _sse_body(stream: PaymentStream, heartbeat_s: float) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    try:
        async for frame in stream.frames(heartbeat_s):
            yield b": heartbeat\n\n" if frame is None else frame.sse()
    finally:
        stream.close()


class _WsSession:
    """One socket, any number of payment subscriptions, each fed by its own small task."""

    def __init__(self, d: PushDeps, websocket: WebSocket) -> None:
        self.d = d
        self.ws = websocket
        self.subs: dict[int, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()

    async def run(self) -> None:
        await self.ws.accept()
        default_token = bearer(self.ws)
        try:
            while True:
                try:
                    message = loads(await self.ws.receive_text(), field="message")
                except (ValueError, TypeError):
                    await self.send({"type": "ERROR", "code": "BAD_REQUEST", "message": "messages are JSON objects"})
                    continue
                if not isinstance(message, dict):
                    await self.send({"type": "ERROR", "code": "BAD_REQUEST", "message": "messages are JSON objects"})
                    continue
                await self.handle(message, default_token)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.subs.values():
                task.cancel()
            for task in list(self.subs.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def handle(self, message: dict[str, Any], default_token: str | None) -> None:
        kind = message.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
            return
        payment_id = message.get("paymentId")
        if kind not in ("subscribe", "unsubscribe") or not isinstance(payment_id, int) or isinstance(payment_id, bool):
            await self.send(
                {
                    "type": "ERROR",
                    "code": "BAD_REQUEST",
                    "message": "expected subscribe/unsubscribe with an integer paymentId, or ping",
                }
            )
            return
        if kind == "unsubscribe":
            task = self.subs.pop(payment_id, None)
            if task is not None:
                task.cancel()
            await self.send({"type": "UNSUBSCRIBED", "paymentId": payment_id})
            return
        try:
            token = message.get("token") or default_token
            if not token:
                raise Unauthorized("Missing token")
            who = await self.d.auth.verify(str(token))
            await authorize(self.d, who, payment_id)
            raw_cursor = message.get("lastEventId")
            cursor = _cursor(None if raw_cursor is None else str(raw_cursor))
            if payment_id in self.subs:
                self.subs.pop(payment_id).cancel()
            stream = await open_stream(self.d.store, self.d.hub, payment_id, cursor)
        except PayHubError as exc:
            await self.send({"type": "ERROR", "paymentId": payment_id, "code": exc.code, "message": exc.message})
            return
        await self.send({"type": "SUBSCRIBED", "paymentId": payment_id})
        if stream is None:
            await self.send({"type": "COMPLETED", "paymentId": payment_id})
            return
        self.subs[payment_id] = asyncio.create_task(self.forward(payment_id, stream))

    async def forward(self, payment_id: int, stream: PaymentStream) -> None:
        try:
            async for frame in stream.frames(self.d.heartbeat_s):
                if frame is not None:
                    await self.send_text(frame.ws())
            await self.send({"type": "COMPLETED", "paymentId": payment_id})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            stream.close()
            if self.subs.get(payment_id) is asyncio.current_task():
                del self.subs[payment_id]

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(dumps(message))

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)
