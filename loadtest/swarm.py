"""One client swarm for every target: thousands of SSE / WebSocket / Socket.IO subscribers per process.

Each subscriber is a bare ``asyncio.Protocol`` with the incremental parsers of ``loadtest.wire``
(a few hundred bytes of state, no task of its own), so one process holds 5,000–10,000 of them;
``Swarm`` spreads them over several processes (``ulimit -Hn`` caps each process's sockets).

Targets (``Target.kind``):

* ``payhub-sse``: ``GET /api/payments/{id}/events?token=…`` (``Last-Event-ID`` on resume). Subscribed
  once the 200 head arrived (PayHub subscribes before it answers); a 204 means "already terminal".
* ``payhub-ws``: ``/ws/payments``, one ``{"type":"subscribe",…}`` per socket; subscribed at ``SUBSCRIBED``.
* ``sio``: python-socketio peer, ``/socket.io/?EIO=4&transport=websocket``: ``0{open}`` → ``40`` →
  ``40{sid}`` → ``42["subscribe",{room,lastEventId}]``; subscribed at ``42["subscribed",…]``; pings
  ``2`` are answered ``3``.
* ``sse``: sse-starlette peer, ``GET /rooms/{room}/events`` (``Last-Event-ID`` on resume).

Every target sends the same event shape (``paymentId, status, occurredAt`` plus an integer event
id); the swarm records each ``CONFIRMED`` frame as ``(key, room, id, received_at, occurredAt)``
with ``time.time()`` at the moment the frame was parsed. Commands reach a worker over a
``multiprocessing`` pipe (see ``Worker.handle``).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import multiprocessing as mp
import os
import random
import resource
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from loadtest.wire import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    ChunkedDecoder,
    FrameParser,
    SseParser,
    eio_decode,
    encode_frame,
    parse_head,
    sio_event,
    ws_key,
)

KINDS = ("payhub-sse", "payhub-ws", "sio", "sse")
# Sockets per client process: below the usual 20,000 hard limit with room for the process's own files.
PER_PROCESS = 9000


@dataclass(frozen=True)
class Target:
    kind: str
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Sub:
    """One subscriber: ``room`` is the payment id for PayHub; ``token`` PayHub's subscribeToken."""

    key: int
    room: int
    token: str | None = None


def limit_files() -> int:
    """Raise this process's soft open-files limit to the hard one; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG (Linux): SIGKILL this process when the one that started it dies, so that a
    killed harness leaves nothing behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


# --- one subscriber ----------------------------------------------------------------------------


class Subscriber(asyncio.Protocol):
    def __init__(self, worker: Worker, sub: Sub, target: Target, cursor: int | None) -> None:
        self.w = worker
        self.sub = sub
        self.target = target
        self.cursor = cursor
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.completed = False  # the server ended the stream (terminal status) or said there is nothing more
        self._head = b""
        self._head_done = False
        self._chunked: ChunkedDecoder | None = None
        self._sse: SseParser | None = None
        self._ws: FrameParser | None = None

    # request
    def _request(self) -> bytes:
        t, s = self.target, self.sub
        headers = [f"Host: {t.host}:{t.port}"]
        if t.kind in ("payhub-sse", "sse"):
            path = (
                f"/api/payments/{s.room}/events?token={s.token}"
                if t.kind == "payhub-sse"
                else f"/rooms/{s.room}/events"
            )
            headers.append("Accept: text/event-stream")
            if self.cursor is not None:
                headers.append(f"Last-Event-ID: {self.cursor}")
        else:
            path = "/ws/payments" if t.kind == "payhub-ws" else "/socket.io/?EIO=4&transport=websocket"
            headers += [
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {ws_key()}",
                "Sec-WebSocket-Version: 13",
            ]
        return ("\r\n".join([f"GET {path} HTTP/1.1", *headers]) + "\r\n\r\n").encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is no asyncio.Transport subclass, but it is one in behaviour
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before subscribed: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _subscribed(self) -> None:
        if not self.ready.done():
            self.ready.set_result(time.time())

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        self.close()

    def data_received(self, data: bytes) -> None:
        if not self._head_done:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = parse_head(self._head[:end])
            data, self._head, self._head_done = self._head[end + 4 :], b"", True
            if not self._on_head(head.status, head.headers):
                return
        if self._sse is not None:
            if self._chunked is not None:
                data = self._chunked.feed(data)
            for ev in self._sse.feed(data):
                if ev.event == "payment.status" and ev.id is not None:
                    self._frame(int(ev.id), ev.data)
            if self._chunked is not None and self._chunked.done:
                self.completed = True
                self.close()
        elif self._ws is not None:
            for op, payload in self._ws.feed(data):
                self._ws_message(op, payload)

    def _on_head(self, status: int, headers: dict[str, str]) -> bool:
        if self.target.kind in ("payhub-sse", "sse"):
            if status == 204:  # the cursor is at or past a terminal status
                self.completed = True
                self._subscribed()
                self.close()
                return False
            if status != 200:
                self._fail(f"HTTP {status}")
                return False
            self._sse = SseParser()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                self._chunked = ChunkedDecoder()
            self._subscribed()
            return True
        if status != 101:
            self._fail(f"HTTP {status} instead of 101")
            return False
        self._ws = FrameParser()
        if self.target.kind == "payhub-ws":
            message: dict[str, Any] = {"type": "subscribe", "paymentId": self.sub.room, "token": self.sub.token}
            if self.cursor is not None:
                message["lastEventId"] = self.cursor
            self._send_text(json.dumps(message))
        return True

    def _send_text(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(OP_TEXT, text.encode()))

    def _ws_message(self, op: int, payload: bytes) -> None:
        if op == OP_PING:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(encode_frame(OP_PONG, payload))
            return
        if op == OP_CLOSE:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(encode_frame(OP_CLOSE, payload[:2]))
            self.close()
            return
        if op != OP_TEXT:
            return
        text = payload.decode()
        if self.target.kind == "payhub-ws":
            m = json.loads(text)
            kind = m.get("type")
            if kind == "PAYMENT_STATUS":
                self._frame(int(m["id"]), m["data"])
            elif kind == "SUBSCRIBED":
                self._subscribed()
            elif kind == "COMPLETED":
                self.completed = True
                self._subscribed()
            elif kind == "ERROR":
                self._fail(f"ERROR frame: {text[:200]}")
            return
        p = eio_decode(text)
        if p.kind == "ping":
            self._send_text("3" + (p.data or ""))
        elif p.kind == "open":
            self._send_text("40")
        elif p.kind == "connect":
            self._send_text(sio_event("subscribe", {"room": self.sub.room, "lastEventId": self.cursor}))
        elif p.kind == "event" and p.event == "status":
            self._frame(int(p.data["id"]), p.data)
        elif p.kind == "event" and p.event == "subscribed":
            self._subscribed()
        elif p.kind in ("disconnect", "error"):
            self._fail(f"socket.io {p.kind}: {p.data}")

    def _frame(self, event_id: int, data: str | dict[str, Any]) -> None:
        now = time.time()
        body = json.loads(data) if isinstance(data, str) else data
        self.cursor = event_id
        self.w.frames += 1
        if body.get("status") == "CONFIRMED":
            self.w.events.append((self.sub.key, self.sub.room, event_id, now, body.get("occurredAt")))


# --- one client process ------------------------------------------------------------------------


class Worker:
    """Holds subscribers and answers the orchestrator's commands, one at a time, over ``conn``.

    Commands (tuples) and replies:
    ``("open", target, subs, timeout)`` → ``[(key, started, subscribed_at | None, error | None)]``, all started at once;
    ``("reopen", target, timeout)`` → the same for every subscriber, each resuming from its cursor;
    ``("events",)`` → ``(frames, [(key, room, id, received_at, occurredAt)])`` and clears them;
    ``("wait_lost", timeout)`` → how many are still connected after waiting for the server to drop them;
    ``("open_count",)`` → connected subscribers; ``("close", min_key)`` → closes and forgets those with
    ``key >= min_key``; ``("lag",)`` → ``(max_s, late)``: this loop's largest lag and how many ticks were
    more than ``LATE_S`` late since the last ``lag`` (and resets them); ``("quit",)``.

    Loop lag: a task sleeps ``TICK_S`` over and over and records how much later than asked it woke. A
    frame is stamped when this loop parses it, so a lagging loop (a burst of keep-alives to answer,
    a garbage collection, the core taken by another process) makes every frame read meanwhile look
    late: the orchestrator reports the lag next to the latencies so that one can tell.
    """

    TICK_S = 0.01
    LATE_S = 0.02

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.subs: dict[int, Subscriber] = {}
        self.events: list[tuple[int, int, int, float, str | None]] = []
        self.frames = 0
        self.stop = asyncio.Event()
        self.lag_max = 0.0
        self.lag_late = 0

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.TICK_S
            await asyncio.sleep(self.TICK_S)
            lag = loop.time() - asked
            self.lag_max = max(self.lag_max, lag)
            self.lag_late += lag > self.LATE_S

    async def serve(self) -> None:
        # The pipe is read in a thread: loop.add_reader would make its descriptor non-blocking,
        # and Connection.recv/send expect a blocking one.
        loop = asyncio.get_running_loop()
        probe = asyncio.create_task(self._probe())
        while not self.stop.is_set():
            command = await loop.run_in_executor(None, self.conn.recv)
            reply = await self.handle(command)
            await loop.run_in_executor(None, self.conn.send, reply)
        probe.cancel()

    async def handle(self, command: tuple[Any, ...]) -> Any:
        name = command[0]
        if name == "open":
            _, target, subs, timeout = command
            return await self.connect(target, [(s, None) for s in subs], timeout)
        if name == "reopen":
            _, target, timeout = command
            old = list(self.subs.values())
            for s in old:
                s.close()
            # a subscriber that saw nothing yet resumes from 0: "everything of this room"
            return await self.connect(target, [(s.sub, s.cursor or 0) for s in old if not s.completed], timeout)
        if name == "events":
            events, self.events = self.events, []
            frames, self.frames = self.frames, 0
            return frames, events
        if name == "wait_lost":
            pending = [s.lost for s in self.subs.values() if not s.lost.done()]
            if pending:
                await asyncio.wait(pending, timeout=command[1])
            return self.open_count()
        if name == "open_count":
            return self.open_count()
        if name == "lag":
            reply = (self.lag_max, self.lag_late)
            self.lag_max, self.lag_late = 0.0, 0
            return reply
        if name == "close":
            gone = [s for key, s in self.subs.items() if key >= command[1]]
            for s in gone:
                s.close()
            pending = [s.lost for s in gone if not s.lost.done()]
            if pending:
                await asyncio.wait(pending, timeout=10)
            for s in gone:
                del self.subs[s.sub.key]
            # the closed ones were frozen with the rest (``connect``): let the collector free them,
            # then freeze those that stay
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            return len(gone)
        if name == "quit":
            for s in self.subs.values():
                s.close()
            self.stop.set()
            return "bye"
        raise ValueError(f"unknown command {name!r}")

    def open_count(self) -> int:
        return sum(1 for s in self.subs.values() if not s.lost.done())

    async def connect(
        self, target: Target, plan: list[tuple[Sub, int | None]], within_s: float
    ) -> list[tuple[int, float, float | None, str | None]]:
        """Start every connection at once; a refused or reset one is retried (0.2–0.5 s later) until
        ``within_s``; each subscriber's time is from the first attempt to its subscription."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s

        async def one(sub: Sub, cursor: int | None) -> tuple[int, float, float | None, str | None]:
            started = time.time()
            error = "timeout"
            while loop.time() < deadline:
                s = Subscriber(self, sub, target, cursor)
                self.subs[sub.key] = s
                try:
                    await asyncio.wait_for(
                        loop.create_connection(lambda s=s: s, target.host, target.port),  # type: ignore[misc]
                        max(0.01, deadline - loop.time()),
                    )
                    at = await asyncio.wait_for(asyncio.shield(s.ready), max(0.01, deadline - loop.time()))
                    return sub.key, started, at, None
                except (OSError, ConnectionError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    cursor = s.cursor  # a resumed frame may have arrived before the failure
                    s.close()
                    await asyncio.sleep(0.2 + 0.3 * random.random())
                except TimeoutError:
                    s.close()
                    break
            return sub.key, started, None, error

        results = list(await asyncio.gather(*(one(sub, cursor) for sub, cursor in plan)))
        # The subscribers live until closed: out of the collector's reach, a full collection no longer
        # walks thousands of them (and their parsers) in the middle of a measurement.
        gc.collect()
        gc.freeze()
        return results


def worker_main(conn: Connection, core: int | None) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if core is not None:
        os.sched_setaffinity(0, {core})
    limit_files()
    try:
        import uvloop  # uvicorn[standard] ships it; the servers under test use it too

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(Worker(conn).serve())


class Swarm:
    """Client processes (each pinned to ``core``) holding ``capacity`` subscribers between them."""

    def __init__(self, capacity: int, core: int | None = None) -> None:
        n = max(1, -(-capacity // PER_PROCESS))
        ctx = mp.get_context("fork")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, core), daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def _all(self, command_for: Any) -> list[Any]:
        for i, pipe in enumerate(self.pipes):
            pipe.send(command_for(i))
        return [pipe.recv() for pipe in self.pipes]

    def open(
        self, target: Target, subs: list[Sub], timeout: float = 120
    ) -> list[tuple[int, float, float | None, str | None]]:
        n = len(self.pipes)
        replies = self._all(lambda i: ("open", target, subs[i::n], timeout))
        return [r for rs in replies for r in rs]

    def reopen(self, target: Target, timeout: float = 120) -> list[tuple[int, float, float | None, str | None]]:
        return [r for rs in self._all(lambda i: ("reopen", target, timeout)) for r in rs]

    def events(self) -> tuple[int, list[tuple[int, int, int, float, str | None]]]:
        replies = self._all(lambda i: ("events",))
        return sum(f for f, _ in replies), [e for _, es in replies for e in es]

    def wait_lost(self, timeout: float) -> int:
        return sum(self._all(lambda i: ("wait_lost", timeout)))

    def open_count(self) -> int:
        return sum(self._all(lambda i: ("open_count",)))

    def lag(self) -> tuple[float, int]:
        """``(max_s, late)`` over every process since the last call: the largest loop lag, in seconds,
        and the ticks more than ``Worker.LATE_S`` late (see ``Worker``)."""
        replies = self._all(lambda i: ("lag",))
        return max(m for m, _ in replies), sum(n for _, n in replies)

    def close_from(self, min_key: int) -> int:
        """Close and forget the subscribers whose key is at least ``min_key``; returns how many."""
        return sum(self._all(lambda i: ("close", min_key)))

    def shutdown(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("quit",))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(2)
