"""Python's cycle collector run on the Qt thread, between frames: one policy for the process.

Python runs an automatic collection in whichever thread's allocation crosses its threshold. The
app always has threads of its own (executors, the offline reader and index, the asyncio default
executor), and they often allocate more than the Qt thread: a collection there frees every
unreachable object, and a Qt object left in a reference cycle anywhere in the app (a parentless
timer or widget) is then destroyed off the Qt thread ("QObject::killTimer: Timers cannot be
stopped from another thread", a dangling timer, a crash risk). An automatic collection also
lands wherever the Qt thread happens to allocate, often in the middle of applying a frame.

While the policy is held, automatic collection is off and the Qt thread collects:

- at the end of each live frame (``end_of_frame``, after the frame is applied, never inside);
- after each batch of an offline read (``collect_due``);
- from a coarse timer otherwise, checking often while garbage comes in and backing off to
  ``QUIET_MAX_MS`` when none does, so an idle app is not woken for nothing; each frame puts it
  off by ``QUIET_MAX_MS`` (the frames check), so while the feed moves it does not wake at all;
  with the app's window off screen (``set_on_screen``: closed to the tray or minimised, nothing
  painted, little allocated outside the feed's frames) it backs off to ``QUIET_OFF_SCREEN_MS``;

each time only the generations Python's own thresholds call for (``gc.get_count()`` against
``gc.get_threshold()``), the oldest generation's full pass at most every
``FULL_COLLECTION_EVERY_S``. After the live snapshot the long-lived objects are frozen, and
every ``REFREEZE_S`` what survived the young collection joins them, so a full pass never walks
the feed's history. If the Qt thread is kept busy so long that the young generation passes
``HARD_CAP_TIMES`` its threshold, a watchdog thread turns automatic collection back on until the
Qt thread collects again: memory stays bounded, at the price of that one hazard. Off screen
the watchdog looks every ``WATCHDOG_OFF_SCREEN_S`` instead, unless another holder (an offline
window or read, whose threads allocate) shares the policy.

The policy is opt-in per process: the app holds it for its lifetime, an offline read or window
for theirs (``PolicyHold``); code run without a holder (tests, benchmarks) keeps Python's
automatic collection.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer

log = logging.getLogger(__name__)

# The coarse timer: this soon again after a check that found garbage due, doubling up to
# QUIET_MAX_MS while none is.
BUSY_CHECK_MS = 100
QUIET_MAX_MS = 2000
# The oldest generation's pass walks everything the app holds (a big file's index too): the
# automatic collector runs it only once the long-lived objects grew by a quarter, which a count
# cannot tell; at most this often here instead.
FULL_COLLECTION_EVERY_S = 30.0
# After the snapshot: how often what survived since (new session versions, their messages)
# joins the frozen objects. Every second the young collection before each freeze walks one
# second of feed (5-7 ms CPU at 1,000 events/s; every 5 s it was 11-27 ms).
REFREEZE_S = 1.0
# The watchdog: how often it looks, and how far past the young threshold the count may run
# while the Qt thread does not collect before automatic collection is turned back on.
WATCHDOG_S = 2.0
HARD_CAP_TIMES = 50
# Off screen: what is left to allocate is the feed's frames (each collects at its end), so the
# coarse timer and the watchdog need not wake a laptop every 2 s.
QUIET_OFF_SCREEN_MS = 10_000
WATCHDOG_OFF_SCREEN_S = 10.0


class GarbageCollectionPolicy(QObject):
    """Automatic collection off; the Qt thread collects what the thresholds call for."""

    def __init__(self, parent: QObject | None = None, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._monotonic = monotonic
        self.refreeze_s = REFREEZE_S
        self.full_collection_every_s = FULL_COLLECTION_EVERY_S
        self._last_full = monotonic()
        self._frozen_at: float | None = None
        self._installed = False
        self._was_enabled = False
        # Set by the watchdog when it turned automatic collection back on.
        self._automatic_fallback = False
        self.fallbacks = 0
        self.collections = [0, 0, 0]  # by generation, for tests and benchmarks
        self.timer_checks = 0  # the coarse timer's wake-ups, for tests and benchmarks
        self._on_screen = True
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.CoarseTimer)
        self._timer.setInterval(BUSY_CHECK_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._watchdog_stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def installed(self) -> bool:
        return self._installed

    @property
    def quiet_max_ms(self) -> int:
        """The coarse timer's longest interval: longer while the app is off screen."""
        return QUIET_MAX_MS if self._on_screen else QUIET_OFF_SCREEN_MS

    @property
    def watch_interval_s(self) -> float:
        """How often the watchdog looks: seldom off screen, unless another holder shares us."""
        return WATCHDOG_S if self._on_screen or _holders > 1 else WATCHDOG_OFF_SCREEN_S

    @property
    def next_check_ms(self) -> int:
        """The coarse timer's current interval (for tests and benchmarks)."""
        return self._timer.interval()

    def set_on_screen(self, on_screen: bool) -> None:
        """The app's window came on screen or left it (closed to the tray, minimised)."""
        if on_screen == self._on_screen:
            return
        self._on_screen = on_screen
        if on_screen and self._installed and self._timer.interval() > QUIET_MAX_MS:
            self._timer.start(QUIET_MAX_MS)  # back to the on-screen pace at once

    def install(self) -> None:
        """Turn automatic collection off and start collecting here (on the Qt thread)."""
        if self._installed:
            return
        self._installed = True
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.setInterval(BUSY_CHECK_MS)
        self._timer.start()
        self._watchdog_stop.clear()
        self._watchdog = threading.Thread(target=self._watch, name="gc-watchdog", daemon=True)
        self._watchdog.start()

    def uninstall(self) -> None:
        """Collect what is due, then give collection back to Python as it was."""
        if not self._installed:
            return
        self._installed = False
        # A window released at interpreter exit: Qt may have deleted the timer already.
        if shiboken6.isValid(self._timer):
            self._timer.stop()
        self._watchdog_stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=WATCHDOG_S + 1.0)
            self._watchdog = None
        self.collect_due()
        if self._was_enabled:
            gc.enable()
        else:
            gc.disable()

    def freeze_long_lived(self) -> None:
        """The live snapshot is in: its thousands of long-lived objects leave the collector's
        walks (a full pass over them stalled the Qt thread 0.3-0.6 s). Replaced sessions are
        still freed by reference counting (they hold no cycles)."""
        gc.freeze()
        self._frozen_at = self._monotonic()

    def end_of_frame(self) -> None:
        """A live frame has been applied: collect what is due, and every ``refreeze_s`` after a
        snapshot collect the young generations and freeze what survived."""
        if self._installed:
            # The frames check: no wake-up of its own meanwhile.
            self._timer.start(self.quiet_max_ms)
        if self._frozen_at is not None and self.refreeze_s > 0:
            now = self._monotonic()
            if now - self._frozen_at >= self.refreeze_s:
                self._frozen_at = now
                self._collect(1)
                gc.freeze()
                return
        self.collect_due()

    def collect_due(self) -> bool:
        """On the Qt thread: the collection the allocations since the last one call for, if
        any, by the collector's own thresholds (a generation's collection counts towards the
        next's). Whether one ran."""
        self._take_back()
        young, middle, old = gc.get_count()
        threshold_young, threshold_middle, threshold_old = gc.get_threshold()
        if threshold_young == 0 or young < threshold_young:
            return False
        generation = 0
        if middle + 1 >= threshold_middle:
            generation = 1
            now = self._monotonic()
            if old + 1 >= threshold_old and now - self._last_full >= self.full_collection_every_s:
                generation = 2
                self._last_full = now
        self._collect(generation)
        return True

    def _collect(self, generation: int) -> None:
        self._take_back()
        gc.collect(generation)
        self.collections[generation] += 1

    def _take_back(self) -> None:
        """The Qt thread runs again: automatic collection off again if the watchdog had it
        on."""
        if self._automatic_fallback:
            self._automatic_fallback = False
            if self._installed:
                gc.disable()

    def _on_timer_timeout(self) -> None:
        self.timer_checks += 1
        collected = self.collect_due()
        interval = (BUSY_CHECK_MS if collected
                    else min(self.quiet_max_ms, self._timer.interval() * 2))
        self._timer.setInterval(interval)
        if self._installed:
            self._timer.start()

    def _watch(self) -> None:
        """The watchdog thread: only reads the counts, and at the cap hands collection back to
        Python until the Qt thread collects again (it never collects itself)."""
        while not self._watchdog_stop.wait(self.watch_interval_s):
            threshold_young = gc.get_threshold()[0]
            if (threshold_young and not self._automatic_fallback
                    and gc.get_count()[0] >= HARD_CAP_TIMES * threshold_young):
                self._automatic_fallback = True
                self.fallbacks += 1
                gc.enable()
                log.warning("the Qt thread has not collected garbage for a while: automatic "
                            "collection is on until it does")


_shared: GarbageCollectionPolicy | None = None
_holders = 0


def active_policy() -> GarbageCollectionPolicy | None:
    """The process's policy while anything holds it."""
    return _shared


def hold_policy() -> GarbageCollectionPolicy:
    """(Qt thread) The process's policy, installed until every holder has released it."""
    global _shared, _holders
    if _shared is None:
        _shared = GarbageCollectionPolicy()
        _shared.install()
    _holders += 1
    return _shared


def release_policy() -> None:
    """(Qt thread) One holder is done; after the last, Python collects as before."""
    global _shared, _holders
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0 and _shared is not None:
        policy, _shared = _shared, None
        policy.uninstall()
        policy.deleteLater()


class PolicyHold:
    """One holder's share (a window's): released once, by whichever comes first of its
    shutdown and its destruction (a window deleted without its shutdown must not leave the
    collector off for good)."""

    def __init__(self) -> None:
        self._held = True
        self.policy = hold_policy()

    def release(self, *_: object) -> None:
        if self._held:
            self._held = False
            release_policy()
