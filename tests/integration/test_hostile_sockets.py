"""Resource bounds proven with real sockets against a real server on 127.0.0.1 (issue 7 §4).

Each test starts uvicorn with the options ``payhub run`` uses (``hub.http.server.uvicorn_options``)
and short limits from settings, plays a few hostile clients with bounded waits, then checks that the
server closed them with the contract's envelope or an RFC 6455 close code with a reason, and that
``/healthz`` still answers. No timing is asserted beyond "within a generous deadline".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import simplejson as json
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.http.server import uvicorn_options
from payhub.bootstrap import Container
from tests.conftest import LiveServer, auth_header, make_settings, running

WAIT_S = 5.0


class BoundedServer(LiveServer):
    """A live server configured like production (``uvicorn_options``), with the container's settings."""

    def __init__(self, c: Container) -> None:
        super().__init__(c.app)  # type: ignore[arg-type]
        config = uvicorn.Config(
            c.app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_config=None,
            **uvicorn_options(c.settings),
        )
        self.server = uvicorn.Server(config)


@contextlib.asynccontextmanager
async def serve(tmp_path: Any, **limits: Any) -> AsyncIterator[tuple[Container, BoundedServer]]:
    async with running(make_settings(f"sqlite:///{tmp_path}/payhub.db", **limits)) as c:
        async with BoundedServer(c) as server:
            yield c, server


async def healthz(server: LiveServer) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        return (await http.get("/healthz")).status_code


async def raw(server: LiveServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    """Everything the server sends until it closes: status and JSON body of its one response."""
    data = await asyncio.wait_for(reader.read(-1), WAIT_S)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower(), head
    status = int(head.split(b" ", 2)[1])
    envelope: dict[str, Any] = json.loads(body)
    assert envelope["success"] is False and envelope["error"]["correlationId"], envelope
    return status, envelope


async def send_quietly(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write, ignoring the reset a server that already refused us may cause."""
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        await writer.drain()


# --- HTTP: slowloris, header size, body time and size, connections per address ---------------


async def test_silent_and_trickling_connections_get_408_and_healthz_answers(tmp_path: Any) -> None:
    async with serve(tmp_path, header_timeout_s=0.5) as (_, server):
        silent = [await raw(server) for _ in range(4)]
        trickling = await raw(server)
        await send_quietly(trickling[1], b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for reader, writer in [*silent, trickling]:
            status, envelope = await answer(reader)
            assert status == 408 and envelope["error"]["code"] == "BAD_REQUEST"
            writer.close()
        assert await healthz(server) == 200


async def test_slow_next_request_on_keep_alive_connection_gets_408(tmp_path: Any) -> None:
    async with serve(tmp_path, header_timeout_s=0.5, keep_alive_timeout_s=30) as (_, server):
        reader, writer = await raw(server)
        await send_quietly(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b'"alive"}}'), WAIT_S)
        assert first.startswith(b"HTTP/1.1 200")
        await send_quietly(writer, b"GET /hea")  # the next request never completes its headers
        data = await asyncio.wait_for(reader.read(-1), WAIT_S)
        assert data.startswith(b"HTTP/1.1 408"), data
        writer.close()


async def test_oversized_headers_get_431_before_the_app(tmp_path: Any) -> None:
    async with serve(tmp_path, max_header_bytes=8 * 1024, header_timeout_s=5) as (_, server):
        reader, writer = await raw(server)
        # More than the limit, then silence: a client still writing after the refusal would have its
        # unread bytes answered by a TCP reset, which may discard the response before it is read.
        await send_quietly(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 12 * 1024)
        status, envelope = await answer(reader)
        assert status == 431 and envelope["error"]["details"] == {"limitBytes": 8 * 1024}
        writer.close()
        assert await healthz(server) == 200


async def test_headers_are_capped_also_when_they_arrive_complete_in_one_read(tmp_path: Any) -> None:
    async with serve(tmp_path, max_header_bytes=8 * 1024) as (_, server):
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            assert (await http.get("/healthz", headers={"X-Pad": "a" * 7000})).status_code == 200
            refused = await http.get("/healthz", headers={"X-Pad": "a" * 9000})  # same keep-alive connection
            assert refused.status_code == 431 and refused.json()["error"]["details"] == {"limitBytes": 8 * 1024}
            assert (await http.get("/healthz")).status_code == 200


async def test_trickled_body_gets_408(tmp_path: Any) -> None:
    async with serve(tmp_path, body_timeout_s=0.5) as (_, server):
        reader, writer = await raw(server)
        head = b"POST /sandbox/amk/simulate/pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        await send_quietly(writer, head + b"Content-Length: 100\r\n\r\n{")
        status, envelope = await answer(reader)
        assert status == 408 and "body" in envelope["error"]["message"]
        writer.close()


async def test_chunked_body_over_the_global_cap_gets_413(tmp_path: Any) -> None:
    async with serve(tmp_path, max_request_body_bytes=1024) as (_, server):
        reader, writer = await raw(server)
        chunk = b"200\r\n" + b" " * 512 + b"\r\n"
        head = b"POST /sandbox/amk/control HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        await send_quietly(writer, head + chunk * 3 + b"0\r\n\r\n")
        status, envelope = await answer(reader)
        assert status == 413 and envelope["error"]["details"] == {"limitBytes": 1024}
        writer.close()


async def test_declared_body_over_the_global_cap_gets_413(tmp_path: Any) -> None:
    async with serve(tmp_path, max_request_body_bytes=1024) as (_, server):
        reader, writer = await raw(server)
        await send_quietly(writer, b"POST /sandbox/amk/control HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n")
        status, _ = await answer(reader)
        assert status == 413
        writer.close()


async def test_pipelined_requests_are_parsed_one_at_a_time_and_all_answered_in_order(tmp_path: Any) -> None:
    # HTTP/1.1 pipelining: uvicorn parses a whole read at once and queues every request in it, and
    # reads on after each response: 2 MB of pipelined GETs cost +120 MiB. Here at most the requests of
    # one parser slice may be queued, and every request is still answered, in order.
    n = 2000
    async with serve(tmp_path) as (_, server):
        reader, writer = await raw(server)
        await send_quietly(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * n)
        queued, data = 0, b""
        while data.count(b"HTTP/1.1 200 ") < n:
            connections = server.server.server_state.connections
            queued = max([queued, *(len(getattr(p, "pipeline", ())) for p in connections)])
            data += await asyncio.wait_for(reader.read(65536), WAIT_S)
        assert queued <= 64, f"{queued} parsed requests queued on one connection"
        assert data.count(b"HTTP/1.1 ") == n and data.count(b'"alive"') == n
        writer.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", id="duplicate-content-length"),
        pytest.param(b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", id="length-and-chunked"),
        pytest.param(b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n", id="chunked-not-last"),
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\n" + b"F" * 100 + b"\r\n", id="huge-chunk-size"),
        pytest.param(b"Content-Length: -1\r\n\r\n", id="negative-length"),
        pytest.param("Content-Length: \u0662\r\n\r\n{}".encode(), id="non-ascii-digit-length"),
        pytest.param(b"X-A: a\r\n folded\r\n\r\n", id="obsolete-line-folding"),
    ],
)
async def test_requests_the_http_parser_refuses_get_a_400_envelope(tmp_path: Any, request_bytes: bytes) -> None:
    # uvicorn answered these with a text/plain "Invalid HTTP request received.", not the contract's envelope.
    async with serve(tmp_path) as (_, server):
        reader, writer = await raw(server)
        await send_quietly(writer, b"POST /sandbox/amk/control HTTP/1.1\r\nHost: x\r\n" + request_bytes)
        status, envelope = await answer(reader)
        assert status == 400 and envelope["error"]["code"] == "BAD_REQUEST", envelope
        writer.close()


async def test_client_leaving_in_the_middle_of_its_body_is_no_server_error(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Starlette's ClientDisconnect escaped to the last-resort handler: an ERROR with a traceback and a
    # 500 in the access log for every client that hung up mid-upload.
    caplog.set_level(logging.INFO, logger="payhub.http")
    async with serve(tmp_path) as (_, server):
        _, writer = await raw(server)
        await send_quietly(writer, b"POST /sandbox/amk/control HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        await asyncio.sleep(0.2)
        writer.transport.abort()
        for _ in range(50):
            if any(r.getMessage() == "request" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        (access,) = [r for r in caplog.records if r.getMessage() == "request"]
        assert access.status == 499  # type: ignore[attr-defined]
        assert await healthz(server) == 200


async def test_client_that_reads_no_response_is_dropped_after_the_send_timeout(tmp_path: Any) -> None:
    # Slow read, the mirror of slowloris: responses the client never reads filled the socket buffers,
    # then the app waited in uvicorn's drain with no deadline and the connection was held for good
    # (300 pipelined GETs of the demo's script: still held after 45 s on payhub run).
    async with serve(tmp_path, send_timeout_s=0.5) as (_, server):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        _, writer = await asyncio.open_connection(sock=sock)
        await send_quietly(writer, b"GET /demo/app.js HTTP/1.1\r\nHost: x\r\n\r\n")
        (protocol,) = [p for p in server.server.server_state.connections if hasattr(p, "pipeline")]
        protocol.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await send_quietly(writer, b"GET /demo/app.js HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
        for _ in range(100):
            if protocol.transport.is_closing():
                break
            await asyncio.sleep(0.05)
        dropped = protocol.transport.is_closing()
        writer.transport.abort()  # before asserting: otherwise the server's shutdown would wait for it
        assert dropped, "a client that reads nothing still holds its connection"
        assert await healthz(server) == 200


async def test_connections_per_address_are_capped(tmp_path: Any) -> None:
    async with serve(tmp_path, max_connections_per_ip=3, header_timeout_s=30) as (_, server):
        held = [await raw(server) for _ in range(3)]
        reader, writer = await raw(server)
        status, envelope = await answer(reader)
        assert status == 429 and envelope["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        writer.close()
        for _, w in held:
            w.close()
        # The server releases the address's slots once it sees the closes.
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if await healthz(server) == 200:
                    break
            await asyncio.sleep(0.05)
        assert await healthz(server) == 200


# --- WebSocket: message size, binary frames, deep JSON, subscribe deadline, subscriptions -------


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http", "ws", 1) + "/ws/payments"


async def closed_with(conn: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(conn.recv(), WAIT_S)
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


async def test_ws_message_over_the_limit_is_closed_1009(tmp_path: Any) -> None:
    async with serve(tmp_path, ws_max_message_bytes=1024) as (_, server):
        async with connect(ws_url(server), max_size=None) as conn:
            await conn.send("x" * 4096)
            code, _ = await closed_with(conn)
        assert code == 1009
        assert await healthz(server) == 200


async def test_ws_binary_frame_is_closed_1003_with_reason(tmp_path: Any) -> None:
    async with serve(tmp_path) as (_, server):
        async with connect(ws_url(server)) as conn:
            await conn.send(b'{"type": "ping"}')
            code, reason = await closed_with(conn)
        assert code == 1003 and "text" in reason


async def test_ws_deeply_nested_json_gets_an_error_frame_and_the_socket_stays(tmp_path: Any) -> None:
    async with serve(tmp_path) as (_, server):
        async with connect(ws_url(server)) as conn:
            await conn.send("[" * 5000 + "]" * 5000)
            error = json.loads(await asyncio.wait_for(conn.recv(), WAIT_S))
            assert error["type"] == "ERROR" and error["code"] == "BAD_REQUEST" and error["correlationId"]
            await conn.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(conn.recv(), WAIT_S)) == {"type": "pong"}


async def test_ws_without_a_subscription_is_closed_1008(tmp_path: Any) -> None:
    async with serve(tmp_path, ws_subscribe_timeout_s=0.5) as (_, server):
        async with connect(ws_url(server)) as conn:
            await conn.send(json.dumps({"type": "subscribe", "paymentId": 1, "token": "not-a-token"}))
            code, reason = await closed_with(conn)  # an ERROR frame first, then the close
        assert code == 1008 and "subscription" in reason
        assert await healthz(server) == 200


async def test_ws_subscriptions_per_socket_are_capped(tmp_path: Any) -> None:
    async with serve(tmp_path, ws_max_subscriptions=1) as (c, server):
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            ids = []
            for policy in ("P123456789", "P987654321"):
                r = await http.get("/AMK/payments", params={"query": policy}, headers=auth_header(c))
                ids.append(int(r.json()["data"]["paymentId"]))
        admin = auth_header(c, "admin")["Authorization"][7:]
        async with connect(ws_url(server)) as conn:
            answers = []
            for payment_id in ids:
                await conn.send(json.dumps({"type": "subscribe", "paymentId": payment_id, "token": admin}))
                while True:
                    message = json.loads(await asyncio.wait_for(conn.recv(), WAIT_S))
                    if message["type"] in ("SUBSCRIBED", "ERROR"):
                        answers.append(message)
                        break
        assert answers[0]["type"] == "SUBSCRIBED"
        assert answers[1]["type"] == "ERROR" and "at most 1 subscriptions" in answers[1]["message"]


async def test_ws_with_no_live_subscription_left_is_closed_1008_when_silent(tmp_path: Any) -> None:
    async with serve(tmp_path, ws_idle_timeout_s=0.5) as (c, server):
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
            r = await http.get("/AMK/payments", params={"query": "P123456789"}, headers=auth_header(c))
            payment_id, token = int(r.json()["data"]["paymentId"]), r.json()["data"]["subscribeToken"]
        async with connect(ws_url(server)) as conn:
            await conn.send(json.dumps({"type": "subscribe", "paymentId": payment_id, "token": token}))
            await conn.send(json.dumps({"type": "unsubscribe", "paymentId": payment_id}))
            code, reason = await closed_with(conn)  # SUBSCRIBED, the status, UNSUBSCRIBED, then the close
        assert code == 1008 and "no subscription for 0.5 s" in reason


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 §5.2), FIN set, masked with a zero key (payload < 126 bytes)."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


async def test_ws_ping_flood_from_a_peer_that_reads_nothing_is_bounded_then_aborted(tmp_path: Any) -> None:
    # Each ping is answered by the protocol itself, without flow control: a peer that pings and never
    # reads made the server buffer every pong (50 MB sent: +40 MiB). Reading now stops while the
    # write buffer is full, and a peer that reads nothing for ws_ping_timeout_s is dropped.
    async with serve(tmp_path, ws_ping_timeout_s=1.0) as (_, server):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16))
        writer.write(
            b"GET /ws/payments HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
        )
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)).startswith(b"HTTP/1.1 101")
        (protocol,) = [p for p in server.server.server_state.connections if hasattr(p, "conn")]
        # A small kernel send buffer on the server side, so that its user-space buffer is what grows.
        protocol.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        pings = _masked_frame(0x9, b"x" * 125) * 1000  # 131 kB of pings
        buffered = 0
        for _ in range(100):  # up to 13 MB, as long as the server keeps reading them
            try:
                writer.write(pings)
                await asyncio.wait_for(writer.drain(), 0.2)
            except TimeoutError:
                pass  # the server stopped reading
            except ConnectionError:
                break  # the server dropped us
            buffered = max(buffered, protocol.transport.get_write_buffer_size())
            if protocol.transport.is_closing():
                break
        assert buffered < 1024 * 1024, f"{buffered} bytes of pongs buffered for a peer that reads nothing"
        for _ in range(100):
            if protocol.transport.is_closing():
                break
            await asyncio.sleep(0.05)
        assert protocol.transport.is_closing(), "a peer that reads nothing is still connected"
        writer.transport.abort()
        assert await healthz(server) == 200


async def test_ws_text_frame_that_is_not_utf8_is_closed_1007(tmp_path: Any) -> None:
    async with serve(tmp_path) as (_, server):
        async with connect(ws_url(server)) as conn:
            await conn.send(b"\xff\xfe not UTF-8", text=True)
            code, _ = await closed_with(conn)
        assert code == 1007
