"""Alerts: coalescing, rate limiting, pause, escaping, delivery fallbacks, click-through."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.notifications import (
    NotificationArea,
    NotificationCoalescer,
    balloon_safe,
)
from supervisor_desk.views.tray import TrayController
from tests.helpers import wait_until
from tests.views.conftest import PaintRecorder


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def session(sid: str, name: str = "Ann", status: str = "active", **extra: Any) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid,
        "agent": {"id": "a", "name": "Sales bot"},
        "channel": "telegram",
        "status": status,
        "user": {"id": f"u-{sid}", "name": name},
        "started_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    data.update(extra)
    return SessionSummary.model_validate(data)


def test_one_new_session_is_described() -> None:
    c = NotificationCoalescer(min_interval=5, clock=Clock())
    c.add_started([session("s1", "Ann", status="queued")])
    [alert] = c.take()
    assert alert.title == "New session"
    assert alert.body == "Ann on Telegram with Sales bot (queued)"
    assert alert.session_id == "s1"


def test_bursts_are_coalesced_and_rate_limited() -> None:
    clock = Clock()
    c = NotificationCoalescer(min_interval=5, clock=clock)
    c.add_started([session(f"s{i}", f"User {i}") for i in range(7)])
    [alert] = c.take()
    assert alert.title == "7 new sessions"
    assert alert.body == "User 0, User 1, User 2 and 4 more"
    assert alert.count == 7 and alert.session_id == "s0"
    # Within the interval, more sessions wait instead of producing another alert.
    c.add_started([session("s8"), session("s9")])
    clock.t += 2
    assert c.take() == []
    assert c.next_due_in() == 3
    clock.t += 3
    [later] = c.take()
    assert later.title == "2 new sessions"
    assert c.take() == []
    assert c.next_due_in() is None


def test_new_and_ended_are_separate_and_quick_sessions_only_end() -> None:
    c = NotificationCoalescer(min_interval=5, clock=Clock())
    c.add_started([session("a"), session("b")])
    c.add_ended([session("b", status="completed", end_reason="resolved")])
    alerts = {a.kind: a for a in c.take()}
    assert alerts["new"].title == "New session" and alerts["new"].session_id == "a"
    assert alerts["ended"].title == "Session ended"
    assert alerts["ended"].body == "Ann on Telegram: completed, resolved"


def test_pause_and_preferences_drop_alerts() -> None:
    c = NotificationCoalescer(min_interval=0, clock=Clock())
    c.set_paused(True)
    c.add_started([session("a")])
    assert c.take() == []
    c.set_paused(False)
    c.notify_ended = False
    c.add_ended([session("b", status="completed")])
    assert c.take() == []
    c.notify_failed = False
    c.add_ended([session("f", status="failed")])
    assert c.take() == []
    c.add_started([session("c")])
    assert [a.session_id for a in c.take()] == ["c"]
    c.notify_new = False
    c.add_started([session("d")])
    assert c.take() == []


def test_failed_sessions_are_their_own_kind_at_normal_urgency_routine_ones_low() -> None:
    from supervisor_desk.client.desktop_notify import Urgency
    from supervisor_desk.views.tray import alert_urgency

    c = NotificationCoalescer(min_interval=0, clock=Clock())
    c.add_started([session("n")])
    c.add_ended([session("e", status="completed", end_reason="resolved"),
                 session("f1", status="failed", end_reason="error"),
                 session("f2", status="failed", end_reason="timeout")])
    alerts = {a.kind: a for a in c.take()}
    assert alerts["failed"].title == "2 sessions failed"
    assert alerts["ended"].title == "Session ended"
    assert alert_urgency(alerts["failed"]) is Urgency.NORMAL
    assert alert_urgency(alerts["new"]) is Urgency.LOW
    assert alert_urgency(alerts["ended"]) is Urgency.LOW


def test_by_default_at_most_one_alert_per_kind_per_minute() -> None:
    clock = Clock()
    c = NotificationCoalescer(clock=clock)
    c.add_started([session("a")])
    assert len(c.take()) == 1
    c.add_started([session("b")])
    clock.t += 59
    assert c.take() == []
    assert c.next_due_in() == pytest.approx(1.0)
    clock.t += 1
    assert [a.title for a in c.take()] == ["New session"]


def test_hostile_names_are_clipped_and_flattened() -> None:
    c = NotificationCoalescer(min_interval=0, clock=Clock())
    c.add_started([session("x", "Bob\n<script>alert(1)</script>" + "x" * 200)])
    [alert] = c.take()
    assert "\n" not in alert.body
    assert len(alert.body) < 140
    # The Qt balloon guesses rich text from tags: no "<" may reach it.
    safe = balloon_safe(alert.body)
    assert "<" not in safe and ">" not in safe
    assert "script" in safe


def test_no_tray_offscreen_delivers_in_window_and_click_selects(qtbot: Any, qrun: Any) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen never has one
    area = NotificationArea()
    qtbot.addWidget(area)
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    tray = TrayController(area, spawn=spawn,
                          coalescer=NotificationCoalescer(min_interval=0.0))

    async def scenario() -> None:
        tray.start()
        assert not tray.has_tray and not tray.tray_visible
        tray.sessions_started([session("s1", "<b>Eve</b>")])
        await wait_until(lambda: area.shown_count == 1)
        [alert] = area.banners()
        assert alert.body.startswith("<b>Eve</b>")  # plain-text label: shown literally
        with qtbot.waitSignal(tray.session_requested, timeout=1000) as blocker:
            area.activated.emit("s1")
        assert blocker.args == ["s1"]
        tray.set_paused(True)
        assert tray.paused
        tray.sessions_started([session("s2")])
        # Sentinel: resumed, the next session is announced alone; s2 was dropped while paused,
        # neither shown then nor held back for later.
        tray.set_paused(False)
        tray.sessions_started([session("s3")])
        await wait_until(lambda: bool(tray.last_alerts) and tray.last_alerts[-1].session_id == "s3")
        newest = tray.last_alerts[-1]
        assert (newest.title, newest.count) == ("New session", 1)
        assert area.shown_count == 2
        await tray.aclose()

    qrun(scenario())
    assert tray.notifications_sent == 2
    tray.deleteLater()  # on the Qt thread, not by a GC pass on some executor thread


def test_notification_area_keeps_one_banner_per_kind_pointing_at_the_newest(
        qtbot: Any) -> None:
    area = NotificationArea(max_banners=2)
    qtbot.addWidget(area)
    c = NotificationCoalescer(min_interval=0, clock=Clock())
    for i in range(4):
        c.add_started([session(f"s{i}", f"User {i}")])
        for alert in c.take():
            area.show_alert(alert)
    assert [(a.title, a.session_id) for a in area.banners()] == [("4 new sessions", "s3")]
    assert area.shown_count == 4


def test_tray_click_toggles_the_window_and_double_click_shows_it(qtbot: Any) -> None:
    from supervisor_desk.views.main_window import MainWindow
    from supervisor_desk.views.session_table_model import SessionTableModel

    window = MainWindow(SessionTableModel())
    qtbot.addWidget(window)
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    tray.toggle_requested.connect(window.toggle_visible)
    tray.show_requested.connect(window.bring_to_front)
    window.show()
    # Qt reports a click on the icon as activated(Trigger), a double click as DoubleClick.
    tray._on_tray_activated(QSystemTrayIcon.ActivationReason.Trigger)
    assert not window.isVisible()
    tray._on_tray_activated(QSystemTrayIcon.ActivationReason.Trigger)
    assert window.isVisible()
    tray._on_tray_activated(QSystemTrayIcon.ActivationReason.DoubleClick)
    assert window.isVisible()
    tray.deleteLater()


def test_in_window_alerts_of_one_kind_merge_into_one_banner(qtbot: Any) -> None:
    """Consecutive batches grow the banner on screen ("11 new sessions"), never stack."""
    area = NotificationArea()
    qtbot.addWidget(area)
    coalescer = NotificationCoalescer(min_interval=0.0)
    coalescer.add_started([session(f"a{i}", f"Ann{i}") for i in range(9)])
    for alert in coalescer.take():
        area.show_alert(alert)
    coalescer.add_started([session("b1", "Bob"), session("b2", "Cy")])
    coalescer.add_ended([session("a0", "Ann0", status="completed")])
    for alert in coalescer.take():
        area.show_alert(alert)
    coalescer.add_started([session("c1", "Dee")])
    for alert in coalescer.take():
        area.show_alert(alert)
    titles = sorted(a.title for a in area.banners())
    assert titles == ["12 new sessions", "Session ended"]
    newest = next(a for a in area.banners() if a.kind == "new")
    assert newest.session_id == "c1" and newest.body.startswith("latest: Dee")


def test_a_rule_firing_again_updates_its_banner_in_place_and_starts_its_timeout_again(
        qtbot: Any) -> None:
    from PySide6.QtWidgets import QLabel, QPushButton

    from supervisor_desk.views.notifications import Alert

    area = NotificationArea(max_banners=2, timeout_ms=400)
    qtbot.addWidget(area)
    area.show()
    area.show_alert(Alert("rule", "Customer complains", "Ann on Telegram", "s1", 1,
                          group="complaint"))
    area.show_alert(Alert("rule", "Negative sentiment", "Bob on Web", "s2", 1,
                          group="negative"))
    [first_widget] = [w for w in area.findChildren(QLabel) if w.text() == "Ann on Telegram"]
    banner = first_widget.parentWidget()
    qtbot.wait(250)
    area.show_alert(Alert("rule", "Customer complains: 2 sessions", "Cid on Web; Ann", "s3", 2,
                          group="complaint"))
    # The same widget says the new words, on top again; nothing rebuilt, nothing stacked.
    assert [a.title for a in area.banners()] == ["Customer complains: 2 sessions",
                                                  "Negative sentiment"]
    assert first_widget.parentWidget() is banner and first_widget.text() == "Cid on Web; Ann"
    with qtbot.waitSignal(area.activated) as clicked:
        next(b for b in banner.findChildren(QPushButton) if b.text() == "Show").click()
    assert clicked.args == ["s3"]  # the newest session the banner names
    # The other banner's time is up first, but it stays while this one's (begun again when
    # it changed) counts down: both go together, one change of the window's layout.
    qtbot.wait(250)
    assert len(area.banners()) == 2
    qtbot.waitUntil(lambda: len(area.banners()) != 2, timeout=2000)
    assert area.banners() == [] and area.isHidden()
    assert area.shown_count == 3


def test_a_timed_out_banner_beside_a_sticky_one_goes_and_the_sticky_one_stays(
        qtbot: Any) -> None:
    from supervisor_desk.views.notifications import Alert

    area = NotificationArea(timeout_ms=200)
    qtbot.addWidget(area)
    area.show()
    area.show_alert(Alert("rule", "Waiting over 3 minutes", "Ann", "s1", 1, sticky=True,
                          group="wait-180"))
    area.show_alert(Alert("rule", "Negative sentiment", "Bob", "s2", 1, group="negative"))
    qtbot.waitUntil(lambda: len(area.banners()) == 1, timeout=2000)
    assert area.banners()[0].group == "wait-180"


def test_a_banner_that_turns_sticky_stays(qtbot: Any) -> None:
    from supervisor_desk.views.notifications import Alert

    area = NotificationArea(timeout_ms=200)
    qtbot.addWidget(area)
    area.show_alert(Alert("rule", "Waiting", "Ann", "s1", 1, group="wait"))
    area.show_alert(Alert("rule", "Still open — Waiting", "Ann", "s1", 1, sticky=True,
                          group="wait"))
    qtbot.wait(500)
    assert [a.title for a in area.banners()] == ["Still open — Waiting"]


def test_a_full_area_gives_its_oldest_banner_to_the_newest_alert_and_it_looks_new(
        qtbot: Any) -> None:
    from PySide6.QtWidgets import QWidget

    from supervisor_desk.views.notifications import Alert
    from supervisor_desk.views.theme import current_theme

    def styled_area() -> NotificationArea:
        area = NotificationArea(max_banners=2)
        qtbot.addWidget(area)
        area.setPalette(current_theme().palette())
        area.setStyleSheet(current_theme().stylesheet())
        area.resize(700, 80)
        area.show()
        return area

    ended = Alert("ended", "Session ended", "Ann on Telegram: completed", "s1", 1)
    complaint = Alert("rule", "Customer complains", "Bob on Web", "s2", 1, group="complaint")
    negative = Alert("rule", "Negative sentiment", "Cid on Web", "s3", 1, group="negative")
    busy = styled_area()
    busy.show_alert(ended)
    busy.show_alert(complaint)
    widgets = set(busy.findChildren(QWidget))
    busy.show_alert(negative)  # full: the oldest banner (the ended one) says it now
    assert [a.title for a in busy.banners()] == ["Negative sentiment", "Customer complains"]
    assert set(busy.findChildren(QWidget)) == widgets  # nothing built, nothing removed
    fresh = styled_area()
    fresh.show_alert(complaint)
    fresh.show_alert(negative)
    qtbot.wait(50)  # both laid out and painted
    assert fresh.size() == busy.size()
    assert busy.grab().toImage() == fresh.grab().toImage()  # the rule's colours, not "ended"


@pytest.mark.parametrize("ticking", [False, True], ids=["no_clock", "clock_ticking"])
def test_closing_the_banner_others_waited_for_takes_them_too(qtbot: Any, ticking: bool) -> None:
    """Also while the window's clock ticks, when a banner whose time is up goes with the
    next tick: dismissing the banner it waits for takes it along at once."""
    from PySide6.QtWidgets import QToolButton, QWidget

    from supervisor_desk.views.clock import screen_clock
    from supervisor_desk.views.notifications import Alert

    clock = screen_clock()
    ticker = QWidget()  # something on screen that ticks (the table's durations)
    qtbot.addWidget(ticker)
    if ticking:
        ticker.show()
        qtbot.waitExposed(ticker)
        clock.subscribe(ticker, lambda: None)
    try:
        area = NotificationArea(timeout_ms=300)
        qtbot.addWidget(area)
        area.show()
        area.show_alert(Alert("rule", "Negative sentiment", "Bob", "s2", 1, group="negative"))
        qtbot.wait(200)
        area.show_alert(Alert("rule", "Customer complains", "Ann", "s1", 1, group="complaint"))
        qtbot.wait(150)  # the first one's time is up; it waits for the second
        assert [a.group for a in area.banners()] == ["complaint", "negative"]
        top = next(w for w in area.findChildren(QToolButton) if w.toolTip() == "Dismiss"
                   and w.parentWidget().alert.group == "complaint")
        top.click()
        assert area.banners() == [] and area.isHidden()
    finally:
        clock.unsubscribe(ticker)


def test_a_banners_new_words_paint_nothing_beneath_the_area_and_look_the_same(
        qtbot: Any) -> None:
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from supervisor_desk.views.notifications import Alert
    from supervisor_desk.views.theme import THEMES, current_theme

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette = app.palette()
    window = QWidget()  # the window as the app styles it: its palette is the theme's
    qtbot.addWidget(window)
    try:
        app.setPalette(current_theme().palette())
        window.setStyleSheet(current_theme().stylesheet())
        area = NotificationArea(window)
        layout = QVBoxLayout(window)
        layout.addWidget(area)
        layout.addStretch(1)
        window.resize(700, 200)
        window.show()
        qtbot.waitExposed(window)
        area.show_alert(Alert("rule", "Customer complains", "Bob on Web", "s2", 1,
                              group="complaint"))
        qtbot.wait(50)

        paints = PaintRecorder()
        app.installEventFilter(paints)
        try:
            area.show_alert(Alert("rule", "Customer complains: 2 sessions", "Cid; Bob", "s3",
                                  2, group="complaint"))
            qtbot.waitUntil(lambda: bool(paints.painted))
            app.processEvents()
        finally:
            app.removeEventFilter(paints)
        assert window not in paints.painted, paints.painted
        for theme in (current_theme(), THEMES["dark"]):
            app.setPalette(theme.palette())
            window.setStyleSheet(theme.stylesheet())
            app.processEvents()
            filled = window.grab().toImage()
            area.setAutoFillBackground(False)
            assert window.grab().toImage() == filled
            area.setAutoFillBackground(True)
    finally:
        app.setPalette(palette)
