"""Each benchmark module runs end to end at tiny sizes and reports the figures the suite prints.

No timing is asserted (benchmarks/ measures, tests do not); what is checked is that a module
really exercised the app: rows were shown, events applied, the app started. Each module runs
in its own process, exactly as ``python -m benchmarks`` runs it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.targets import BY_KEY

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "table_bench": [
        "table.sort_100k_ms", "table.filter_100k_ms", "table.tick_ms",
        "table.naive_sort_100k_ms", "table.naive_filter_100k_ms", "table.naive_tick_ms",
        "table.sort_100k_cpu_ms", "table.tick_cpu_ms",
    ],
    "feed_bench": [
        "feed.event_to_row_p50_ms", "feed.event_to_row_p99_ms", "feed.max_stall_ms",
        "feed.events_per_s", "feed.rss_mb", "feed.ingest_to_row_p99_ms",
        "feed.poll_1s_staleness_p50_ms", "feed.poll_1s_staleness_p99_ms",
        "feed.poll_10s_staleness_p99_ms",
    ],
    "startup_bench": ["startup.first_rows_ms", "startup.first_rows_app_ms"],
}


def _run(module: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "out.json"
    env = dict(os.environ, SUPERVISOR_DESK_BENCH_TINY="1", QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--quick", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: dict[str, Any] = json.loads(out.read_text())
    return results


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_module_reports_its_figures(module: str, tmp_path: Path) -> None:
    results = _run(module, tmp_path)
    assert results["quick"] is True
    assert any(key.startswith("sizes.") for key in results), "sizes used are reported"
    for key in EXPECTED[module]:
        value = results[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (key, value)
        assert key in BY_KEY, f"{key} has no target/baseline entry in benchmarks/targets.py"
    if module == "feed_bench":
        # The snapshot filled the table and every measured event reached a painted row.
        assert results["feed.rows_at_end"] >= results["sizes.feed_live_sessions"]
        assert results["feed.events_applied"] > 0
        assert results["feed.events_measured"] == results["feed.events_applied"]
        assert results["feed.polls"] >= 2
