"""The app's one clock: one tick a second on the second for what is on screen, none otherwise."""

from __future__ import annotations

import itertools
import time
from typing import Any

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from supervisor_desk.views.clock import ScreenClock, on_screen


def shown(qtbot: QtBot, text: str = "") -> QLabel:
    label = QLabel(text)
    qtbot.addWidget(label)
    label.show()
    return label


def test_the_tick_is_armed_for_just_after_the_next_second(qtbot: QtBot) -> None:
    clock = ScreenClock(now=lambda: 1_700_000_000.25)
    clock.subscribe(shown(qtbot), lambda: None)
    assert clock.running
    assert 750 <= clock._timer.interval() <= 760  # 0.75 s to the boundary, then a hair


def test_one_tick_a_second_for_every_subscriber_on_screen_and_none_for_hidden_ones(
        qtbot: QtBot) -> None:
    clock = ScreenClock()
    calls: dict[str, list[float]] = {"a": [], "b": [], "hidden": []}
    a, b = shown(qtbot, "a"), shown(qtbot, "b")
    hidden = QLabel("hidden")
    qtbot.addWidget(hidden)
    clock.subscribe(a, lambda: calls["a"].append(time.time()))
    clock.subscribe(b, lambda: calls["b"].append(time.time()))
    clock.subscribe(hidden, lambda: calls["hidden"].append(time.time()))
    qtbot.waitUntil(lambda: clock.ticks >= 3, timeout=6000)
    assert calls["hidden"] == []
    assert len(calls["a"]) == len(calls["b"]) == clock.ticks  # one timer serves them all
    seconds = [int(t) for t in calls["a"]]
    assert all(later > earlier for earlier, later in itertools.pairwise(seconds))


def test_nothing_ticks_off_screen_and_what_shows_again_is_current_at_once(qtbot: QtBot) -> None:
    clock = ScreenClock()
    label = shown(qtbot)
    calls: list[int] = []
    clock.subscribe(label, lambda: calls.append(1))
    qtbot.waitUntil(lambda: clock.ticks >= 1, timeout=3000)
    label.hide()
    qtbot.waitUntil(lambda: not clock.running, timeout=3000)  # the next tick finds nobody
    ticks, count = clock.ticks, len(calls)
    label.show()
    assert len(calls) == count + 1  # brought current before its first paint
    assert clock.running and clock.ticks == ticks


def test_a_minimised_window_does_not_tick(qtbot: QtBot) -> None:
    clock = ScreenClock()
    window = QWidget()
    qtbot.addWidget(window)
    label = QLabel("12 s", window)
    window.show()
    calls: list[int] = []
    clock.subscribe(label, lambda: calls.append(1))
    assert on_screen(label)
    window.showMinimized()
    assert not on_screen(label)
    qtbot.waitUntil(lambda: not clock.running, timeout=3000)
    count = len(calls)
    window.showNormal()
    qtbot.waitUntil(lambda: len(calls) > count, timeout=3000)
    assert clock.running


def test_a_deleted_subscriber_is_forgotten(qtbot: QtBot) -> None:
    clock = ScreenClock()
    label = QLabel()
    label.show()
    calls: list[Any] = []
    clock.subscribe(label, lambda: calls.append(1))
    label.deleteLater()
    qtbot.waitUntil(lambda: not clock.running, timeout=3000)
    assert clock._subscribers == []


def test_what_comes_just_before_a_tick_is_applied_by_it_before_its_subscribers(
        qtbot: QtBot) -> None:
    """A change that arrives within HOLD_FOR_TICK_MS of the tick is run by the tick, first
    (painted with it); further from it the caller runs it itself. The tick runs it even when
    nothing is left on screen."""
    from supervisor_desk.views.clock import HOLD_FOR_TICK_MS

    clock = ScreenClock()
    label = shown(qtbot)
    order: list[str] = []
    clock.subscribe(label, lambda: order.append("tick"))

    def change() -> None:
        order.append("change")

    owner = QObject()

    qtbot.waitUntil(lambda: 0 <= clock.due_in_ms() <= HOLD_FOR_TICK_MS // 2, timeout=3000)
    assert clock.before_next_tick(change, owner)
    assert clock.before_next_tick(change, owner)  # once, however often asked
    ticks = clock.ticks
    qtbot.waitUntil(lambda: clock.ticks > ticks, timeout=3000)
    assert order[-2:] == ["change", "tick"] and order.count("change") == 1
    # Far from the tick: not kept.
    qtbot.waitUntil(lambda: clock.due_in_ms() > HOLD_FOR_TICK_MS * 3, timeout=3000)
    assert not clock.before_next_tick(change, owner)
    # Kept, then the window leaves the screen: the tick still runs it.
    qtbot.waitUntil(lambda: 0 <= clock.due_in_ms() <= HOLD_FOR_TICK_MS // 2, timeout=3000)
    assert clock.before_next_tick(change, owner)
    label.hide()
    qtbot.waitUntil(lambda: order.count("change") == 2, timeout=3000)
    assert not clock.running
    # Its owner deleted, or cancelled, before the tick: not run.
    label.show()
    for deleted in (True, False):
        owner = QObject()
        qtbot.waitUntil(lambda: 0 <= clock.due_in_ms() <= HOLD_FOR_TICK_MS // 2, timeout=3000)
        assert clock.before_next_tick(change, owner)
        if deleted:
            shiboken6.delete(owner)
        else:
            clock.cancel_before_tick(change)
        before = clock.ticks
        qtbot.waitUntil(lambda before=before: clock.ticks > before, timeout=3000)
        assert order.count("change") == 2
