"""A lean HTTP/1.1 keep-alive client for publishing at a fixed rate (``loadtest.compare``).

httpx costs about a millisecond of CPU per request; on the client core, shared with the swarm,
that alone could not keep 200 events/s on schedule. This pool keeps up to ``size`` connections
open and sends one request per connection at a time (no pipelining); responses must carry a
``Content-Length`` (JSON answers of Starlette do). A connection idle for ``IDLE_S`` is closed rather
than reused: the servers close idle keep-alive connections after 5 s (uvicorn's default), and a
request written into a connection the server is closing is lost.

Each request leaves in one ``write`` (head and body together) on a socket with ``TCP_NODELAY`` set
explicitly (asyncio sets it too, since Python 3.6): no Nagle hold-back of a small request waiting
for the ACK of the previous one, whatever the event loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

from loadtest.wire import parse_head

IDLE_S = 2.0
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpPool:
    def __init__(self, host: str, port: int, size: int = 64) -> None:
        self.host, self.port, self.size = host, port, size
        self._idle: list[tuple[float, Conn]] = []  # (when it was last used, connection), last used last
        self._open = 0
        self._freed = asyncio.Condition()

    async def _take(self) -> Conn:
        loop = asyncio.get_running_loop()
        async with self._freed:
            stale = [conn for used, conn in self._idle if loop.time() - used > IDLE_S]
            self._idle = [(used, conn) for used, conn in self._idle if loop.time() - used <= IDLE_S]
            for conn in stale:
                conn[1].close()
            self._open -= len(stale)
            while not self._idle and self._open >= self.size:
                await self._freed.wait()
            if self._idle:
                return self._idle.pop()[1]
            self._open += 1
        try:
            conn = await asyncio.open_connection(self.host, self.port)
            sock = conn[1].get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn
        except BaseException:
            await self._drop(None)
            raise

    async def _give(self, conn: Conn) -> None:
        async with self._freed:
            self._idle.append((asyncio.get_running_loop().time(), conn))
            self._freed.notify()

    async def _drop(self, conn: Conn | None) -> None:
        if conn is not None:
            conn[1].close()
        async with self._freed:
            self._open -= 1
            self._freed.notify()

    async def post_json(
        self, path: str, body: Any, *, written: Callable[[float], None] | None = None
    ) -> tuple[int, bytes]:
        """``POST path`` with a JSON body → ``(status, body)``. Raises OSError / IncompleteReadError.

        ``written``, when given, is called with ``time.time()`` (epoch seconds) just before the request
        is handed to the socket, after any wait for a free connection: the harness's own share of an
        event's latency ends there."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n"
        ).encode() + raw
        conn = await self._take()
        try:
            reader, writer = conn
            if written is not None:
                written(time.time())
            writer.write(request)
            head = parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
            content = await reader.readexactly(int(head.headers.get("content-length", "0")))
        except BaseException:
            await self._drop(conn)
            raise
        if head.headers.get("connection", "").lower() == "close":
            await self._drop(conn)
        else:
            await self._give(conn)
        return head.status, content

    async def close(self) -> None:
        async with self._freed:
            for _, (_, writer) in self._idle:
                writer.close()
            self._idle.clear()
