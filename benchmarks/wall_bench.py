"""The Wall: 9 tiles following their sessions at 1,000 messages/s, on the Qt thread.

Messages arrive as the LiveViewModel hands them over: once per 80 ms frame, in one list, for
nine live sessions each with a 200-message transcript already loaded. A 5 ms heartbeat timer
records every gap of the Qt thread.

Figures:
- ``wall.max_stall_ms``: the longest gap between heartbeats (target <= 50 ms);
- ``wall.p99_stall_ms``: the 99th percentile gap;
- ``wall.max_stall_cpu_ms`` / ``wall.p99_stall_cpu_ms``: the Qt thread's CPU time within a
  gap: the work that blocked it, without the waits for a core a loaded machine adds (on an
  idle machine a gap is about its CPU time);
- ``wall.messages_per_s``: messages applied to the tiles per second of wall-clock time;
- ``wall.frame_p50_ms`` / ``wall.frame_max_ms``: one frame's ``on_messages`` (the messages
  queued per tile; each tile then takes its own in a turn of the event loop, appending and
  measuring its rows; that and the paints are in the heartbeat gaps);
- ``wall.qt_cpu_pct``: the Qt thread's CPU time over the run, in % of one core;
- ``wall.messages_behind_at_end``: messages still queued for a tile when the feed stops (the
  wall keeps up when it is about one frame's worth or less).

Run: ``python -m benchmarks.wall_bench [--quick] [--json out.json]``.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from benchmarks._common import Results, main_for, percentile
from benchmarks.detail_bench import T0, build_detail
from supervisor_desk.models.wire import Message, SessionDetail
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy
from supervisor_desk.views.tasks import standalone_scope
from supervisor_desk.views.wall.viewmodel import WallViewModel
from supervisor_desk.views.wall.window import WallWindow

TILES = 9
RATE = 1000  # messages per second
FRAME_MS = 80


def run(quick: bool) -> Results:
    app = QApplication.instance() or QApplication([])
    seconds = 3 if quick else 20
    details = {f"wall-{i}": build_detail(200, f"wall-{i}", live=True) for i in range(TILES)}
    sessions = [d.session for d in details.values()]
    vm = WallViewModel(standalone_scope("wall-bench"))
    vm.sessions = lambda: sessions
    vm.layout_name = "3x3"
    window = WallWindow(vm)
    window.resize(1600, 1000)
    window.show()
    vm.reselect(replace_all=True)
    for tile in vm.tiles:  # what the hub's load gives (no loader here): the transcript so far
        assert tile is not None
        detail: SessionDetail = details[tile.session_id]
        tile.model.set_rows([])
        vm.on_messages(detail.messages)
    settle = time.perf_counter()
    while time.perf_counter() - settle < 1.0:  # the loaded transcripts' first layout
        app.processEvents()
        time.sleep(0.005)

    # The app's collection policy (views/gc_policy.py): the snapshot frozen, then collections
    # on the Qt thread at the end of each frame that feeds the wall, as LiveViewModel does.
    gc_policy = GarbageCollectionPolicy()
    gc_policy.install()
    gc_policy.freeze_long_lived()
    per_frame = RATE * FRAME_MS // 1000
    sent = 0
    frame_times: list[float] = []
    gaps: list[float] = []
    cpu_gaps: list[float] = []
    last = time.perf_counter()
    last_cpu = time.thread_time()

    def beat() -> None:
        nonlocal last, last_cpu
        now, now_cpu = time.perf_counter(), time.thread_time()
        gaps.append((now - last) * 1000)
        cpu_gaps.append((now_cpu - last_cpu) * 1000)
        last, last_cpu = now, now_cpu

    def frame() -> None:
        nonlocal sent
        started = time.perf_counter()
        batch: list[Message] = []
        for k in range(per_frame):
            sid = f"wall-{(sent + k) % TILES}"
            seq = 1000 + sent + k
            batch.append(Message.model_validate({
                "id": f"live-{seq}", "session_id": sid, "seq": seq,
                "at": T0 + timedelta(seconds=seq),
                "author": {"role": "customer" if seq % 2 else "ai"},
                "text": f"live message {seq}: is the refund on its way?",
            }))
        sent += per_frame
        vm.on_messages(batch)  # Qt paints the tiles on its own, as in the app
        gc_policy.end_of_frame()
        frame_times.append((time.perf_counter() - started) * 1000)

    heartbeat = QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(beat)
    feeder = QTimer()
    feeder.setInterval(FRAME_MS)
    feeder.timeout.connect(frame)
    began = time.perf_counter()
    began_cpu = time.thread_time()
    heartbeat.start()
    feeder.start()
    while time.perf_counter() - began < seconds:
        app.processEvents()
        time.sleep(0.001)
    feeder.stop()
    heartbeat.stop()
    gc_policy.uninstall()
    behind = sum(len(batch) for batch in vm._pending.values())  # queued, not yet on a tile
    took = time.perf_counter() - began
    cpu = time.thread_time() - began_cpu
    summary: dict[str, Any] = {
        "wall.max_stall_ms": round(max(gaps), 1),
        "wall.p99_stall_ms": round(percentile(gaps, 99), 1),
        "wall.max_stall_cpu_ms": round(max(cpu_gaps), 1),
        "wall.p99_stall_cpu_ms": round(percentile(cpu_gaps, 99), 1),
        "wall.messages_per_s": round(sent / took),
        "wall.frame_p50_ms": round(percentile(frame_times, 50), 1),
        "wall.frame_max_ms": round(max(frame_times), 1),
        "wall.messages_behind_at_end": behind,
        "wall.qt_cpu_pct": round(100 * cpu / took, 1),
        "wall.tiles": TILES,
        "wall.seconds": seconds,
    }
    window.close()
    return summary


if __name__ == "__main__":
    main_for(run)
