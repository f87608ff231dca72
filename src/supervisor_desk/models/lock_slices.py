"""Long pure-Python work on a background thread, handing the interpreter lock over often.

A thread running Python keeps the interpreter lock until another thread has waited for it a
whole switch interval (5 ms), then takes it back as soon as it can. While the Qt thread paints
(a table's paint calls back into Python thousands of times), a background thread normalising
transcripts so took every other 5 ms: a 15 ms paint lasted 50-110 ms. Giving the lock away
every half millisecond leaves the Qt thread waiting at most that long each time
(docs/performance.md, offline open, third round). No Qt here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import batched

LOCK_SLICE_S = 0.0005
STEP_ITEMS = 256  # items between two looks at the clock in lock_sliced (~0.1-0.3 ms of work)


def _give_way() -> None:
    # ``sleep(0)`` releases the lock around a system call long enough for a waiting thread to
    # take it (measured: the Qt thread's paint p90 90 -> 34 ms). ``os.sched_yield`` did not:
    # with the waiter on the other core it returned first and the waiter, woken and beaten
    # again and again, never reached its 5 ms claim (one paint took 6.8 s).
    time.sleep(0)


class LockSlicer:
    """Call :meth:`tick` between small steps; it yields the lock once a slice is used up.

    Costs a clock read per step and a ``sleep(0)`` per slice (which releases the lock, so a
    waiting thread takes it).
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
