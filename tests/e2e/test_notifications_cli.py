"""``payhub notifications list|retry`` as an operator runs them: real ``payhub`` processes on a SQLite file."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from hub.domain.notification import NotificationState
from hub.json_codec import loads
from payhub.backends import open_store
from tests.e2e.payhub_process import PAYHUB, payhub_env
from tests.notifications_data import webhook_notification


async def dead_letters(url: str) -> list[int]:
    now = datetime.now(UTC)
    async with open_store(url) as store, store.transaction() as tx:
        for i in (1, 2, 3):
            await tx.notifications.enqueue(webhook_notification(i, now), now)
        claimed = await tx.notifications.claim(now, now, 3)
        for n in claimed[:2]:
            await tx.notifications.finish(n.id, NotificationState.DEAD, now, error="HTTP 410: gone")
        return [n.id for n in claimed[:2]]


async def states(url: str) -> dict[int, str]:
    async with open_store(url) as store, store.transaction() as tx:
        return {n.id: n.state.value for n in await tx.notifications.listing(list(NotificationState))}


def payhub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAYHUB), *args], env=env, capture_output=True, text=True, timeout=30)


def test_list_and_retry_dead_letters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/payhub.db"
    env = payhub_env(PAYHUB_DATABASE_URL=url)
    dead = asyncio.run(dead_letters(url))

    done = payhub(env, "notifications", "list")
    assert done.returncode == 0, done.stderr
    listed = [loads(line) for line in done.stdout.splitlines()]
    assert sorted(n["id"] for n in listed) == sorted(dead)
    assert {(n["state"], n["channel"], n["lastError"]) for n in listed} == {("DEAD", "webhook", "HTTP 410: gone")}
    assert "2 notification(s)" in done.stderr

    assert payhub(env, "notifications", "list", "--state", "nonsense").returncode == 2
    assert payhub(env, "notifications", "retry").returncode == 2  # ids or --all, never all by accident

    done = payhub(env, "notifications", "retry", str(dead[0]))
    assert done.returncode == 0 and f"1 notification(s) queued again: {dead[0]}" in done.stdout
    assert asyncio.run(states(url))[dead[0]] == "PENDING"
    done = payhub(env, "notifications", "retry", "--all")
    assert f"queued again: {dead[1]}" in done.stdout
    assert "DEAD" not in asyncio.run(states(url)).values()
    # Out of range: a clear usage error, never a traceback (ids past BIGINT overflowed the driver).
    for args in (
        ("retry", "99999999999999999999"),
        ("retry", "0"),
        ("list", "--payment", "99999999999999999999"),
        ("list", "--limit", "-1"),
        ("list", "--limit", "0"),
    ):
        done = payhub(env, "notifications", *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
