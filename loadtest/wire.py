"""Wire formats the swarm speaks, as small incremental parsers (no I/O, unit-tested).

Hand-written rather than taken from httpx/websockets/python-socketio's client: the swarm holds
5,000–20,000 connections per process, and those clients cost tens of KiB and a task or two per
connection; these parsers keep one small object per connection on a bare ``asyncio.Protocol``.

* HTTP/1.1 response head and ``Transfer-Encoding: chunked`` bodies (RFC 9112 §7.1).
* Server-Sent Events (WHATWG HTML §9.2.6): ``id:``, ``event:``, ``data:`` fields, ``:`` comments.
* WebSocket frames (RFC 6455 §5.2): the client masks what it sends, the server does not.
* Engine.IO v4 / Socket.IO v5 text packets over a WebSocket: ``0{open}``, ``2``/``3`` ping/pong,
  ``40`` connect, ``42[event, data]`` event, ``41`` disconnect.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

# --- HTTP/1.1 ----------------------------------------------------------------------------------


@dataclass
class ResponseHead:
    status: int
    headers: dict[str, str]  # lower-case names; repeated names keep the last value


def parse_head(raw: bytes) -> ResponseHead:
    """``raw`` is the head up to (without) the blank line. Raises ValueError on a malformed status line."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return ResponseHead(int(parts[1]), headers)


class ChunkedDecoder:
    """``Transfer-Encoding: chunked`` → body bytes. ``done`` once the last (zero) chunk was read."""

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0  # bytes of the current chunk's data still to read
        self._state = "size"  # size line → data → CRLF → size line …
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while not self.done:
            if self._state == "size":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    break
                size = int(self._buf[:end].split(b";", 1)[0], 16)
                self._buf = self._buf[end + 2 :]
                if size == 0:
                    self.done = True
                    break
                self._left, self._state = size, "data"
            elif self._state == "data":
                if not self._buf:
                    break
                take = self._buf[: self._left]
                out += take
                self._buf = self._buf[len(take) :]
                self._left -= len(take)
                if self._left == 0:
                    self._state = "crlf"
            else:
                if len(self._buf) < 2:
                    break
                self._buf = self._buf[2:]
                self._state = "size"
        return bytes(out)


# --- Server-Sent Events ------------------------------------------------------------------------


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str


@dataclass
class SseParser:
    """Lines → events; comments (heartbeats) and ``retry:`` are counted, not returned."""

    _buf: bytes = b""
    _id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    comments: int = 0

    def feed(self, data: bytes) -> list[SseEvent]:
        self._buf += data
        events: list[SseEvent] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                return events
            line = self._buf[:end].rstrip(b"\r").decode()
            self._buf = self._buf[end + 1 :]
            if not line:
                if self._data or self._id is not None:
                    events.append(SseEvent(self._id, self._event or "message", "\n".join(self._data)))
                self._id, self._event, self._data = None, "", []
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name == "id":
                self._id = value
            elif name == "event":
                self._event = value


# --- WebSocket ----------------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def ws_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def encode_frame(opcode: int, payload: bytes, *, mask: bool = True) -> bytes:
    """One final frame; clients must mask (RFC 6455 §5.3)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked


class FrameParser:
    """Bytes → whole messages ``(opcode, payload)``; fragments are joined, control frames pass through."""

    def __init__(self) -> None:
        self._buf = b""
        self._frag_op = 0
        self._frag = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= 2:
            b0, b1 = self._buf[0], self._buf[1]
            fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            pos = 2
            if n == 126:
                if len(self._buf) < 4:
                    break
                n = struct.unpack("!H", self._buf[2:4])[0]
                pos = 4
            elif n == 127:
                if len(self._buf) < 10:
                    break
                n = struct.unpack("!Q", self._buf[2:10])[0]
                pos = 10
            key = b""
            if masked:
                key = self._buf[pos : pos + 4]
                pos += 4
            if len(self._buf) < pos + n:
                break
            payload = self._buf[pos : pos + n]
            self._buf = self._buf[pos + n :]
            if masked:
                payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
            if opcode >= 0x8:
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                self._frag += payload
                if fin:
                    out.append((self._frag_op, bytes(self._frag)))
                    self._frag = bytearray()
            elif fin:
                out.append((opcode, payload))
            else:
                self._frag_op, self._frag = opcode, bytearray(payload)
        return out


# --- Engine.IO v4 / Socket.IO v5 ---------------------------------------------------------------


@dataclass
class EioPacket:
    """``kind``: open | ping | pong | connect | event | disconnect | error | other."""

    kind: str
    event: str = ""
    data: Any = None


def eio_decode(text: str) -> EioPacket:
    """One Engine.IO text packet (a WebSocket text message carries exactly one)."""
    if not text:
        return EioPacket("other")
    eio = text[0]
    if eio == "0":
        return EioPacket("open", data=json.loads(text[1:]))
    if eio == "2":
        return EioPacket("ping", data=text[1:])
    if eio == "3":
        return EioPacket("pong", data=text[1:])
    if eio != "4" or len(text) < 2:
        return EioPacket("other", data=text)
    sio, rest = text[1], text[2:]
    if sio == "0":
        return EioPacket("connect", data=json.loads(rest) if rest else None)
    if sio == "1":
        return EioPacket("disconnect")
    if sio == "4":
        return EioPacket("error", data=json.loads(rest) if rest else None)
    if sio == "2":
        # 42[/nsp,][ackId]["event", data]: the default namespace, no ack id, in this harness
        start = rest.find("[")
        args = json.loads(rest[start:])
        return EioPacket("event", event=args[0], data=args[1] if len(args) > 1 else None)
    return EioPacket("other", data=text)


def sio_event(event: str, data: Any) -> str:
    """A Socket.IO EVENT on the default namespace, wrapped in an Engine.IO MESSAGE: ``42["event",data]``."""
    return "42" + json.dumps([event, data], separators=(",", ":"))
