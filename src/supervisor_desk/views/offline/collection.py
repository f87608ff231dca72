"""Python's cycle collector kept on the Qt thread while a file is read by threads of ours.

Python runs an automatic collection in whichever thread's allocation crosses its threshold;
while a file is read, that is nearly always the reading thread (parsing or unpickling) or the
index's thread. A collection frees every unreachable object, and a Qt object left in a
reference cycle anywhere in the app (a parentless timer or widget) would then be destroyed off
the Qt thread: Qt warns "Timers cannot be stopped from another thread" and keeps a dangling
timer. So while a read runs, automatic collection is off and the Qt thread collects the young
generations itself, as often as the collector would have.
"""

from __future__ import annotations

import gc
import time

_holders = 0  # reads and windows in progress, each holding automatic collection off
_was_enabled = False
# The oldest generation's pass walks everything the app holds (a big file's index too): the
# automatic collector runs it only once the long-lived objects grew by a quarter, which a
# count cannot tell; at most this often here instead.
FULL_COLLECTION_EVERY_S = 30.0
_last_full = 0.0


def hold_collection() -> None:
    """A read or window starts (Qt thread): automatic collection off until all have ended."""
    global _holders, _was_enabled
    if _holders == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _holders += 1


def release_collection() -> None:
    """A read or window has ended (Qt thread): after the last, the collector runs as before."""
    global _holders
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0:
        collect_due()
        if _was_enabled:
            gc.enable()


class CollectionHold:
    """One holder's share (a window's): released once, by whichever comes first of its
    shutdown and its destruction (a window deleted without its shutdown must not leave the
    collector off for good)."""

    def __init__(self) -> None:
        self._held = True
        hold_collection()

    def release(self, *_: object) -> None:
        if self._held:
            self._held = False
            release_collection()


def collect_due() -> None:
    """On the Qt thread: the collection the allocations since the last one call for, if any,
    by the collector's own thresholds (a generation's collection counts towards the next's)."""
    global _last_full
    young, middle, old = gc.get_count()
    threshold_young, threshold_middle, threshold_old = gc.get_threshold()
    if threshold_young == 0 or young < threshold_young:
        return
    generation = 0
    if middle + 1 >= threshold_middle:
        generation = 1
        now = time.monotonic()
        if old + 1 >= threshold_old and now - _last_full >= FULL_COLLECTION_EVERY_S:
            generation = 2
            _last_full = now
    gc.collect(generation)
