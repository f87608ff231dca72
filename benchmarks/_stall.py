"""The Qt thread's stalls while a benchmark runs: a 5 ms precise timer and the gaps between
its ticks (a long gap is a stall), with the Qt thread's own CPU time inside each gap, and
which named pieces of work (a frame's apply, a paint, a collection...) that CPU went to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import Qt, QTimer

from benchmarks._common import Results, percentile

STALL_TIMER_MS = 5
# How many of the busiest gaps the figures describe piece by piece.
BUSIEST_GAPS = 5


class GapWork:
    """Qt-thread CPU of named pieces of work, gap by gap.

    Pieces nest (a frame's flush calls apply_changes, whose signals lay the view out): each
    piece is charged its own CPU only, its children's go to them, so a gap's pieces add up to
    no more than the gap's CPU; what no piece covered is the event loop, timers and code
    nobody named."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self._children: list[float] = []  # per open piece: CPU ms of the pieces inside it

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        started = time.thread_time()
        self._children.append(0.0)
        try:
            yield
        finally:
            took = (time.thread_time() - started) * 1000
            inside = self._children.pop()
            self.current[name] = self.current.get(name, 0.0) + took - inside
            if self._children:
                self._children[-1] += took

    def add(self, name: str, cpu_ms: float) -> None:
        """A piece timed elsewhere (a collection, from the collector's callbacks): charged to
        ``name`` and taken off the piece it ran inside."""
        self.current[name] = self.current.get(name, 0.0) + cpu_ms
        if self._children:
            self._children[-1] += cpu_ms

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, measured as ``name`` at every call."""
        def measured(*args: Any, **kwargs: Any) -> Any:
            with self.measure(name):
                return function(*args, **kwargs)
        return measured

    def take(self) -> dict[str, float]:
        """The pieces since the last take (one gap), and start the next gap."""
        pieces, self.current = self.current, {}
        return pieces


class StallMonitor:
    """A 5 ms precise timer on the Qt thread; a long gap between its ticks is a stall."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        # CPU time the Qt thread itself used within each gap: a gap far longer than that is
        # the thread waiting (for the interpreter lock, or for a core on a shared machine).
        self.busy: list[float] = []
        # What that CPU went to, per gap: the pieces a benchmark named with ``work``.
        self.work = GapWork()
        self.work_in_gap: list[dict[str, float]] = []
        self._last = 0.0
        self._last_cpu = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(STALL_TIMER_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._last = time.monotonic()
        self._last_cpu = time.thread_time()
        self.work.take()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def ticked(self) -> None:
        """After each tick; a benchmark's subclass notes what happened within the gap."""

    def figures(self, prefix: str) -> Results:
        """``max_stall_ms``, ``stall_p99_ms`` and ``stalls_over_50ms`` under ``prefix``."""
        return {
            f"{prefix}max_stall_ms": round(max(self.gaps, default=float("nan")), 1),
            f"{prefix}stall_p99_ms": round(percentile(self.gaps, 99), 1),
            f"{prefix}stalls_over_50ms": sum(1 for g in self.gaps if g > 50),
        }

    def work_figures(self, prefix: str) -> Results:
        """Where the busiest gaps' CPU went: ``busiest_gaps`` (the few busiest, each its CPU,
        wall and pieces; ``other`` is what no piece covered) and ``work_max_in_gap_ms`` (per
        piece, the most CPU it took within one gap)."""
        order = sorted(range(len(self.busy)), key=self.busy.__getitem__, reverse=True)
        busiest = []
        for i in order[:BUSIEST_GAPS]:
            pieces = self.work_in_gap[i]
            named = {k: round(v, 1) for k, v in sorted(pieces.items(), key=lambda kv: -kv[1])
                     if v >= 0.05}
            named["other"] = round(self.busy[i] - sum(pieces.values()), 1)
            busiest.append({"cpu_ms": round(self.busy[i], 1), "wall_ms": round(self.gaps[i], 1),
                            "work": named})
        most: dict[str, float] = {}
        for pieces in self.work_in_gap:
            for name, ms in pieces.items():
                most[name] = max(most.get(name, 0.0), ms)
        return {
            f"{prefix}busiest_gaps": busiest,
            f"{prefix}work_max_in_gap_ms": {k: round(v, 1) for k, v in sorted(most.items())},
        }

    def _on_timer_timeout(self) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        self.gaps.append((now - self._last) * 1000)
        self.busy.append((cpu - self._last_cpu) * 1000)
        self.work_in_gap.append(self.work.take())
        self._last, self._last_cpu = now, cpu
        self.ticked()
