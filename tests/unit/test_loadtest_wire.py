"""The swarm's parsers (loadtest/wire.py): chunked bodies, SSE, WebSocket frames, Engine.IO/Socket.IO packets."""

from __future__ import annotations

import json
import struct

import pytest

from loadtest.wire import (
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    ChunkedDecoder,
    FrameParser,
    SseParser,
    eio_decode,
    encode_frame,
    parse_head,
    sio_event,
)


def test_response_head() -> None:
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked")
    assert head.status == 200
    assert head.headers == {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
    with pytest.raises(ValueError):
        parse_head(b"SSH-2.0-OpenSSH")


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_chunked_body_in_any_split(step: int) -> None:
    raw = chunked(b"retry: 2000\n\n", b"id: 7\nevent: payment.status\n", b"data: {}\n\n")
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(raw[i : i + step]) for i in range(0, len(raw), step))
    assert out == b"retry: 2000\n\nid: 7\nevent: payment.status\ndata: {}\n\n"
    assert decoder.done


def test_chunk_extensions_and_unfinished_body() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"5;name=value\r\nhello\r\n3\r\nab") == b"helloab"
    assert not decoder.done


def test_sse_events_comments_and_split_lines() -> None:
    parser = SseParser()
    stream = b'retry: 2000\n\n: heartbeat\n\nid: 12\nevent: payment.status\ndata: {"status":\r\ndata: "PENDING"}\n\n'
    events = [e for i in range(0, len(stream), 5) for e in parser.feed(stream[i : i + 5])]
    assert [(e.id, e.event, e.data) for e in events] == [("12", "payment.status", '{"status":\n"PENDING"}')]
    assert parser.comments == 1
    assert parser.feed(b"data: x\n") == []  # not dispatched before the blank line
    assert [(e.id, e.event, e.data) for e in parser.feed(b"\n")] == [(None, "message", "x")]


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_websocket_frames_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for mask in (True, False):
        frame = encode_frame(OP_TEXT, payload, mask=mask)
        assert bool(frame[1] & 0x80) is mask
        parser = FrameParser()
        got = [m for i in range(0, len(frame), 4096) for m in parser.feed(frame[i : i + 4096])]
        assert got == [(OP_TEXT, payload)]


def test_websocket_fragments_join_around_a_control_frame() -> None:
    first = bytes([OP_TEXT, 3]) + b"abc"  # FIN clear
    ping = bytes([0x80 | OP_PING, 1]) + b"p"
    last = bytes([0x80 | 0x0, 2]) + b"de"  # continuation, FIN set
    close = bytes([0x80 | OP_CLOSE, 2]) + struct.pack("!H", 1000)
    assert FrameParser().feed(first + ping + last + close) == [
        (OP_PING, b"p"),
        (OP_TEXT, b"abcde"),
        (OP_CLOSE, b"\x03\xe8"),
    ]


def test_engine_io_and_socket_io_packets() -> None:
    opened = eio_decode('0{"sid":"x","pingInterval":15000,"pingTimeout":20000}')
    assert (opened.kind, opened.data["pingInterval"]) == ("open", 15000)
    assert eio_decode("2").kind == "ping"
    assert eio_decode("3").kind == "pong"
    assert (eio_decode('40{"sid":"y"}').kind, eio_decode("40").kind) == ("connect", "connect")
    event = eio_decode('42["status",{"id":3,"status":"CONFIRMED"}]')
    assert (event.kind, event.event, event.data) == ("event", "status", {"id": 3, "status": "CONFIRMED"})
    assert eio_decode('42/admin,["x"]').event == "x"
    assert eio_decode("41").kind == "disconnect"
    assert eio_decode('44{"message":"no"}').kind == "error"
    assert eio_decode("6").kind == "other"


def test_socket_io_event_encoding() -> None:
    text = sio_event("subscribe", {"room": 5, "lastEventId": None})
    assert text.startswith("42")
    assert json.loads(text[2:]) == ["subscribe", {"room": 5, "lastEventId": None}]
    assert eio_decode(text).data == {"room": 5, "lastEventId": None}
