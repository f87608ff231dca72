"""The app's asyncio loop on the Qt thread: qasync's loop with a cheaper way to run callbacks.

qasync runs every ``call_soon`` on a Qt timer of its own (``startTimer(0)``, a Python
``timerEvent``, ``killTimer``: three shiboken calls and a Qt timer event per callback), and a
ready socket goes through one more such timer before its reader runs. :class:`DeskEventLoop`
keeps qasync's running, stopping, closing, executor and exception handling, and replaces how
callbacks get to run:

- ready handles wait in one FIFO deque; one single-shot zero ``QTimer`` runs them a *turn* at
  a time, as asyncio's own loop does: a handle scheduled during a turn runs on the next one,
  so Qt's own events (paints, input, its timers) get in between and a callback that keeps
  rescheduling itself cannot starve them;
- ``call_later``/``call_at`` keep asyncio's heap of timer handles with one precise ``QTimer``
  armed for the earliest deadline (a cancelled one costs nothing until it is the earliest);
- a socket notifier runs its reader in its own slot instead of through another timer (behind
  the handles already waiting if there are any: then it joins the queue, muted until it ran);
  what the reader wakes runs on the next turn. A notifier re-entered from a nested Qt loop
  inside its own reader is muted until the reader returns, as qasync's disable/re-enable
  guard does, without its two calls on every wake-up;
- ``call_soon_threadsafe`` hands the handle over with one queued Qt signal.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from asyncio import events
from collections.abc import Callable
from contextvars import Context
from typing import Any

import qasync
from PySide6.QtCore import QObject, QSocketNotifier, Qt, QTimer, Signal

log = logging.getLogger(__name__)

# asyncio's own limits (base_events): the heap is rebuilt when more than half of at least 100
# timer handles are cancelled; no single wait longer than a day.
_MIN_SCHEDULED_TIMER_HANDLES = 100
_MIN_CANCELLED_TIMER_HANDLES_FRACTION = 0.5
_MAXIMUM_WAIT_MS = 24 * 3600 * 1000


class _Waker(QObject):
    """Carries ``call_soon_threadsafe``'s wake-up to the loop's thread."""

    woken = Signal()


class _Watch:
    """One file descriptor watched for reading or writing: its notifier and current reader."""

    __slots__ = ("fd", "handle", "muted", "notifier", "running")

    def __init__(self, fd: int, notifier: QSocketNotifier, handle: asyncio.Handle) -> None:
        self.fd = fd
        self.notifier = notifier
        self.handle = handle
        self.running = False
        self.muted = False


def _fileno(fd: Any) -> int:
    if isinstance(fd, int):
        return fd
    try:
        return int(fd.fileno())
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid file object: {fd!r}") from None


class DeskEventLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's ``QEventLoop`` that runs ready callbacks in turns from one zero timer."""

    # asyncio's own bookkeeping (BaseEventLoop), typed loosely: TimerHandle's _when and
    # _scheduled are private.
    _current_handle: asyncio.Handle | None
    _scheduled: list[Any]
    _timer_cancelled_count: int

    def __init__(self, app: Any = None, set_running_loop: bool = False,
                 already_running: bool = False) -> None:
        # Before qasync's __init__: with already_running it starts asyncio's self-pipe reader.
        self._readers: dict[int, _Watch] = {}
        self._writers: dict[int, _Watch] = {}
        # Notifiers removed inside their own activation live until that activation is over.
        self._retired: list[QSocketNotifier] = []
        self._notifier_depth = 0
        self._turn_depth = 0
        self._turn_armed = False
        self._deadline_armed: float | None = None
        self._turn_timer: QTimer | None = QTimer()
        self._turn_timer.setSingleShot(True)
        self._turn_timer.setInterval(0)
        self._turn_timer.timeout.connect(self._on_turn_timer_timeout)
        self._deadline_timer: QTimer | None = QTimer()
        self._deadline_timer.setSingleShot(True)
        self._deadline_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._deadline_timer.timeout.connect(self._on_deadline_timer_timeout)
        self._waker: _Waker | None = _Waker()
        self._waker.woken.connect(self._on_waker_woken, Qt.ConnectionType.QueuedConnection)
        super().__init__(app, set_running_loop, already_running)

    # -- scheduling ---------------------------------------------------------------------

    def call_soon(self, callback: Callable[..., Any], *args: Any,
                  context: Context | None = None) -> asyncio.Handle:
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon")
        handle = events.Handle(callback, args, self, context)
        self._ready.append(handle)
        if not self._turn_armed and not self._turn_depth:
            self._arm_turn()
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any,
                   context: Context | None = None) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: Context | None = None) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_at")
        timer = events.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]  # asyncio's own bookkeeping
        if self._deadline_armed is None or when < self._deadline_armed:
            self._arm_deadline(when)
        return timer

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any,
                             context: Context | None = None) -> asyncio.Handle:
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle = events.Handle(callback, args, self, context)
        self._ready.append(handle)  # deque.append is atomic; only the loop's thread pops
        waker = self._waker
        if waker is not None:
            waker.woken.emit()
        return handle

    def _add_callback(self, handle: asyncio.Handle, delay: float = 0) -> None:
        """asyncio's entry for a signal handler's callback (``add_signal_handler``)."""
        if handle._cancelled:
            return
        self._ready.append(handle)
        if not self._turn_armed and not self._turn_depth:
            self._arm_turn()

    # -- turns ------------------------------------------------------------------------

    def _arm_turn(self) -> None:
        timer = self._turn_timer
        if timer is not None:
            self._turn_armed = True
            timer.start()

    def _run_turn(self) -> None:
        """Run the handles ready now; those they schedule wait for the next turn."""
        ready = self._ready
        todo = len(ready)
        if not todo:
            return
        self._turn_depth += 1
        debug = self._debug
        handle: asyncio.Handle | None = None
        try:
            # A nested Qt loop inside a handle may run turns of its own: stop when it emptied it.
            while todo and ready:
                todo -= 1
                handle = ready.popleft()
                if handle._cancelled:
                    continue
                if debug:
                    self._run_timed(handle)
                else:
                    handle._run()
        finally:
            handle = None  # breaks a cycle through a failed callback's traceback
            self._turn_depth -= 1
            if ready and not self._turn_armed and not self._turn_depth:
                self._arm_turn()

    def _run_timed(self, handle: asyncio.Handle) -> None:
        """asyncio's debug mode: name the callbacks that hold the loop too long."""
        try:
            self._current_handle = handle  # asyncio's: named in its exception contexts
            started = self.time()
            handle._run()
            took = self.time() - started
            if took >= self.slow_callback_duration:
                log.warning("Executing %s took %.3f seconds", handle, took)
        finally:
            self._current_handle = None

    def _on_turn_timer_timeout(self) -> None:
        self._turn_armed = False
        if self._retired and not self._notifier_depth:
            self._retired.clear()
        self._run_turn()

    def _on_waker_woken(self) -> None:
        if self._turn_timer is not None:
            self._run_turn()

    # -- timers -----------------------------------------------------------------------

    def _arm_deadline(self, when: float) -> None:
        timer = self._deadline_timer
        if timer is None:
            return
        self._deadline_armed = when
        # Rounded up: a precise Qt timer never fires before its interval, so a handle is
        # never found early and re-armed for the rest.
        wait_ms = math.ceil((when - self.time()) * 1000)
        timer.start(min(max(wait_ms, 0), _MAXIMUM_WAIT_MS))

    def _on_deadline_timer_timeout(self) -> None:
        self._deadline_armed = None
        if self._retired and not self._notifier_depth:
            self._retired.clear()
        self._collect_due_timers()
        self._run_turn()

    def _collect_due_timers(self) -> None:
        """asyncio's ``_run_once`` for timers: due handles join the ready deque, in order."""
        scheduled = self._scheduled
        cancelled = self._timer_cancelled_count
        if (len(scheduled) > _MIN_SCHEDULED_TIMER_HANDLES
                and cancelled / len(scheduled)
                > _MIN_CANCELLED_TIMER_HANDLES_FRACTION):
            kept: list[Any] = []
            for handle in scheduled:
                if handle._cancelled:
                    handle._scheduled = False
                else:
                    kept.append(handle)
            heapq.heapify(kept)
            self._scheduled = scheduled = kept
            self._timer_cancelled_count = 0
        end_time = self.time() + self._clock_resolution
        ready = self._ready
        while scheduled:
            handle = scheduled[0]
            if not handle._cancelled and handle._when >= end_time:
                break
            heapq.heappop(scheduled)
            handle._scheduled = False
            if handle._cancelled:
                self._timer_cancelled_count -= 1
            else:
                ready.append(handle)
        if scheduled and self._deadline_armed is None:
            self._arm_deadline(scheduled[0]._when)

    # -- file descriptors -------------------------------------------------------------

    def _add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> asyncio.Handle:
        return self._watch(self._readers, QSocketNotifier.Type.Read, fd, callback, args)

    def _add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> asyncio.Handle:
        return self._watch(self._writers, QSocketNotifier.Type.Write, fd, callback, args)

    def _remove_reader(self, fd: Any) -> bool:
        return self._unwatch(self._readers, fd)

    def _remove_writer(self, fd: Any) -> bool:
        return self._unwatch(self._writers, fd)

    def _watch(self, watches: dict[int, _Watch], kind: QSocketNotifier.Type, fd: Any,
               callback: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Handle:
        self._check_closed()
        fileno = _fileno(fd)
        handle = events.Handle(callback, args, self, None)
        watch = watches.get(fileno)
        if watch is not None:
            # Same descriptor, new callback: keep the notifier (enabled, or muted until its
            # running or queued reader returns, which re-enables it).
            watch.handle.cancel()
            watch.handle = handle
            return handle
        notifier = QSocketNotifier(fileno, kind)
        watch = _Watch(fileno, notifier, handle)
        # A slot that takes no arguments spares PySide converting the signal's two (a quarter
        # of a bare wake-up's cost).
        notifier.activated.connect(lambda: self._on_notifier_activated(watches, watch))
        watches[fileno] = watch
        return handle

    def _unwatch(self, watches: dict[int, _Watch], fd: Any) -> bool:
        if self.is_closed():
            return False
        try:
            fileno = _fileno(fd)
        except ValueError:
            return False
        watch = watches.pop(fileno, None)
        if watch is None:
            return False
        self._retire(watch)
        return True

    def _retire(self, watch: _Watch) -> None:
        watch.notifier.setEnabled(False)
        watch.notifier.activated.disconnect()
        watch.handle.cancel()
        if self._notifier_depth:
            self._retired.append(watch.notifier)

    def _on_notifier_activated(self, watches: dict[int, _Watch], watch: _Watch) -> None:
        if watches.get(watch.fd) is not watch:
            return  # removed or replaced since Qt queued this activation
        if watch.running:
            # A nested Qt loop inside this very reader: mute until the reader returns.
            watch.muted = True
            watch.notifier.setEnabled(False)
            return
        if self._ready:
            # Handles already waiting go first (FIFO): the reader joins the queue, its
            # notifier muted until it has run.
            watch.muted = True
            watch.notifier.setEnabled(False)
            self._ready.append(events.Handle(self._run_queued_reader, (watches, watch), self))
            if not self._turn_armed and not self._turn_depth:
                self._arm_turn()
            return
        # What the reader schedules waits for the next turn, so Qt's events (a paint, a
        # timer) get in between the read and what it wakes.
        self._run_reader(watches, watch)

    def _run_queued_reader(self, watches: dict[int, _Watch], watch: _Watch) -> None:
        if watches.get(watch.fd) is watch:  # else removed meanwhile (its notifier retired)
            self._run_reader(watches, watch)

    def _run_reader(self, watches: dict[int, _Watch], watch: _Watch) -> None:
        handle = watch.handle
        watch.running = True
        self._notifier_depth += 1
        try:
            if not handle._cancelled:
                handle._run()
        finally:
            self._notifier_depth -= 1
            watch.running = False
            if watch.muted:
                watch.muted = False
                if watches.get(watch.fd) is watch:
                    watch.notifier.setEnabled(True)

    # -- closing ----------------------------------------------------------------------

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        # Qt objects die here, on the loop's thread, not in whichever thread a later garbage
        # collection happens to run.
        for watches in (self._readers, self._writers):
            for watch in watches.values():
                self._retire(watch)
            watches.clear()
        self._retired.clear()
        for timer in (self._turn_timer, self._deadline_timer):
            if timer is not None:
                timer.stop()
                timer.timeout.disconnect()
        if self._waker is not None:
            self._waker.woken.disconnect()
        self._turn_timer = self._deadline_timer = None
        self._waker = None
        self._turn_armed = False
        self._deadline_armed = None
        self._ready.clear()


def new_event_loop() -> DeskEventLoop:
    """The loop factory for ``asyncio.Runner``/``asyncio.run`` on the Qt thread."""
    return DeskEventLoop()


__all__ = ["DeskEventLoop", "new_event_loop"]
