"""The app's one clock: a tick on each wall-clock second, only while a widget that needs it shows.

Everything that shows a moving time (durations in the table, the dock and the Wall, alert ages,
the status bar's "Last event", the reconnect countdown, the metric cards, the breathing status
dot) subscribes here with the widget that shows it, instead of running a timer of its own: one
wake-up per second for the whole app while it is on screen, and none at all while every
subscriber is hidden, minimised or closed to the tray.

The tick lands just after each second boundary (a precise single-shot timer re-armed every
time), so every "12 s" on screen turns over together, in step with the system clock.
A subscriber is called when its widget is visible and its window is not minimised. When a
subscriber's widget shows again (a spontaneous show: restored, brought back from the tray) its
callback runs at once, so what comes on screen is current before the first paint, and the tick
starts again if it had stopped. The timer stops itself at the first tick that finds no
subscriber on screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

# After the boundary, never before it: a text computed at 11.999 s would show the old second.
_AFTER_BOUNDARY_MS = 3
# A change this close to the next tick may wait for it: one paint and one X flush of the window
# instead of two a few frames apart (the eye does not tell them apart).
HOLD_FOR_TICK_MS = 100
# Whatever the next tick is (its timer fires at most a second and _AFTER_BOUNDARY_MS away).
WITHIN_A_TICK_MS = 1_100


@dataclass(slots=True)
class _Subscriber:
    widget: QWidget
    callback: Callable[[], None]


def on_screen(widget: QWidget) -> bool:
    """Shown on screen: visible (with all its parents) and its window not minimised."""
    return widget.isVisible() and not widget.window().isMinimized()


_SCREEN_EVENTS = frozenset({QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.WindowStateChange})


class OnScreenWatch(QObject):
    """Tells when a window comes on screen or leaves it (shown and not minimised, or not)."""

    changed = Signal(bool)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self.on_screen = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Qt has already changed the state it tells of when the filter sees the event.
        # ``watched`` is another wrapper while the window's C++ object is being destroyed
        # (the hide it sends then): the window is no longer there to ask.
        if watched is self._window and event.type() in _SCREEN_EVENTS:
            shown = on_screen(self._window)
            if shown != self.on_screen:
                self.on_screen = shown
                self.changed.emit(shown)
        return False


class ScreenClock(QObject):
    """One aligned one-second tick for every widget on screen; no wake-up when none is."""

    ticked = Signal()  # each tick that found at least one subscriber on screen

    def __init__(self, parent: QObject | None = None, *,
                 now: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self._now = now
        self._subscribers: list[_Subscriber] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.ticks = 0  # ticks delivered (tests and the benchmark read it)
        self._in_tick = False
        # When the armed tick is due (time.monotonic()), None while none is armed: asked per
        # changed cell under feed load, where two calls into Qt each would add up.
        self._due_at: float | None = None
        # One-shot callbacks the next tick runs before its subscribers, with the object whose
        # they are (before_next_tick): one deleted meanwhile is not called.
        self._before: list[tuple[Callable[[], None], QObject]] = []

    # ---------------------------------------------------------------- subscribing

    def subscribe(self, widget: QWidget, callback: Callable[[], None]) -> None:
        """Call ``callback`` on every tick while ``widget`` is on screen (and as it shows)."""
        if not any(s.widget is widget for s in self._subscribers):
            widget.installEventFilter(self)
            key = id(widget)
            widget.destroyed.connect(lambda _obj=None, key=key: self._forget(key))
        window = widget.window()
        if window is not widget:
            # A restored window tells only itself (no show event reaches its children).
            window.installEventFilter(self)
        self._subscribers.append(_Subscriber(widget, callback))
        if on_screen(widget):
            self._arm()

    def unsubscribe(self, widget: QWidget, callback: Callable[[], None] | None = None) -> None:
        """Stop calling ``callback`` (every callback of ``widget`` when None)."""
        self._subscribers = [s for s in self._subscribers if not (
            s.widget is widget and (callback is None or s.callback == callback))]
        if not any(s.widget is widget for s in self._subscribers):
            widget.removeEventFilter(self)

    @property
    def running(self) -> bool:
        """The tick is armed: some subscriber was on screen at the last look."""
        return self._timer.isActive()

    @property
    def in_tick(self) -> bool:
        """The subscribers are being called for a tick (what they change paints with it)."""
        return self._in_tick

    def due_in_ms(self) -> int:
        """Milliseconds until the next tick, or -1 when none is armed.

        A change this close to the tick may wait for it: one paint and one flush of the
        window instead of two a few frames apart."""
        if self._due_at is None:
            return -1
        return max(0, int((self._due_at - time.monotonic()) * 1000))

    def holds_for_tick(self, within_ms: int = HOLD_FOR_TICK_MS) -> bool:
        """A change made now may be shown by the tick due within ``within_ms`` (never from
        inside a tick: that one is being shown)."""
        return not self._in_tick and 0 <= self.due_in_ms() <= within_ms

    def before_next_tick(self, callback: Callable[[], None], owner: QObject, *,
                         within_ms: int = HOLD_FOR_TICK_MS) -> bool:
        """Run ``callback`` (of ``owner``) once, at the start of the tick due within
        ``within_ms`` (before its subscribers, so what it changes is painted with the tick).
        False, and nothing kept, when no tick is that close (or this is one): the caller runs
        it now. The tick runs it even if nothing is left on screen to tick, unless ``owner``
        was deleted or :meth:`cancel_before_tick` was called.

        ``within_ms`` of a second or more: whatever may wait for the next tick (a banner's
        time up, gathered banners) shows with it, never in a paint of its own."""
        if not self.holds_for_tick(within_ms):
            return False
        if all(kept != callback for kept, _owner in self._before):
            self._before.append((callback, owner))
        return True

    def cancel_before_tick(self, callback: Callable[[], None]) -> None:
        self._before = [(kept, owner) for kept, owner in self._before if kept != callback]

    # ---------------------------------------------------------------- ticking

    def _arm(self) -> None:
        if self._timer.isActive():
            return
        ms = int(self._now() * 1000) % 1000
        interval = 1000 - ms + _AFTER_BOUNDARY_MS
        self._timer.start(interval)
        self._due_at = time.monotonic() + interval / 1000

    def _on_timer_timeout(self) -> None:
        self._due_at = None
        before, self._before = self._before, []
        self._subscribers = [s for s in self._subscribers if shiboken6.isValid(s.widget)]
        due = [s for s in self._subscribers if on_screen(s.widget)]
        if due:
            self._arm()
            self.ticks += 1
        self._in_tick = True
        try:
            for callback, owner in before:
                if shiboken6.isValid(owner):
                    callback()
            for subscriber in due:
                subscriber.callback()
        finally:
            self._in_tick = False
        if not due:
            return  # nothing on screen: stay asleep until a subscriber shows again
        self.ticked.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Show:
            self._bring_current([s for s in self._subscribers if s.widget is watched])
        elif (kind == QEvent.Type.WindowStateChange and isinstance(watched, QWidget)
              and not watched.isMinimized()):
            self._bring_current([s for s in self._subscribers
                                 if shiboken6.isValid(s.widget) and s.widget.window() is watched])
        return False

    def _bring_current(self, subscribers: list[_Subscriber]) -> None:
        # Comes on screen current, before its first paint; then the tick carries it on.
        for subscriber in subscribers:
            if on_screen(subscriber.widget):
                subscriber.callback()
                self._arm()

    def _forget(self, key: int) -> None:
        self._subscribers = [s for s in self._subscribers
                             if id(s.widget) != key and shiboken6.isValid(s.widget)]


_shared: ScreenClock | None = None


def screen_clock() -> ScreenClock:
    """The application's clock (one per QApplication, created on first use)."""
    global _shared
    app = QCoreApplication.instance()
    if _shared is None or _shared.parent() is not app:
        _shared = ScreenClock(app)
    return _shared
