"""``hub.background.running``: jobs under one task group, stopped when the body ends."""

from __future__ import annotations

import asyncio

import pytest

from hub.background import running


async def test_jobs_run_while_the_body_runs_and_are_stopped_after() -> None:
    ticks: list[int] = []
    stopped = asyncio.Event()

    async def job() -> None:
        try:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.001)
        finally:
            stopped.set()

    async with running(job(), job()):
        await asyncio.sleep(0.02)
        assert ticks
    assert stopped.is_set()
    count = len(ticks)
    await asyncio.sleep(0.01)
    assert len(ticks) == count, "nothing runs after the body ended"
    assert asyncio.current_task() is not None and asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_an_error_of_the_body_comes_out_unchanged() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(KeyError):
        async with running(forever()):
            raise KeyError("mine")


async def test_a_failed_job_stops_the_others_and_is_raised_at_exit() -> None:
    cancelled = asyncio.Event()

    async def fails() -> None:
        await asyncio.sleep(0.005)
        raise RuntimeError("boom")

    async def other() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(ExceptionGroup) as caught:
        async with running(fails(), other()):
            await asyncio.wait_for(cancelled.wait(), 2)
    assert caught.group_contains(RuntimeError, match="boom")


async def test_no_jobs_is_fine() -> None:
    async with running():
        pass
