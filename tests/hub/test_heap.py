"""The hub process's collector settings: set by ``serve`` in its own process only."""

from __future__ import annotations

import json
import subprocess
import sys

from supervisor_desk.hub import heap


def test_settle_freezes_the_start_up_heap_and_widens_the_young_generation() -> None:
    # In a child: the collector's settings are process-wide and this process is the tests'.
    code = (
        "import gc, json\n"
        "from supervisor_desk.hub import heap\n"
        "import supervisor_desk.hub.app\n"
        "before = gc.get_freeze_count()\n"
        "heap.settle()\n"
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    before, after, thresholds = json.loads(out)
    assert before == 0
    assert after > 10_000  # the app's modules, schemas and routes are out of every walk
    assert tuple(thresholds) == heap.THRESHOLDS
