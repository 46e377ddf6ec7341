"""The comparison table of loadtest/compare.py (loadtest/table.py): ranges, ratios, missed deliveries."""

from __future__ import annotations

from typing import Any

from loadtest.table import markdown, pick, ratio, span

CFG = {"subscribers": 5000, "idle_s": 45.0, "fanout": 2000, "rate": 200.0, "storm": 2000}


def run(target: str, kib: float, accepted: float, last_ms: float, missed: int = 0) -> dict[str, Any]:
    return {
        "target": target,
        "idle": {"kib_per_subscriber": kib, "accepted_per_s": accepted, "cpu_percent": 1.0},
        "fanout": {"last_ms": last_ms, "missed": missed},
        "unicast": {"p50_ms": 1.0, "p99_ms": 2.0, "missed": 0},
        "storm": {"all_resumed_s": 1.5, "missed": 0},
    }


def test_span_and_ratio() -> None:
    assert span([12.04, 17.0], 0, " ms") == "12–17 ms"
    assert span([3.01, 2.99], 1, " %") == "3.0 %"
    assert ratio(32.0, 40.0) == "×0.80"
    assert ratio(15_000.0, 2.0) == "×7,500"
    assert ratio(0.0, 0.0) == "×1"


def test_pick_tolerates_missing_numbers() -> None:
    assert pick({"idle": {"x": 2}}, ("idle", "x")) == 2.0
    assert pick({"idle": {"x": None}}, ("idle", "x")) is None
    assert pick({}, ("storm", "x")) is None


def test_one_table_with_ranges_and_ratios_vs_both_peers() -> None:
    results = [
        run("sio", 40.0, 700, 170),
        run("sio", 42.0, 640, 166),
        run("sse", 45.0, 1100, 85),
        run("sse", 46.0, 1200, 142),
        run("payhub-sse", 32.0, 400, 200, missed=3),
        run("payhub-sse", 32.0, 500, 210),
    ]
    table = markdown(results, CFG).splitlines()
    assert table[0] == "| per server core | python-socketio | sse-starlette baseline | PayHub SSE | PayHub WS |"
    memory = next(line for line in table if line.startswith("| memory per idle subscriber (5,000 connected)"))
    cells = [c.strip() for c in memory.strip("|").split("|")]
    # PayHub ÷ socket.io mean (41) and ÷ sse-starlette mean (45.5); no WS run: a dash
    assert cells[1:] == ["40.0–42.0 KiB", "45.0–46.0 KiB", "32.0 KiB (×0.78 · ×0.70)", "–"]
    fanout = next(line for line in table if "one event to 2,000 subscribers" in line)
    assert "200–210 ms (×1.22 · ×1.81) [3 missed]" in fanout
    assert len(table) == 2 + 8  # header, rule, the seven rows and the storm's accept rate


def test_nearest_rank_percentile() -> None:
    from loadtest.compare import percentile

    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0], 0) == 1.0
