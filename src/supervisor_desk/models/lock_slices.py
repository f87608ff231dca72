"""Long pure-Python work on a background thread, handing the interpreter lock over often.

A thread running Python keeps the interpreter lock until another thread has waited for it a
whole switch interval (5 ms), then takes it back as soon as it can. While the Qt thread paints
(a table's paint calls back into Python thousands of times), a background thread normalising
transcripts so took every other 5 ms: a 15 ms paint lasted 50-110 ms. Giving the lock away
every half millisecond leaves the Qt thread waiting at most that long each time
(docs/performance.md, offline open, third round). No Qt here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import batched

LOCK_SLICE_S = 0.0005
STEP_ITEMS = 256  # items between two looks at the clock in lock_sliced (~0.1-0.3 ms of work)
# Both release the lock around the call. ``sleep(0)`` returns within a microsecond, mostly
# before the waiting thread has woken to take the lock (the waiter then starts its 5 ms over);
# ``sched_yield`` gives the core away first, so the waiter gets it (no such call on Windows).
_give_way: Callable[[], None] = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))


class LockSlicer:
    """Call :meth:`tick` between small steps; it yields the lock once a slice is used up.

    Costs a clock read per step, and a ``sched_yield`` (which releases the lock, so a waiting
    thread takes it) per slice; when no thread waits, the caller goes straight on.
    """

    __slots__ = ("_deadline", "slice_s")

    def __init__(self, slice_s: float | None = None) -> None:
        self.slice_s = LOCK_SLICE_S if slice_s is None else slice_s
        self._deadline = time.perf_counter() + self.slice_s

    def tick(self) -> None:
        if time.perf_counter() >= self._deadline:
            _give_way()
            self._deadline = time.perf_counter() + self.slice_s


def lock_sliced[T](items: Iterable[T], slice_s: float | None = None) -> Iterator[T]:
    """``items`` unchanged, the lock handed over between them as :class:`LockSlicer` does.

    For a pass over every row that is one expression (a sum, a dict of names) rather than a
    loop of its own: the clock is read once per :data:`STEP_ITEMS` items, not per item.
    """
    slicer = LockSlicer(slice_s)
    for step in batched(items, STEP_ITEMS):
        slicer.tick()
        yield from step
