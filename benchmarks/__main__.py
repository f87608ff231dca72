"""Run every benchmark, each in its own process, and print one table.

    python -m benchmarks [--quick] [--json PATH] [--only hub,table]

Each ``benchmarks/*_bench.py`` module exposes ``run(quick: bool) -> dict``; it runs in a fresh
interpreter so one benchmark's memory and Qt state cannot colour another's figures.

A quick run is a smoke run: idle_bench beside the others, which run two at a time, the
slowest first; a full run keeps every module alone on the machine.

A run of every module also checks that every figure of ``benchmarks/targets.py`` was
reported (``missing_figures``, and a non-zero exit if any is missing: a renamed or lost figure
is a regression even when nothing got slower), records its own wall time (``suite.quick_s`` /
``suite.full_s``), and a full run rewrites ``docs/performance-results.json``, the figures
``docs/performance.md`` quotes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from benchmarks._common import machine
from benchmarks.targets import BY_KEY, FIGURES, FULL_ONLY, QUICK_ONLY

HERE = Path(__file__).resolve().parent
RESULTS_DOC = HERE.parent / "docs" / "performance-results.json"
# Modules that watch an idle app over wall-clock windows (a few % of a core, minutes by
# design): a quick run starts them first and runs the others beside them, with this timeout.
# A full run keeps every module alone on the machine.
BESIDE_IN_QUICK = {"idle_bench": 240.0}
# A quick run is a smoke run: the other modules run two at a time (the machine has two
# cores), the slowest first so that both lanes end about together. A full run keeps every
# module alone on the machine: its figures are the ones that count.
QUICK_LANES = 2
SLOWEST_FIRST = ("voice_bench", "hub_bench", "hub_pg_bench", "feed_bench", "alerts_bench",
                 "table_bench")


def _modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*_bench.py"))


def _quick_order(modules: list[str]) -> list[str]:
    """``modules`` with the slowest first (in ``SLOWEST_FIRST`` order), then by name."""
    def rank(name: str) -> tuple[int, str]:
        slow = SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)
        return slow, name
    return sorted(modules, key=rank)


def _end_with_descendants(pid: int) -> None:
    """Kill a timed-out module and everything it started: a hub and its transcriber (in a
    session of its own) would otherwise run on and weigh on the modules after it."""
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(family, timeout=10)


def _run_module(name: str, quick: bool, timeout: float, *, root: Path = HERE.parent,
                env: dict[str, str] | None = None) -> dict[str, Any]:
    """One module in a fresh interpreter, run from ``root`` (the checkout whose ``benchmarks``
    it is) with ``env`` (this process's by default); its figures, or ``error.<name>``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, "-m", f"benchmarks.{name}", "--json", str(out)]
        if quick:
            cmd.append("--quick")
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=root, env=env)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_with_descendants(proc.pid)
            proc.communicate()
            return {f"error.{name}": f"timed out after {timeout:.0f} s"}
        took = time.monotonic() - started
        if proc.returncode != 0 or not out.exists():
            tail = (stderr or stdout).strip().splitlines()[-5:]
            return {f"error.{name}": " | ".join(tail) or f"exit code {proc.returncode}"}
        results: dict[str, Any] = json.loads(out.read_text())
        results[f"seconds.{name}"] = round(took, 1)
        return results


def _announced(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    print(f"running {name} ...", file=sys.stderr, flush=True)
    return _run_module(name, quick, timeout)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _ratio(key: str, results: dict[str, Any]) -> str:
    fig = BY_KEY[key]
    other_key = fig.baseline or fig.limit
    value, other = results.get(key), results.get(other_key or "")
    if not isinstance(value, int | float) or not isinstance(other, int | float) or not value:
        return ""
    if fig.baseline:  # how many times better than the naive way
        ratio = other / value if fig.better == "lower" else value / other
        return f"{ratio:,.1f}x better"
    share = value / other if fig.better == "higher" else other / value
    return f"{share:.0%} of limit"


def _verdict(key: str, results: dict[str, Any]) -> str:
    fig = BY_KEY[key]
    value = results.get(key)
    if fig.target is None or not isinstance(value, int | float) or math.isnan(value):
        return ""
    ok = value <= fig.target if fig.better == "lower" else value >= fig.target
    return "ok" if ok else "MISSED"


def missing_figures(results: dict[str, Any], *, quick: bool) -> list[str]:
    """Figures of ``targets.py`` a run of every module did not report (as a number)."""
    skip = FULL_ONLY if quick else QUICK_ONLY

    def measured(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value)

    return [f.key for f in FIGURES if f.key not in skip and not measured(results.get(f.key))]


def print_table(results: dict[str, Any]) -> None:
    header = (
        f"{'figure':32} {'value':>12} {'unit':5} {'target':>8} "
        f"{'baseline/limit':>16} {'ratio':>16}  verdict"
    )
    print(header)
    print("-" * len(header))
    for fig in FIGURES:
        if fig.key not in results:
            continue
        other = fig.baseline or fig.limit
        print(
            f"{fig.key:32} {_fmt(results[fig.key]):>12} {fig.unit:5} "
            f"{_fmt(fig.target) if fig.target is not None else '':>8} "
            f"{_fmt(results.get(other)) if other else '':>16} {_ratio(fig.key, results):>16}  "
            f"{_verdict(fig.key, results)}"
        )
    extra = sorted(k for k in results if k not in BY_KEY and not k.startswith("seconds."))
    for key in extra:
        print(f"{key:32} {_fmt(results[key]):>12}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 3 min in all)")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--only", default="", help="comma-separated module names, e.g. hub,table")
    args = parser.parse_args()
    wanted = {w.strip().removesuffix("_bench") for w in args.only.split(",") if w.strip()}
    modules = [m for m in _modules() if not wanted or m.removesuffix("_bench") in wanted]
    results: dict[str, Any] = {"quick": args.quick, "machine": machine()}
    timeout = 120.0 if args.quick else 1800.0
    started = time.monotonic()
    beside = {m: t for m, t in BESIDE_IN_QUICK.items() if m in modules} if args.quick else {}
    lanes = QUICK_LANES if args.quick else 1
    others = [m for m in (_quick_order(modules) if args.quick else modules) if m not in beside]
    with ThreadPoolExecutor(max_workers=max(1, len(beside))) as beside_pool, \
            ThreadPoolExecutor(max_workers=lanes) as pool:
        running = {}
        for name, limit in beside.items():
            print(f"running {name} beside the others ...", file=sys.stderr, flush=True)
            running[name] = beside_pool.submit(_run_module, name, args.quick, limit)
        if lanes > 1:
            print(f"running {len(others)} modules {lanes} at a time ...", file=sys.stderr,
                  flush=True)
        for future in [pool.submit(_announced, name, args.quick, timeout) for name in others]:
            results.update(future.result())
        for name, future in running.items():
            results.update(future.result())
            results[f"{name.removesuffix('_bench')}.ran_beside_others"] = True
    if lanes > 1:
        results["suite.quick_lanes"] = lanes
    every_module = not wanted
    if every_module:
        results["suite.quick_s" if args.quick else "suite.full_s"] = round(
            time.monotonic() - started, 1)
        results["missing_figures"] = missing_figures(results, quick=args.quick)
    print_table(results)
    if results.get("missing_figures"):
        print(f"\nfigures of benchmarks/targets.py not reported: "
              f"{', '.join(results['missing_figures'])}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwrote {args.json}", file=sys.stderr)
    if every_module and not args.quick:
        RESULTS_DOC.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {RESULTS_DOC}", file=sys.stderr)
    failed = any(k.startswith("error.") for k in results) or results.get("missing_figures")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
