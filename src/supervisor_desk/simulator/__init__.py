"""The traffic simulator: a believable contact centre that is a platform like any other.

It talks to a hub only over HTTP (``POST /api/v1/ingest`` with an ingest token) and imports
neither the hub's internals nor the desktop; ``supervisor-desk --demo`` and
``supervisor-hub serve --simulate`` start it.

- :mod:`.content`: the cast and the lines (plain data).
- :mod:`.story`: one session told event by event.
- :mod:`.traffic`: the live stream of about ``target_live`` interleaved sessions.
- :mod:`.runner`: pacing that stream and posting it, riding out hub restarts.
- :mod:`.dataset`: complete past histories as ingest batches, for tests and benchmarks.
"""

from __future__ import annotations

from supervisor_desk.simulator.dataset import build_dataset
from supervisor_desk.simulator.runner import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    SimulatorError,
    run_simulator,
)
from supervisor_desk.simulator.traffic import TrafficSimulator

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "SimulatorError",
    "TrafficSimulator",
    "build_dataset",
    "run_simulator",
]
