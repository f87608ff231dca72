"""The Qt thread's stalls while a benchmark runs: a 5 ms precise timer and the gaps between
its ticks (a long gap is a stall), with the Qt thread's own CPU time inside each gap."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer

from benchmarks._common import Results, percentile

STALL_TIMER_MS = 5


class StallMonitor:
    """A 5 ms precise timer on the Qt thread; a long gap between its ticks is a stall."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        # CPU time the Qt thread itself used within each gap: a gap far longer than that is
        # the thread waiting (for the interpreter lock, or for a core on a shared machine).
        self.busy: list[float] = []
        self._last = 0.0
        self._last_cpu = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(STALL_TIMER_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._last = time.monotonic()
        self._last_cpu = time.thread_time()
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

    def _on_timer_timeout(self) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        self.gaps.append((now - self._last) * 1000)
        self.busy.append((cpu - self._last_cpu) * 1000)
        self._last, self._last_cpu = now, cpu
        self.ticked()
