"""Compare two builds of the app on one benchmark module, runs alternated.

    python -m benchmarks.ab --base REV --module alerts_bench [--pairs 4] [--quick]
                            [--figure alerts.evaluation_p99_ms ...] [--bench-from tree]
                            [--together] [--json PATH]

The machines these figures come from drift: the same build of the same code read
``alerts.evaluation_p99_ms`` 0.93 ms and 1.50 ms forty minutes apart, with nothing else running.
A before/after of two runs an hour apart says more about the machine than about the change; only
runs taken in turns do. This runs the module on the working tree (uncommitted changes included)
and on a worktree of ``REV`` in turns — base, tree, tree, base, base, tree, … (ABBA: a steady
drift adds as much to one side as to the other) — each run in a fresh interpreter with its
side's ``src`` first on ``PYTHONPATH``, and prints for each figure both sides' medians, the
median of the paired differences and in how many pairs the tree read lower.

``--together`` runs each pair's two sides at the same time instead (two processes, each its own
hub and display): what drifts within minutes on a VM — the host's load, the processor's clock,
its caches — then weighs on both sides of a pair alike; the shown window's five-minute CPU of
one build read 1.57 and 2.14 % in one alternated A/B. For modules that measure a process's own
CPU at low load (``idle_bench``), not for those that load the machine.

``--bench-from tree`` runs the tree's benchmark module on both sides (a figure the module
gained since ``REV``, measured on the old code); by default each side runs its own. The
environment passes through, so ``SUPERVISOR_DESK_IDLE_*`` and the like apply to both sides.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.__main__ import _run_module as run_module

TREE = Path(__file__).resolve().parent.parent
# One run of a module at most (the idle module's full run with its shift-long curve: ~25 min).
MODULE_TIMEOUT_S = 3600.0
SIDES = ("base", "tree")

Figures = dict[str, float]
RunSide = Callable[[str, int], Figures]


@dataclass(frozen=True)
class Comparison:
    figure: str
    base_median: float
    tree_median: float
    difference_median: float  # tree - base, pair by pair
    tree_lower: int  # pairs in which the tree read lower
    pairs: int


def order(pairs: int) -> list[str]:
    """The sides in the order they run: ABBA per two pairs, so a steady drift evens out."""
    sides: list[str] = []
    for n in range(pairs):
        sides.extend(SIDES if n % 2 == 0 else reversed(SIDES))
    return sides


def numeric(results: dict[str, object]) -> Figures:
    """The figures of one run that are numbers (not the sizes' flags or the machine's facts)."""
    return {k: float(v) for k, v in results.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def alternate(run_side: RunSide, pairs: int) -> dict[str, list[Figures]]:
    """Each side's runs, in the order of :func:`order`; ``run_side(side, n)`` runs one."""
    runs: dict[str, list[Figures]] = {side: [] for side in SIDES}
    for n, side in enumerate(order(pairs)):
        runs[side].append(run_side(side, n))
    return runs


def together(run_side: RunSide, pairs: int) -> dict[str, list[Figures]]:
    """Each side's runs, the two of a pair at the same time (``run_side(side, n)``, n the
    pair's number, each in a thread of its own)."""
    runs: dict[str, list[Figures]] = {side: [] for side in SIDES}
    with concurrent.futures.ThreadPoolExecutor(len(SIDES)) as pool:
        for n in range(pairs):
            started = {side: pool.submit(run_side, side, n) for side in SIDES}
            for side, future in started.items():
                runs[side].append(future.result())
    return runs


def compare(runs: dict[str, list[Figures]], figures: Sequence[str] = ()) -> list[Comparison]:
    """Both sides figure by figure: ``figures`` (all that both sides reported if empty)."""
    base, tree = runs["base"], runs["tree"]
    pairs = min(len(base), len(tree))
    common = set.intersection(*(set(r) for r in base + tree)) if base and tree else set()
    names = [f for f in figures if f in common] if figures else sorted(common)
    out = []
    for name in names:
        b = [r[name] for r in base[:pairs]]
        t = [r[name] for r in tree[:pairs]]
        out.append(Comparison(
            name, statistics.median(b), statistics.median(t),
            statistics.median(y - x for x, y in zip(b, t, strict=True)),
            sum(y < x for x, y in zip(b, t, strict=True)), pairs))
    return out


def report(comparisons: Sequence[Comparison]) -> str:
    lines = [f"{'figure':44} {'base':>10} {'tree':>10} {'tree-base':>10} {'tree lower':>11}"]
    for c in comparisons:
        change = f"{c.difference_median / c.base_median * 100:+.0f} %" if c.base_median else ""
        lines.append(f"{c.figure:44} {c.base_median:10.4g} {c.tree_median:10.4g} "
                     f"{c.difference_median:+10.3g} {c.tree_lower:>5}/{c.pairs:<5} {change}")
    return "\n".join(lines)


def _worktree(rev: str, where: Path) -> Path:
    path = where / "base"
    subprocess.run(["git", "-C", str(TREE), "worktree", "add", "--detach", "--quiet",
                    str(path), rev], check=True)
    return path


# Together, each side gets an X display of its own: two benches racing for the default one
# could end on one server (and one side's clean-up then breaks the other's app).
SIDE_DISPLAYS = {"base": ":61", "tree": ":62"}


def _run_module(module: str, src: Path, bench_root: Path, quick: bool,
                display: str | None = None) -> Figures:
    env = dict(os.environ)
    if display is not None:
        env["SUPERVISOR_DESK_BENCH_DISPLAY"] = display
    paths = [str(src), str(bench_root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    results = run_module(module, quick, MODULE_TIMEOUT_S, root=bench_root, env=env)
    if error := results.get(f"error.{module}"):
        raise SystemExit(f"{module} failed on {src.parent}: {error}")
    return numeric(results)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--module", required=True, help="a benchmarks/*_bench.py module")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--figure", action="append", default=[],
                        help="a figure to report (repeatable; default: every figure)")
    parser.add_argument("--bench-from", choices=("own", "tree"), default="own")
    parser.add_argument("--together", action="store_true",
                        help="run each pair's two sides at the same time")
    parser.add_argument("--json", type=Path, help="write both sides' runs to this file")
    args = parser.parse_args(argv)
    module = args.module.removesuffix(".py")
    with tempfile.TemporaryDirectory(prefix="sd-ab-") as tmp:
        where = Path(tmp)
        base = _worktree(args.base, where)
        try:
            roots = {"base": base, "tree": TREE}

            def run_side(side: str, n: int) -> Figures:
                bench_root = TREE if args.bench_from == "tree" else roots[side]
                figures = _run_module(module, roots[side] / "src", bench_root, args.quick,
                                      SIDE_DISPLAYS[side] if args.together else None)
                print(f"  run {n + 1}: {side}", flush=True)  # n: the pair's, together
                return figures

            runs = (together if args.together else alternate)(run_side, args.pairs)
        finally:
            subprocess.run(["git", "-C", str(TREE), "worktree", "remove", "--force",
                            str(base)], check=False)
    print(report(compare(runs, args.figure)))
    if args.json:
        args.json.write_text(json.dumps({"base": args.base, "module": module, "runs": runs},
                                        indent=2))


if __name__ == "__main__":
    main()
