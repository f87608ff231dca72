"""A window in the tray or minimised does no painting, ticking or table work, yet is current the
instant it shows; alerts and every follower of the feed keep going meanwhile."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtGui import QPaintEvent, QRegion
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.main_window import MainWindow
from supervisor_desk.views.notifications import Alert
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.tasks import standalone_scope
from tests.views.test_live_list import Feed, summary

TABLE_SIGNALS = ("rowsInserted", "rowsRemoved", "rowsMoved", "dataChanged", "modelReset",
                 "layoutChanged")


class PaintCounter(QObject):
    """Counts paint and layout requests that reach ``window`` or anything in it."""

    def __init__(self, window: QWidget) -> None:
        super().__init__()
        self.window = window
        self.events = 0
        self.seen: list[str] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Paint, QEvent.Type.LayoutRequest) and \
                isinstance(watched, QWidget) and watched.window() is self.window:
            self.events += 1
            self.seen.append(f"{type(watched).__name__}:{watched.objectName()}:{event.type().name}")
        return False


@pytest.fixture
def desk(qtbot: QtBot) -> Any:
    model = SessionTableModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    live = LiveViewModel(HubClient("http://127.0.0.1:9"), model, tasks=standalone_scope("live"))
    window.on_screen_changed.connect(live.set_on_screen)
    live.metrics_changed.connect(window.set_metrics)
    window.show()
    qtbot.waitExposed(window)
    yield window, live, model, Feed(live)
    live.deleteLater()


def test_in_the_tray_nothing_paints_or_ticks_while_events_apply_and_showing_is_current(
        qtbot: QtBot, desk: Any) -> None:
    window, live, model, feed = desk
    feed.snapshot(summary("a"), summary("b"))
    assert model.rowCount() == 2
    window.hide()  # closed to the tray
    assert not live.on_screen
    QApplication.sendPostedEvents()  # what hiding itself asked for (layouts of the hidden)
    table_signals: list[str] = []
    for name in TABLE_SIGNALS:
        getattr(model, name).connect(lambda *_a, name=name: table_signals.append(name))
    painted = PaintCounter(window)
    app = QApplication.instance()
    assert app is not None
    app.installEventFilter(painted)
    updated: list[str] = []
    live.session_updated.connect(lambda s: updated.append(s.id))
    try:
        feed.send("session.started", summary("c"))
        feed.send("session.updated", summary("a", version=2))
        feed.end("b")
        # The sentinel: a label on screen keeps the clock going; two ticks pass meanwhile.
        sentinel = QLabel("on screen")
        qtbot.addWidget(sentinel)
        sentinel.show()
        ticks: list[int] = []
        screen_clock().subscribe(sentinel, lambda: ticks.append(1))
        qtbot.waitUntil(lambda: len(ticks) >= 3, timeout=5000)
        # The feed was followed (store, followers) …
        assert {"a", "b", "c"} <= set(updated)
        assert live.store.get("c") is not None
        # … and the hidden window did no table, layout or paint work at all.
        assert table_signals == []
        assert painted.events == 0, painted.seen
        assert model.row_of("c") < 0
    finally:
        app.removeEventFilter(painted)
    window.show()
    # Current the instant it shows (before any paint): rows, end marks and cards.
    assert model.row_of("c") >= 0
    assert window.metric_cards.cards["live"].value() == "2"


def test_minimised_the_table_holds_too(qtbot: QtBot, desk: Any) -> None:
    window, live, model, feed = desk
    feed.snapshot(summary("a"))
    window.showMinimized()
    assert not live.on_screen
    feed.send("session.started", summary("d"))
    live.flush()
    assert model.row_of("d") < 0
    window.showNormal()
    assert live.on_screen and model.row_of("d") >= 0


def test_banners_wait_off_screen_and_only_what_still_matters_shows(
        qtbot: QtBot, desk: Any) -> None:
    window = desk[0]
    area = window.notification_area
    window.hide()
    area.show_alert(Alert("new", "New session", "Ann", "s1", 1))
    area.show_alert(Alert("new", "New session", "Bob", "s2", 1))
    area.show_alert(Alert("rule", "Long wait", "Cid", "s3", 1, sticky=True, group="wait"))
    assert area.banners() == []  # no widget built for a window nobody sees
    window.show()
    shown = area.banners()
    assert [a.kind for a in shown] == ["rule", "new"]
    assert shown[1].count == 2  # the two new sessions, merged as on screen


class PaintRegions(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.regions: list[QRegion] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QPaintEvent):
            self.regions.append(QRegion(event.region()))
        return False


def test_the_tick_repaints_only_the_cells_whose_text_moves(qtbot: QtBot) -> None:
    model = SessionTableModel()
    view = SessionTableView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(1400, 300)
    model.set_sessions([SessionSummary.model_validate(summary("live")),
                        SessionSummary.model_validate(summary("ended", "completed"))])
    view.show()
    qtbot.waitExposed(view)
    QApplication.sendPostedEvents()
    paints = PaintRegions()
    view.viewport().installEventFilter(paints)
    whole = QRegion(view.viewport().rect())
    # The first paints may still be the whole view's; the tick's is a part of it.
    qtbot.waitUntil(lambda: any(r != whole for r in paints.regions), timeout=3000)
    tick = next(r for r in paints.regions if r != whole)

    def cell(sid: str, column: SessionColumn) -> QRect:
        rect: QRect = view.visualRect(model.index(model.row_of(sid), column))
        return rect

    assert tick.intersects(cell("live", SessionColumn.DURATION))
    assert not tick.intersects(cell("live", SessionColumn.STATUS))  # a steady dot
    assert not tick.intersects(cell("ended", SessionColumn.DURATION))  # a finished time
    assert not tick.intersects(cell("live", SessionColumn.START))  # a clock time: fixed
    assert not tick.intersects(cell("live", SessionColumn.USER))
