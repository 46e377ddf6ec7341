"""Repeated warnings are collapsed so that no client can fill the disk (issue 7 §4)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import simplejson as json

from hub import logs
from hub.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str = "refused %s", level: int = logging.WARNING, name: str = "payhub.http", arg: str = "x"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, (arg,), None)


def test_repeats_within_the_window_are_dropped_and_counted() -> None:
    clock = Clock()
    f = RepeatFilter(10, clock=clock)
    passed = [f.filter(record(arg=str(i))) for i in range(1000)]
    assert passed.count(True) == 1
    clock.now = 10.5
    late = record()
    assert f.filter(late) and late.suppressed == 999  # type: ignore[attr-defined]
    assert not f.filter(record())


def test_keys_are_independent_and_info_always_passes() -> None:
    f = RepeatFilter(10, clock=Clock())
    assert f.filter(record("a")) and f.filter(record("b")) and f.filter(record("a", level=logging.ERROR))
    assert f.filter(record("a", name="uvicorn.error"))
    assert all(f.filter(record("request", level=logging.INFO)) for _ in range(100))


def test_each_case_flagged_for_review_is_its_own_line() -> None:
    """An ALERT naming a review (created once per key) is never collapsed into another case's."""
    f = RepeatFilter(10, clock=Clock())
    alerts = [record("ALERT reconciliation: x", level=logging.ERROR) for _ in range(3)]
    for n, alert in enumerate(alerts):
        alert.review = f"reconcile:missing_in_payhub:BILL:T{n}"
    assert all(f.filter(a) for a in alerts)
    again = record("ALERT reconciliation: x", level=logging.ERROR)
    again.review = alerts[0].review
    assert not f.filter(again)  # the same case again within the window


def test_remembered_keys_are_bounded() -> None:
    f = RepeatFilter(10, max_keys=8, clock=Clock())
    for i in range(100):
        assert f.filter(record(f"distinct {i}"))
    assert len(f._seen) == 8


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_configured_logging_writes_one_line_for_a_flood() -> None:
    logs.configure("INFO", repeat_window_s=60)
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    stderr = io.StringIO()
    handler.setStream(stderr)
    log = logging.getLogger("payhub.test.flood")
    for i in range(5000):
        log.warning("request refused: headers not received in time", extra={"peer": f"10.0.0.{i % 250}"})
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["msg"].startswith("request refused")
