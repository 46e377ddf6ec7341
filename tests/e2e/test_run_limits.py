"""``payhub run`` serves with the connection bounds of ``hub.http.server`` (issue 7 §4).

The bounds themselves are tested in ``tests/integration/test_hostile_sockets.py``; this proves the
real process wires them, read from the environment, so moving the CLI cannot silently drop them.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import simplejson as json

from tests.e2e.payhub_process import start_server


def test_payhub_run_closes_a_silent_connection_and_refuses_huge_headers(tmp_path: Path) -> None:
    server = start_server(tmp_path, PAYHUB_HEADER_TIMEOUT_S="0.5", PAYHUB_MAX_HEADER_BYTES="4096")
    port = int(server.url.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            answer = b"".join(iter(lambda: silent.recv(65536), b""))  # until the server closes
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "BAD_REQUEST"
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/healthz", headers={"X-Pad": "a" * 3000}).status_code == 200
            assert http.get("/healthz", headers={"X-Pad": "a" * 6000}).status_code == 431
        assert "request refused: headers not received in time" in server.output()
    finally:
        server.stop()
