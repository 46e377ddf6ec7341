"""The comparison table of ``loadtest/compare.py``: raw runs → one markdown table with ratios.

Pure functions (unit-tested): each row picks one number out of every run of a target, shows the
runs' range (``a–b``, or one value when they agree at the shown precision) and, in PayHub's
columns, the ratio PayHub ÷ peer computed from the runs' means (``×0.77 · ×0.71``: vs
python-socketio · vs sse-starlette). Whether higher or lower is better is said per row.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

COLUMNS = (
    ("sio", "python-socketio"),
    ("sse", "sse-starlette baseline"),
    ("payhub-sse", "PayHub SSE"),
    ("payhub-ws", "PayHub WS"),
)
PEERS = ("sio", "sse")


@dataclass(frozen=True)
class Row:
    label: str
    path: tuple[str, ...]  # keys into one run's result
    unit: str  # printed after the number ("" for none)
    digits: int  # decimals shown
    better: str  # "lower" | "higher"


def rows(cfg: dict[str, Any]) -> list[Row]:
    """The table's rows for a run configured by ``cfg`` (subscribers, idle_s, fanout, rate, storm)."""
    n, fan, rate, storm = cfg["subscribers"], cfg["fanout"], cfg["rate"], cfg["storm"]
    return [
        Row(f"memory per idle subscriber ({n:,} connected)", ("idle", "kib_per_subscriber"), " KiB", 1, "lower"),
        Row(f"connections accepted per second ({n:,} at once)", ("idle", "accepted_per_s"), "", 0, "higher"),
        Row(
            f"server CPU while {n:,} subscribers sit idle ({cfg['idle_s']:g} s, keep-alives included)",
            ("idle", "cpu_percent"),
            " %",
            1,
            "lower",
        ),
        Row(
            f"one event to {fan:,} subscribers of one room: last delivery after the commit/publish",
            ("fanout", "last_ms"),
            " ms",
            0,
            "lower",
        ),
        Row(f"{rate:g} events/s to random subscribers of {n:,}: p50 latency", ("unicast", "p50_ms"), " ms", 1, "lower"),
        Row(f"{rate:g} events/s to random subscribers of {n:,}: p99 latency", ("unicast", "p99_ms"), " ms", 1, "lower"),
        Row(
            f"reconnect storm: {storm:,} clients back and resumed after a restart, nothing missed",
            ("storm", "all_resumed_s"),
            " s",
            2,
            "lower",
        ),
        Row("the same storm: connections accepted per second", ("storm", "accepted_per_s"), "", 0, "higher"),
    ]


def pick(run: dict[str, Any], path: Sequence[str]) -> float | None:
    value: Any = run
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else float(value)


def number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def span(values: Sequence[float], digits: int, unit: str) -> str:
    """``12–17 ms``, or ``12 ms`` when every value shows the same."""
    lo, hi = number(min(values), digits), number(max(values), digits)
    return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


def ratio(value: float, peer: float) -> str:
    if peer == 0:
        return "×∞" if value else "×1"
    r = value / peer
    return f"×{r:.2f}" if r < 10 else f"×{r:,.0f}"


def cell(runs_by_target: dict[str, list[dict[str, Any]]], target: str, row: Row) -> str:
    values = [v for v in (pick(r, row.path) for r in runs_by_target.get(target, [])) if v is not None]
    if not values:
        return "–"
    text = span(values, row.digits, row.unit)
    if target.startswith("payhub"):
        ratios = []
        for peer in PEERS:
            peer_values = [v for v in (pick(r, row.path) for r in runs_by_target.get(peer, [])) if v is not None]
            ratios.append(ratio(statistics.mean(values), statistics.mean(peer_values)) if peer_values else "–")
        text += f" ({' · '.join(ratios)})"
    return text


def missed_note(runs: list[dict[str, Any]], key: str) -> str | None:
    """``[3 missed]`` when any run of a target lost deliveries in a scenario."""
    missed = sum(int(r.get(key, {}).get("missed", 0) or 0) for r in runs)
    return f"[{missed:,} missed]" if missed else None


def markdown(results: list[dict[str, Any]], cfg: dict[str, Any]) -> str:
    """One markdown table: a row per measure, a column per target, PayHub's ratios vs both peers."""
    by_target: dict[str, list[dict[str, Any]]] = {}
    for run in results:
        by_target.setdefault(run["target"], []).append(run)
    head = "| per server core | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [head, "|---|" + "---|" * len(COLUMNS)]
    for row in rows(cfg):
        scenario = row.path[0]
        cells = []
        for target, _ in COLUMNS:
            text = cell(by_target, target, row)
            note = (
                missed_note(by_target.get(target, []), scenario) if scenario in ("fanout", "unicast", "storm") else None
            )
            cells.append(f"{text} {note}" if note and text != "–" else text)
        lines.append(f"| {row.label} ({row.better} is better) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
