"""Telling the user: banners first at once then gathered (the most severe on top), one sound
for a busy floor, routine rules switched off."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from supervisor_desk.client.audio import DEVICE_RETRY_S, AudioOutput
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.state import SessionChange
from supervisor_desk.views.alerts import notify
from supervisor_desk.views.alerts.notify import BANNER_INTERVAL_MS, SOUND_GAP_S, AlertNotifier
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.notifications import NotificationArea
from supervisor_desk.views.tasks import TaskOwner
from supervisor_desk.views.tray import TrayController
from tests.helpers import wait_until
from tests.sound_server import PulseNullSink, null_sink_or_skip
from tests.views.alerts.test_alerts import queued


@pytest.fixture
def pulse() -> Iterator[PulseNullSink]:
    yield from null_sink_or_skip()


def told_in(area: NotificationArea) -> tuple[AlertNotifier, AlertsViewModel]:
    """The default rules (muted, without the routine new/ended rules: the tray's own
    banners) telling in ``area`` (no tray, no notification server: banners are the pop-ups),
    and the view-model that judges them."""
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    notifier = AlertNotifier(tray, area)
    rules = default_rules()
    rules = rules.model_copy(update={"muted": True, "rules": tuple(
        r for r in rules.rules if not r.builtin)})
    notifier.set_rules(rules)
    vm = AlertsViewModel(rules)
    vm.subscribe(notifier, notifier.on_alerts_changed)
    return notifier, vm


def test_banners_show_at_once_then_gather_the_most_severe_of_a_busy_spell(qtbot: QtBot) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    notifier, vm = told_in(area)

    with qtbot.waitSignal(notifier.delivered):  # told once the frame has ended
        vm.reset([queued("s1", 200, "Bob")])  # waits over 1 and over 3 minutes
    assert [b.group for b in area.banners()] == ["wait-180", "wait-60"]  # critical on top
    shown = area.shown_count

    # A busy spell: a notice every frame. None builds a widget before the interval ends.
    for n in range(2, 8):
        negative = queued(f"s{n}", 5, f"Guest {n}").model_copy(
            update={"metadata": {"sentiment": "negative"}})
        with qtbot.waitSignal(notifier.delivered):
            vm.apply_batch([SessionChange("added", negative)])
    with qtbot.waitSignal(notifier.delivered):
        vm.apply_batch([SessionChange("added", queued("s9", 70, "Cleo"))])
    assert area.shown_count == shown

    # Then, once, the area's two banners: the most severe of the spell on top.
    qtbot.waitUntil(lambda: area.shown_count > shown, timeout=BANNER_INTERVAL_MS * 4)
    banners = area.banners()
    assert area.shown_count - shown == area.max_banners == len(banners)
    assert banners[0].group == "wait-60" and "Cleo" in banners[0].body
    assert banners[1].group == "negative" and "Guest 7" in banners[1].body
    notifier.close()


def test_a_frame_is_told_on_the_next_turn_not_inside_the_frame(qtbot: QtBot) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    notifier = AlertNotifier(tray, area)
    rules = default_rules().model_copy(update={"muted": True})
    notifier.set_rules(rules)
    vm = AlertsViewModel(rules)
    vm.subscribe(notifier, notifier.on_alerts_changed)
    told: list[str] = []
    notifier.delivered.connect(lambda notice, _alert: told.append(notice.rule.id))

    vm.apply_batch([SessionChange("added", queued("s1", 200, "Bob"))])
    assert told == [] and area.banners() == []  # the frame ends first
    qtbot.waitUntil(lambda: len(area.banners()) == 2, timeout=1000)
    assert sorted(told) == ["wait-180", "wait-60"]  # every notice of the frame, once
    vm.apply_batch([SessionChange("added", queued("s2", 70, "Cleo"))])
    notifier.close()  # closing drops what was not told yet
    QCoreApplication.processEvents()  # the turn it would have been told on
    assert sorted(told) == ["wait-180", "wait-60"]


def test_switched_off_routine_rules_tell_nothing_and_muted_rules_load_no_sound(
        qtbot: QtBot) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    notifier = AlertNotifier(tray, area, tasks=TaskOwner().scope("alerts"))
    rules = default_rules()
    quiet_routine = rules.model_copy(update={"muted": True, "rules": tuple(
        r.model_copy(update={"enabled": False}) if r.builtin else r for r in rules.rules)})
    notifier.set_rules(quiet_routine)
    assert not tray.coalescer.notify_new and not tray.coalescer.notify_ended
    assert not notifier._warm_up_timer.isActive()  # muted: the sound library is not loaded
    notifier.set_rules(rules)
    assert tray.coalescer.notify_new and tray.coalescer.notify_ended
    assert notifier._warm_up_timer.isActive()  # loaded off the Qt thread, after start-up
    notifier.close()
    assert not notifier._warm_up_timer.isActive()


def test_the_sound_library_loads_on_the_executor_as_a_task_of_the_app(
        qtbot: QtBot, qrun: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "WARM_UP_DELAY_MS", 10)
    threads: list[threading.Thread] = []

    class RecordingOutput(AudioOutput):
        def warm_up(self) -> None:  # type: ignore[override]
            threads.append(threading.current_thread())
            super().warm_up()

    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    scope = TaskOwner().scope("alerts")
    notifier = AlertNotifier(tray, area, audio=RecordingOutput(), tasks=scope)
    notifier.set_rules(default_rules())  # the default rules chime

    qrun(wait_until(lambda: bool(threads) and not scope.tasks))  # imported, task done
    assert threads[0] is not threading.main_thread()  # not on the Qt thread
    notifier.close()


def test_a_busy_floor_sounds_once_unless_something_more_severe_comes(
        qtbot: QtBot, pulse: PulseNullSink) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    clock = [100.0]
    notifier = AlertNotifier(tray, area, audio=AudioOutput(volume=0.05),
                             monotonic=lambda: clock[0])
    rules = default_rules()  # waits over 1 min chime, over 3 min sound the alarm
    notifier.set_rules(rules)
    vm = AlertsViewModel(rules)
    vm.subscribe(notifier, notifier.on_alerts_changed)
    with qtbot.waitSignal(notifier.delivered):
        vm.apply_batch([SessionChange("added", queued("s1", 70))])  # a chime
    assert notifier.sounds_played == 1
    for n in range(2, 6):  # a warning every frame: no more chimes
        clock[0] += 0.08
        with qtbot.waitSignal(notifier.delivered):
            vm.apply_batch([SessionChange("added", queued(f"s{n}", 70))])
    assert notifier.sounds_played == 1
    clock[0] += 0.08  # a critical one still sounds (one alarm for its two rules)
    with qtbot.waitSignal(notifier.delivered):
        vm.apply_batch([SessionChange("added", queued("s9", 200))])
    assert notifier.sounds_played == 2
    clock[0] += SOUND_GAP_S  # and after a quiet gap, a warning chimes again
    with qtbot.waitSignal(notifier.delivered):
        vm.apply_batch([SessionChange("added", queued("s10", 70))])
    assert notifier.sounds_played == 3
    notifier.close()


def test_without_a_sound_device_the_log_says_so_once_and_again_when_sound_is_back(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A shift of alerts on a machine with no sound: one warning, not one per chime (nor a
    probe of every backend per chime); a server that appears is found within a minute."""
    if not PulseNullSink.available():
        pytest.skip("needs pulseaudio, parec and pactl")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-server-here")
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    clock = [100.0]
    audio = AudioOutput(volume=0.05, clock=lambda: clock[0], backends=("pulseaudio",))
    notifier = AlertNotifier(tray, area, audio=audio, monotonic=lambda: clock[0])
    rules = default_rules()
    notifier.set_rules(rules)
    vm = AlertsViewModel(rules)
    vm.subscribe(notifier, notifier.on_alerts_changed)
    caplog.set_level(logging.INFO, logger=notify.__name__)

    def chime(n: int) -> None:
        clock[0] += SOUND_GAP_S  # each would sound: past the gap
        with qtbot.waitSignal(notifier.delivered):
            vm.apply_batch([SessionChange("added", queued(f"s{n}", 70))])

    for n in range(10):
        chime(n)
    assert notifier.sounds_played == 0
    said = [r for r in caplog.records if r.name == notify.__name__]
    assert [(r.levelname, "no sound device" in r.getMessage()) for r in said] == [
        ("WARNING", True)]
    sink = PulseNullSink()
    try:
        sink.start()
        clock[0] += DEVICE_RETRY_S
        chime(10)
        assert notifier.sounds_played == 1
        assert [r.levelname for r in caplog.records if r.name == notify.__name__] == [
            "WARNING", "INFO"]
    finally:
        notifier.close()
        sink.stop()


def test_gathered_banners_and_a_banners_time_up_come_with_the_tick(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the window's clock ticking, what may wait for the tick (banners gathered in a busy
    spell, a banner whose time is up) changes the screen in the tick's paint, not in one of
    its own; the first banner after a calm still shows at once."""
    ticking = QWidget()  # something on screen that ticks (the table's durations)
    qtbot.addWidget(ticking)
    ticking.show()
    qtbot.waitExposed(ticking)
    clock = screen_clock()
    clock.subscribe(ticking, lambda: None)
    area = NotificationArea(timeout_ms=300)
    qtbot.addWidget(area)
    notifier, vm = told_in(area)
    shown_in_tick: list[bool] = []
    show_alert = area.show_alert

    def recording(alert: Any) -> None:
        shown_in_tick.append(clock.in_tick)
        show_alert(alert)

    monkeypatch.setattr(area, "show_alert", recording)
    with qtbot.waitSignal(notifier.delivered):
        vm.reset([queued("s1", 70, "Bob")])  # over the 1-minute wait (not sticky)
    assert shown_in_tick and not any(shown_in_tick)  # at once
    first = len(shown_in_tick)
    negative = queued("s2", 5, "Guest").model_copy(
        update={"metadata": {"sentiment": "negative"}})
    with qtbot.waitSignal(notifier.delivered):
        vm.apply_batch([SessionChange("added", negative)])
    qtbot.waitUntil(lambda: len(shown_in_tick) > first, timeout=3000)
    assert all(shown_in_tick[first:])  # gathered: with a tick
    expired_in_tick: list[bool] = []
    for banner in area.findChildren(QWidget, "notificationBanner"):
        banner.timed_out.connect(lambda: expired_in_tick.append(clock.in_tick))
    qtbot.waitUntil(lambda: not area.banners(), timeout=4000)
    assert expired_in_tick and all(expired_in_tick)
    notifier.close()
    clock.unsubscribe(ticking)
