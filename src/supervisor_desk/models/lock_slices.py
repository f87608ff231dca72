"""Long pure-Python work on a background thread that stands aside while the Qt thread paints.

A thread running Python keeps the interpreter lock until another thread has waited for it a
whole switch interval (5 ms), then takes it back as soon as it can. A table's paint calls back
into Python hundreds of times (each cell's data), so beside a background thread normalising
transcripts each call waited for the lock: a 15 ms paint lasted 50-110 ms. Handing the lock
over with ``sleep(0)`` every half millisecond cut that, but still left each call waiting up
to a slice, and under load each ``sleep(0)`` also gave the thread's core away: the index
thread of a 30,000-session open spent ~3 s of its wall time in them.

So the Qt side marks the stretches where it calls into Python densely (a table's paint, a
History page's model reset) with :data:`foreground`, and a background thread's
:class:`LockSlicer` waits, lock released, for such a stretch to end (a paint takes tens of
milliseconds); otherwise it runs on, and :func:`short_switch_interval` bounds how long the Qt
thread's other, small visits to Python wait for the lock (docs/performance.md, offline open,
fourth round). No Qt here.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import batched
from types import TracebackType

STEP_ITEMS = 256  # items between two looks at the flag in lock_sliced (~0.1-0.3 ms of work)
# The longest a background thread stands aside for one foreground stretch: a safety bound
# (a paint takes tens of milliseconds), so background work is never held up for good.
PARK_LIMIT_S = 0.5
# The switch interval while a background thread works beside the Qt thread: a visit of the Qt
# thread to Python outside a foreground stretch (a timer, a signal) waits at most this long.
BUSY_SWITCH_INTERVAL_S = 0.001


class ForegroundWork:
    """``with foreground:`` around the Qt thread's Python-dense work; nests.

    Entered and left by one thread (Qt's); background threads read :attr:`busy` and wait
    with :meth:`wait_until_idle`.
    """

    __slots__ = ("_depth", "_idle")

    def __init__(self) -> None:
        self._depth = 0
        self._idle = threading.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self._depth > 0

    def wait_until_idle(self, timeout: float = PARK_LIMIT_S) -> bool:
        """Block, the interpreter lock released, until no foreground stretch runs."""
        return self._idle.wait(timeout)

    def __enter__(self) -> None:
        self._depth += 1
        self._idle.clear()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._idle.set()


foreground = ForegroundWork()

_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def short_switch_interval() -> Iterator[None]:
    """:data:`BUSY_SWITCH_INTERVAL_S` as the interpreter's switch interval while inside (the
    interval is the process's: the first to enter sets it, the last to leave restores it)."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(BUSY_SWITCH_INTERVAL_S)
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class LockSlicer:
    """Call :meth:`tick` between small steps (~0.05-0.3 ms of work each); it stands aside,
    the lock released, while :data:`foreground` is busy. Costs an attribute read per step."""

    __slots__ = ()

    def tick(self) -> None:
        if foreground.busy:
            foreground.wait_until_idle()


def lock_sliced[T](items: Iterable[T]) -> Iterator[T]:
    """``items`` unchanged, standing aside between them as :class:`LockSlicer` does.

    For a pass over every row that is one expression (a sum, a dict of names) rather than a
    loop of its own: the flag is read once per :data:`STEP_ITEMS` items, not per item.
    """
    slicer = LockSlicer()
    for step in batched(items, STEP_ITEMS):
        slicer.tick()
        yield from step
