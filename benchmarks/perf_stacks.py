"""Where a thread's CPU goes, Python and Qt together, from ``perf`` samples with whole stacks.

    python -m benchmarks.perf_stacks PERF_DATA_OR_SCRIPT [--tid TID] [--under NAME]
                                     [--depth N] [--top K]

cProfile sees Python only (and slows it several times over); py-spy's native mode stops the
app at every sample. ``perf record -k 1 --call-graph dwarf`` of an app started with
``PYTHON_PERF_JIT_SUPPORT=1`` (Python 3.13), after ``perf inject --jit``, has every sample's
whole stack: Qt's C++ frames and each Python function as a ``py::qualname:/path/file.py``
frame (``benchmarks/idle_bench.py`` records it so with ``SUPERVISOR_DESK_IDLE_PROFILE_PERF=1``).
This reads ``perf script`` of it and prints each share of the samples:

- without ``--under``: the first Python function under the event loop's ``run_forever`` in each
  sample (what the loop's turn was doing: a paint, the feed's read, the clock's tick…); "(Qt)"
  for samples with no Python below the loop (Qt's own work: other widgets' paints, flushes),
  "(stack cut)" for samples whose stack did not reach the loop (deeper than the 16 KiB copied);
- with ``--under NAME``: below the outermost frame whose name contains NAME (Python or C++),
  the next ``--depth`` frames that say what ran (Python functions, Qt's ``Class::method``).

A share is of all the thread's samples: with the thread's CPU (idle_bench's
``main_cpu_pct``) it is that many percent of a core.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOP = "run_forever"
_FRAME = re.compile(r"^\s+[0-9a-f]+ (?P<sym>.*?)(?: \((?P<dso>[^()]*)\))?$")
_HEADER = re.compile(r"^\S.*?\s(?P<tid>\d+)\s")


@dataclass(frozen=True)
class Frame:
    symbol: str
    dso: str

    @property
    def python(self) -> bool:
        return self.symbol.startswith("py::")

    @property
    def name(self) -> str:
        """``qualname (file.py)`` for a Python frame; the symbol otherwise."""
        if self.python:
            qualname, _, path = self.symbol[4:].partition(":")
            return f"{qualname} ({Path(path).name})" if path else qualname
        return self.symbol

    @property
    def telling(self) -> bool:
        """A frame that says what ran: a Python function or a C++ ``Class::method``."""
        return self.python or ("::" in self.symbol and not self.symbol.startswith("["))


@dataclass(frozen=True)
class Sample:
    tid: int
    frames: tuple[Frame, ...]  # leaf first, as perf prints them


def read_samples(lines: Iterable[str]) -> list[Sample]:
    """The samples of ``perf script`` output (a header line, then one line per frame)."""
    samples: list[Sample] = []
    tid: int | None = None
    frames: list[Frame] = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if tid is not None:
                samples.append(Sample(tid, tuple(frames)))
            tid, frames = None, []
            continue
        if line[0] not in " \t":
            if tid is not None:
                samples.append(Sample(tid, tuple(frames)))
            header = _HEADER.match(line + " ")
            tid, frames = (int(header["tid"]) if header else 0), []
            continue
        frame = _FRAME.match(line)
        if frame is not None and tid is not None:
            frames.append(Frame(frame["sym"], Path(frame["dso"] or "").name))
    if tid is not None:
        samples.append(Sample(tid, tuple(frames)))
    return samples


def under_loop(samples: Sequence[Sample], loop: str = LOOP) -> collections.Counter[str]:
    """Samples by the first Python function below the event loop."""
    counts: collections.Counter[str] = collections.Counter()
    for sample in samples:
        frames = sample.frames
        loops = [i for i, f in enumerate(frames) if f.python and loop in f.symbol]
        if not loops:
            counts["(stack cut)"] += 1
            continue
        below = [f for f in reversed(frames[:min(loops)]) if f.python]
        counts[below[0].name if below else "(Qt)"] += 1
    return counts


def under(samples: Sequence[Sample], name: str, depth: int = 1) -> tuple[
        int, collections.Counter[str]]:
    """How many samples ran below a frame named like ``name``, and by what ran there."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for sample in samples:
        frames = sample.frames
        hits = [i for i, f in enumerate(frames) if name in f.symbol]
        if not hits:
            continue
        total += 1
        below = [f.name for f in reversed(frames[:max(hits)]) if f.telling][:depth]
        counts[" > ".join(below) if below else "(itself)"] += 1
    return total, counts


def script_lines(path: Path) -> Iterable[str]:
    with path.open("rb") as head:
        magic = head.read(8)
    if magic == b"PERFILE2":  # a perf.data: perf script reads it
        out = subprocess.run(["perf", "script", "-i", str(path), "-F", "comm,tid,ip,sym,dso"],
                             capture_output=True, text=True, errors="replace", check=True)
        return out.stdout.splitlines()
    return path.read_text(errors="replace").splitlines()


def report(samples: Sequence[Sample], *, name: str | None = None, depth: int = 1,
           top: int = 30) -> str:
    n = len(samples)
    if not n:
        return "no samples\n"
    lines = [f"{n} samples"]
    if name is None:
        counts = under_loop(samples)
        lines.append("first Python function under the event loop:")
    else:
        total, counts = under(samples, name, depth)
        lines.append(f"under {name}: {100 * total / n:.1f} %")
    lines += [f"{100 * count / n:6.1f} %  {what}" for what, count in counts.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="perf.data (after perf inject --jit) or "
                        "the text of perf script")
    parser.add_argument("--tid", type=int, help="one thread's samples (the app's main: its pid)")
    parser.add_argument("--under", help="break down what ran below frames named like this")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    samples = read_samples(script_lines(args.source))
    if args.tid is not None:
        samples = [s for s in samples if s.tid == args.tid]
    sys.stdout.write(report(samples, name=args.under, depth=args.depth, top=args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
