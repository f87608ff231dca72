"""benchmarks/ab.py: two builds measured in turns, compared figure by figure."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest
from benchmarks.ab import TREE, alternate, compare, main, numeric, order, report, together

from benchmarks import ab


def test_the_sides_take_turns_so_a_steady_drift_weighs_on_both_alike() -> None:
    assert order(1) == ["base", "tree"]
    assert order(4) == ["base", "tree", "tree", "base", "base", "tree", "tree", "base"]
    # A machine slowing by 1 a run: each side's runs add up to the same drift.
    runs = alternate(lambda side, n: {"x.ms": 10.0 + n}, 4)
    assert sum(r["x.ms"] for r in runs["base"]) == sum(r["x.ms"] for r in runs["tree"])


def test_together_the_two_sides_of_a_pair_run_at_the_same_time() -> None:
    both = threading.Barrier(2, timeout=10)  # broken unless both sides wait at once

    def run_side(side: str, n: int) -> dict[str, float]:
        both.wait()
        return {"x.ms": float(n), "side": 0.0 if side == "base" else 1.0}

    runs = together(run_side, 3)
    assert [r["x.ms"] for r in runs["base"]] == [r["x.ms"] for r in runs["tree"]] == [0, 1, 2]
    assert {r["side"] for r in runs["tree"]} == {1.0}


def test_only_numbers_are_figures() -> None:
    assert numeric({"a.ms": 1, "b.ms": 2.5, "quick": True, "machine": {"cpus": 2},
                    "idle.display": ":59"}) == {"a.ms": 1.0, "b.ms": 2.5}


def test_the_comparison_pairs_runs_and_counts_where_the_tree_read_lower() -> None:
    runs = {"base": [{"a.ms": 1.0, "b.ms": 5.0}, {"a.ms": 1.2, "b.ms": 5.0},
                     {"a.ms": 1.1, "b.ms": 5.0}],
            "tree": [{"a.ms": 0.8, "b.ms": 6.0}, {"a.ms": 1.3, "b.ms": 6.0},
                     {"a.ms": 0.9, "b.ms": 6.0, "c.ms": 1.0}]}
    by_name = {c.figure: c for c in compare(runs)}
    assert set(by_name) == {"a.ms", "b.ms"}  # c.ms: not in every run
    a = by_name["a.ms"]
    assert (a.base_median, a.tree_median, a.tree_lower, a.pairs) == (1.1, 0.9, 2, 3)
    assert a.difference_median == pytest.approx(-0.2)
    assert by_name["b.ms"].tree_lower == 0
    chosen = compare(runs, ["b.ms", "nowhere.ms"])
    assert [c.figure for c in chosen] == ["b.ms"]
    assert "+20 %" in report(chosen)


def test_a_module_runs_on_both_builds_in_turns_and_the_base_worktree_goes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERVISOR_DESK_BENCH_TINY", "1")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    out = tmp_path / "ab.json"
    main(["--base", "HEAD", "--module", "table_bench", "--quick", "--pairs", "1",
          "--figure", "table.tick_ms", "--json", str(out)])
    printed = capsys.readouterr().out
    assert printed.index("run 1: base") < printed.index("run 2: tree")
    assert "table.tick_ms" in printed
    runs = json.loads(out.read_text())["runs"]
    assert len(runs["base"]) == len(runs["tree"]) == 1
    assert runs["base"][0]["table.tick_ms"] > 0 and runs["tree"][0]["table.tick_ms"] > 0
    worktrees = subprocess.run(["git", "-C", str(TREE), "worktree", "list"],
                               capture_output=True, text=True, check=True).stdout
    assert "sd-ab-" not in worktrees


def test_together_each_side_has_an_x_display_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}

    def run_module(module: str, quick: bool, timeout: float, *, root: Path,
                   env: dict[str, str]) -> dict[str, object]:
        side = "tree" if root == TREE else "base"
        seen[side] = env["SUPERVISOR_DESK_BENCH_DISPLAY"]
        return {"x.ms": 1.0}

    monkeypatch.setattr(ab, "run_module", run_module)
    main(["--base", "HEAD", "--module", "idle_bench", "--pairs", "1", "--together"])
    assert set(seen) == {"base", "tree"} and seen["base"] != seen["tree"]
