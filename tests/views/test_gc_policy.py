"""The garbage-collection policy: while held, Qt objects in reference cycles die on the Qt
thread however much other threads allocate, and memory stays bounded if the Qt thread stalls."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from supervisor_desk.views import gc_policy
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy, PolicyHold, active_policy
from tests.views.qt_garbage import QtCycle

CYCLES = 200


def _allocate_cycles_until(stop: threading.Event) -> None:
    """A worker thread allocating far more than the Qt thread (as a file reader does)."""
    while not stop.is_set():
        for _ in range(1000):
            box: list[Any] = []
            box.append(box)


def test_qt_garbage_dies_on_the_qt_thread_while_a_worker_allocates(qtbot: Any) -> None:
    destroyed_on: list[str] = []
    stop = threading.Event()
    worker = threading.Thread(target=_allocate_cycles_until, args=(stop,), name="allocator")
    hold = PolicyHold()
    try:
        assert not gc.isenabled()
        worker.start()
        for _ in range(CYCLES):
            QtCycle(destroyed_on)
        # Only the policy's coarse timer runs here: no frames, no reads.
        qtbot.waitUntil(lambda: len(destroyed_on) == CYCLES, timeout=10_000)
    finally:
        stop.set()
        worker.join()
        hold.release()
    assert set(destroyed_on) == {threading.main_thread().name}
    assert gc.isenabled()  # given back once the last holder has gone
    assert active_policy() is None


def test_holders_share_one_policy_and_the_last_one_gives_collection_back(qapp: Any) -> None:
    first, second = PolicyHold(), PolicyHold()
    assert first.policy is second.policy is active_policy()
    first.release()
    first.release()  # once only: a window's shutdown and its destruction both release
    assert not gc.isenabled()
    second.release()
    assert gc.isenabled()


def test_a_busy_qt_thread_hands_collection_back_to_python_at_the_cap(
        qapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_policy, "WATCHDOG_S", 0.02)
    policy = GarbageCollectionPolicy()
    policy.install()
    kept: list[list[Any]] = []
    try:
        # The Qt thread does not return to its event loop: young objects pile up.
        while policy.fallbacks == 0 and len(kept) < 20_000_000:
            kept.extend([] for _ in range(10_000))
        assert policy.fallbacks == 1
        assert gc.isenabled()  # Python collects wherever it allocates, until the Qt thread does
        kept.clear()
        policy.end_of_frame()
        assert not gc.isenabled()  # the Qt thread collected: the policy is back in charge
    finally:
        policy.uninstall()
    assert gc.isenabled()


def test_while_frames_come_the_policy_timer_does_not_wake(qtbot: Any) -> None:
    from PySide6.QtCore import QTimer

    policy = GarbageCollectionPolicy()
    policy.install()
    frames = QTimer()
    frames.setInterval(50)
    count = [0]

    def frame() -> None:
        count[0] += 1
        policy.end_of_frame()

    frames.timeout.connect(frame)
    try:
        policy.end_of_frame()  # the first frame, at once (the timer's first look is 100 ms off)
        frames.start()
        qtbot.waitUntil(lambda: count[0] >= 10, timeout=10_000)
        assert policy.timer_checks == 0  # frames every 50 ms did the looking
        frames.stop()
        # Frames stopped: the coarse timer takes over again.
        qtbot.waitUntil(lambda: policy.timer_checks >= 1, timeout=10_000)
    finally:
        frames.stop()
        policy.uninstall()


def test_off_screen_the_coarse_timer_and_the_watchdog_wake_seldom(qtbot: Any) -> None:
    app_hold = PolicyHold()  # the app's, for its lifetime
    policy = app_hold.policy
    try:
        assert (policy.quiet_max_ms, policy.watch_interval_s) == (
            gc_policy.QUIET_MAX_MS, gc_policy.WATCHDOG_S)
        policy.set_on_screen(False)  # the app's window closed to the tray
        assert policy.quiet_max_ms == gc_policy.QUIET_OFF_SCREEN_MS
        assert policy.watch_interval_s == gc_policy.WATCHDOG_OFF_SCREEN_S
        policy.end_of_frame()  # a feed frame off screen puts the timer off that long
        assert policy.next_check_ms == gc_policy.QUIET_OFF_SCREEN_MS
        other = PolicyHold()  # an offline window's threads allocate: the watchdog keeps its pace
        try:
            assert policy.watch_interval_s == gc_policy.WATCHDOG_S
        finally:
            other.release()
        policy.set_on_screen(True)  # shown again: the on-screen pace at once
        assert policy.next_check_ms == gc_policy.QUIET_MAX_MS
        assert policy.watch_interval_s == gc_policy.WATCHDOG_S
    finally:
        app_hold.release()
    assert gc.isenabled()
