"""Smoke test of the comparison harness (loadtest/): each peer and a real ``payhub run`` start, a handful
of swarm subscribers connect over every transport, one event is published and every one of them reads it.

The peers need the bench extra (``make bench`` installs requirements/bench.lock), which ``make test`` does
not install: without python-socketio or sse-starlette their test skips; PayHub's always runs (the swarm
needs nothing beyond the dev lock). Asserts deliveries, never timings.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.compare import PayHub, Publisher, Server, collect, free_port, import_premiums, inquire, payhub_env
from loadtest.swarm import Sub, Swarm, Target

PEER_NEEDS = {"sio": "socketio", "sse": "sse_starlette"}

pytestmark = pytest.mark.timeout(60)
EACH = 3


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    s = Swarm(4 * EACH)
    try:
        yield s
    finally:
        s.shutdown()


def deliver(swarm: Swarm, server: Server, kinds: list[str], room: int, token: str | None) -> None:
    subs = {kind: [Sub(k * 100 + i, room, token) for i in range(EACH)] for k, kind in enumerate(kinds)}
    for kind, group in subs.items():
        opened = swarm.open(Target(kind, server.port), group, timeout=20)
        assert [r[3] for r in opened] == [None] * EACH, kind
    swarm.events()
    publisher = Publisher(server)

    asyncio.run(publisher.each([room]))
    assert publisher.errors == []
    want = {(s.key, room) for group in subs.values() for s in group}
    got = collect(swarm, want, timeout=20)
    assert set(got) == want
    assert all(occurred is not None for _, occurred in got.values())  # every frame carries its commit time
    swarm.close_from(0)


@pytest.mark.parametrize("kind", ["sio", "sse"])
def test_a_peer_delivers_one_event_to_its_room(kind: str, swarm: Swarm, tmp_path: Path) -> None:
    if importlib.util.find_spec(PEER_NEEDS[kind]) is None:
        pytest.skip(f"the bench extra is not installed ({PEER_NEEDS[kind]}; make bench installs it)")
    server = Server(kind, free_port(), tmp_path, None)
    server.start()
    try:
        deliver(swarm, server, [kind], room=7, token=None)
    finally:
        server.stop()


def test_payhub_delivers_one_payment_over_sse_and_websocket(swarm: Swarm, tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "smoke.db"
    token = import_premiums(payhub_env(port, db), tmp_path, 1)
    server = PayHub("payhub", port, tmp_path, None, db)
    server.start()
    try:
        [(payment_id, subscribe_token)] = asyncio.run(inquire(server.base, token, 1))
        deliver(swarm, server, ["payhub-sse", "payhub-ws"], room=payment_id, token=subscribe_token)
    finally:
        server.stop(signal.SIGTERM)
