"""The process heartbeat timer under a fake clock: a late loop (each tick running ``LAG`` after it was
due, as a busy push node's loop does) must not stretch the silence beyond one interval plus one tick's
lateness (ARCHITECTURE.md: heartbeat <= 15 s). No real time passes: the fake loop runs the timers."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from hub.fanout import Fanout, Subscriber

INTERVAL = 15.0
LAG = 0.05  # each timer callback runs this long after its due time


class FakeLoop:
    """Just the timer calls ``Fanout`` makes: ``time``, ``call_later``, ``call_at``."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Handle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Handle:
        handle = Handle(callback, args)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Handle:
        return self.call_at(self.now + delay, callback, *args)

    def run_until(self, end: float, after_each: Callable[[], None]) -> None:
        while self._timers and self._timers[0][0] <= end:
            when, _, handle = heapq.heappop(self._timers)
            if handle.cancelled:
                continue
            self.now = max(self.now, when) + LAG
            handle.callback(*handle.args)
            after_each()


class Handle:
    def __init__(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.callback, self.args, self.cancelled = callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


def test_a_late_loop_does_not_stretch_the_heartbeat_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = FakeLoop()
    monkeypatch.setattr(asyncio, "get_running_loop", lambda: loop)
    hub = Fanout()
    subs: list[Subscriber] = []
    last: dict[int, float] = {}
    worst = 0.0

    def writers() -> None:  # each stream's writer takes a due heartbeat at once (``next_or_beat``)
        nonlocal worst
        for i, sub in enumerate(subs):
            if sub.beat_due:
                sub.beat_due, sub.quiet = False, 0
                worst = max(worst, loop.now - last[i])
                last[i] = loop.now

    for i in range(40):  # joining at different moments and slots
        loop.run_until(i * 0.37, writers)
        loop.now = max(loop.now, i * 0.37)
        sub = hub.subscribe(i + 1)
        subs.append(sub)
        last[i] = loop.now
        hub.heartbeat(sub, INTERVAL)
    loop.run_until(20 * INTERVAL, writers)
    assert all(loop.now - t <= INTERVAL + LAG for t in last.values())
    assert worst <= INTERVAL + LAG, f"silence of {worst:.2f} s with an interval of {INTERVAL} s"
