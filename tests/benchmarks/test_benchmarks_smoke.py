"""Each benchmark module runs end to end at tiny sizes and reports the figures the suite prints.

No timing is asserted (benchmarks/ measures, tests do not); what is checked is that a module
really exercised the app (rows were shown, events applied, the app started) and that every
figure ``benchmarks/targets.py`` names is reported by the modules run here at tiny sizes
(their whole prefix). The modules too long to run in a test (a 100k-session hub, an app
idling for minutes) are guarded by the runner itself: a full ``python -m benchmarks`` fails
when a target figure is missing, and only then rewrites ``docs/performance-results.json``.
Each module runs in its own process, exactly as ``python -m benchmarks`` runs it.
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
from benchmarks.__main__ import missing_figures
from benchmarks.targets import BY_KEY, FIGURES, FULL_ONLY, QUICK_ONLY

ROOT = Path(__file__).resolve().parents[2]

# Modules with a tiny size (SUPERVISOR_DESK_BENCH_TINY): run here, every figure of their prefix.
TINY = {"table_bench": "table.", "feed_bench": "feed.", "startup_bench": "startup.",
        "offline_bench": "offline."}


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


def _is_figure(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


@pytest.mark.parametrize("module", sorted(TINY))
def test_module_reports_every_figure_of_its_targets(module: str, tmp_path: Path) -> None:
    results = _run(module, tmp_path)
    assert results["quick"] is True
    assert any(key.startswith("sizes.") for key in results), "sizes used are reported"
    wanted = [f.key for f in FIGURES if f.key.startswith(TINY[module]) and f.key not in FULL_ONLY]
    assert wanted
    missing = [key for key in wanted if not _is_figure(results.get(key))]
    assert not missing, f"{module} did not report {missing}"
    if module == "feed_bench":
        # The snapshot filled the table and every measured event reached a painted row.
        assert results["feed.rows_at_end"] >= results["sizes.feed_live_sessions"]
        assert results["feed.events_applied"] > 0
        assert results["feed.events_measured"] == results["feed.events_applied"]
        assert results["feed.polls"] >= 2
    if module == "offline_bench":
        # The file went through the window's loader both ways, every session indexed.
        assert results["offline.sessions"] == results["sizes.offline_sessions"]
        assert results["offline.process_worker_cpu_s"] > 0  # the child did its parsing


def test_the_runner_names_what_a_run_left_out() -> None:
    everything = {f.key: 1.0 for f in FIGURES}
    assert missing_figures(everything, quick=False) == []
    assert missing_figures({k: v for k, v in everything.items() if k not in QUICK_ONLY},
                           quick=False) == []
    some = dict(everything)
    del some["startup.first_rows_ms"]
    some["offline.rss_mb"] = float("nan")  # not measured: the run failed to take it
    some["feed.rss_mb"] = "n/a"
    assert missing_figures(some, quick=True) == [
        "feed.rss_mb", "startup.first_rows_ms", "offline.rss_mb"]
    assert all(key in BY_KEY for key in FULL_ONLY | QUICK_ONLY)


def test_a_quick_run_starts_the_slowest_modules_first() -> None:
    from benchmarks.__main__ import _quick_order

    assert _quick_order(["alerts_bench", "detail_bench", "voice_bench", "offline_bench",
                         "hub_bench"]) == [
        "voice_bench", "hub_bench", "alerts_bench", "detail_bench", "offline_bench"]


def test_a_timed_out_module_is_ended_with_what_it_started() -> None:
    import subprocess
    import sys

    import psutil
    from benchmarks.__main__ import _end_with_descendants

    # A module that started a helper in a session of its own (as the hub's transcriber is).
    module = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import os, time; os.setsid(); time.sleep(60)'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert module.stdout is not None and module.stdout.readline() == "ready\n"
    helper = psutil.Process(module.pid).children()[0]
    _end_with_descendants(module.pid)
    module.wait(10)
    module.stdout.close()
    assert not helper.is_running()
