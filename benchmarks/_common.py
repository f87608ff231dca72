"""Shared command line of each benchmark: ``python -m benchmarks.X [--quick] [--json P]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Results = dict[str, Any]


def rss_mb() -> float:
    """Current resident set size of this process, from the OS."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as ms: ...; ms()`` gives the elapsed milliseconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: ((end[0] if end else time.perf_counter()) - start) * 1000
    end.append(time.perf_counter())


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }


def main_for(run: Callable[[bool], Results]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few seconds")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    results = run(args.quick)
    for key, value in results.items():
        print(f"{key:40} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    sys.stdout.flush()
