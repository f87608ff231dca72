"""Cold start of the real app to a window with live rows.

    python -m benchmarks.startup_bench [--quick] [--json PATH]

Each run launches ``supervisor-desk --demo --screenshot PNG`` as a fresh process
(``QT_QPA_PLATFORM=offscreen``, a fresh profile directory): the demo hub boots in the app's
process, the simulator starts sessions, the app signs in, loads the live snapshot and follows
the feed. The clock starts just before ``Popen`` and stops when the app's log file receives its
"first live rows shown" line (the log is polled every 5 ms; the line is written by
``DeskApp._on_live_first_rows_shown`` once the table model has rows). The app's own figure
(measured from its ``__main__`` import, so without interpreter start-up) is reported next to it.
After the screenshot is saved the run ends with SIGTERM, and the clean quit is timed too.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Results, main_for

FIRST_ROWS = re.compile(
    r"first live rows shown ([0-9.]+) s after start(?: \(([0-9.]+) s of CPU\))?")
HUB_READY = re.compile(r"demo hub at \S+ ready in ([0-9.]+) s")


def _command() -> list[str]:
    script = Path(sys.executable).parent / "supervisor-desk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "supervisor_desk"]


def _env(home: Path, state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "QT_QPA_PLATFORM": "offscreen",
        "SUPERVISOR_DESK_HOME": str(home),
        "SUPERVISOR_DESK_STATE_FILE": str(state),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
    })
    return env


def one_run(workdir: Path, limit_s: float = 60.0, *, screenshot: bool = True) -> dict[str, Any]:
    """One launch; returns milliseconds (``first_rows`` is NaN if rows never came)."""
    home = workdir / "profile"
    home.mkdir(parents=True)
    shot = workdir / "shot.png"
    log = home / "logs" / "supervisor-desk.log"
    errors = (workdir / "stderr.txt").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(
        [*_command(), "--demo", "--screenshot", str(shot), "--exit-after", str(limit_s)],
        env=_env(home, workdir / "state.json"), stdout=subprocess.DEVNULL, stderr=errors)
    out: dict[str, Any] = {"first_rows": float("nan"), "app_first_rows": float("nan"),
           "first_rows_cpu": float("nan"),
           "hub_ready": float("nan"), "screenshot": float("nan"), "quit": float("nan")}
    try:
        text = ""
        while proc.poll() is None and time.monotonic() - started < limit_s:
            if log.exists():
                text = log.read_text(encoding="utf-8", errors="replace")
                if (m := FIRST_ROWS.search(text)) is not None:
                    out["first_rows"] = (time.monotonic() - started) * 1000
                    out["app_first_rows"] = float(m.group(1)) * 1000
                    if m.group(2) is not None:
                        out["first_rows_cpu"] = float(m.group(2)) * 1000
                    break
            time.sleep(0.005)
        if (m := HUB_READY.search(text)) is not None:
            out["hub_ready"] = float(m.group(1)) * 1000
        deadline = time.monotonic() + (15 if screenshot else 0)
        while proc.poll() is None and not shot.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if out["first_rows"] != out["first_rows"]:  # NaN: say what the app was doing
            errors.flush()
            lines = text.splitlines() + (workdir / "stderr.txt").read_text().splitlines()
            tail = [line for line in lines if "propagateSizeHints" not in line]
            out["failure"] = f"exit {proc.poll()}: " + " | ".join(tail[-3:])[-400:]
        if shot.exists():
            out["screenshot"] = (time.monotonic() - started) * 1000
        if proc.poll() is None:
            asked = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            out["quit"] = (time.monotonic() - asked) * 1000
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errors.close()
    return out


def _median(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return round(statistics.median(clean), 1) if clean else float("nan")


def run(quick: bool) -> Results:
    tiny = bool(os.environ.get("SUPERVISOR_DESK_BENCH_TINY"))
    runs = 1 if tiny else 2 if quick else 5
    measured: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="sd-startup-bench-") as tmp:
        for i in range(runs):
            measured.append(one_run(Path(tmp) / f"run-{i}", screenshot=not (tiny or quick)))
    first = [m["first_rows"] for m in measured]
    failures = [m["failure"] for m in measured if "failure" in m]
    return {
        "quick": quick,
        "sizes.startup_runs": runs,
        "startup.first_rows_ms": _median(first),
        "startup.first_rows_runs_ms": [round(v, 1) for v in first],
        "startup.first_rows_app_ms": _median([m["app_first_rows"] for m in measured]),
        # CPU time of the app's process (all its threads, the demo hub's too) up to first
        # rows: what an idle machine would take, whatever the neighbours do.
        "startup.first_rows_cpu_ms": _median([m["first_rows_cpu"] for m in measured]),
        "startup.demo_hub_ready_ms": _median([m["hub_ready"] for m in measured]),
        "startup.screenshot_ms": _median([m["screenshot"] for m in measured]),
        "startup.quit_ms": _median([m["quit"] for m in measured]),
        "startup.runs_without_rows": len(failures),
        **({"startup.last_failure": failures[-1]} if failures else {}),
    }


if __name__ == "__main__":
    main_for(run)
