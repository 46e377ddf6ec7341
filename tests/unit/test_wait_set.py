"""``hub.background.wait_set``: a loop that waits on an event stops when cancelled, whatever the timing.

On Python 3.11 ``asyncio.wait_for(event.wait(), t)`` swallows a cancellation that arrives in the loop turn
the event is set (CPython gh-86296); the relay, the notifier's dispatcher and the KHQR expiry loop waited
that way, and shutdown under load hung.
"""

from __future__ import annotations

import asyncio
import pathlib
import re

import pytest

from hub.background import wait_set

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "gateway", "push", "notifier", "backoffice", "integration", "khqr", "sandbox", "payhub")


async def _waiting_loop(event: asyncio.Event, turns: list[int]) -> None:
    while True:
        await wait_set(event, 10)
        event.clear()
        turns.append(1)


async def test_a_cancel_in_the_turn_the_event_is_set_stops_the_loop() -> None:
    event, turns = asyncio.Event(), []
    task = asyncio.create_task(_waiting_loop(event, turns))
    await asyncio.sleep(0)
    event.set()
    task.cancel()  # same loop turn: the event's waiter finishes before the cancellation is delivered
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert task.cancelled()


async def test_set_and_timeout() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 10) is True


def test_no_event_is_awaited_through_wait_for() -> None:
    """The kind, not the example: no service loop waits on an Event through ``asyncio.wait_for``."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"await asyncio\.wait_for\([^)]*\.wait\(\)", line)
    ]
    assert offenders == []
