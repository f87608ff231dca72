"""The hub process's garbage collector, set once the server is built.

Ingest allocates a few dozen container objects per event (validated models, dicts, tuples)
that die young; with CPython's default thresholds that was a young collection every ~100
events and a full walk of the hub's whole heap (FastAPI, pydantic schemas, the feed's replay
window) every ~10,000: 5-6 µs of CPU per event, a tenth of ingest. Freezing what the start-up
built takes it out of every walk, and a larger young generation collects ten times less often
(each collection a little longer: well under a millisecond).
"""

from __future__ import annotations

import gc

# Young generation: collections every 20,000 net allocations (CPython: 2,000); then as
# CPython does, older generations after 20 collections of the one below.
THRESHOLDS = (20_000, 20, 20)


def settle() -> None:
    """Collect the start-up garbage, freeze what survives, and widen the young generation.
    For the hub's own process only (``serve``): an embedded hub leaves its host's GC alone."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
