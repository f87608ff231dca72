"""The second's tick repaints the clock cells whose text moved, and the cells a frame changed
just before it, in one paint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtGui import QPaintEvent, QRegion
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from supervisor_desk.models.live_order import LiveOrder
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.models.wording import StartedDisplay
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def session(sid: str, started_ago: int, *, ended: bool = False) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
        "modality": "chat", "status": "completed" if ended else "active",
        "user": {"id": f"u-{sid}", "name": f"User {sid}"},
        "started_at": T0 - timedelta(seconds=started_ago), "version": 1,
    }
    if ended:
        data["ended_at"] = T0 - timedelta(seconds=5)
        data["end_reason"] = "user_disconnect"
    return SessionSummary.model_validate(data)


class PaintRegions(QObject):
    """Every region the viewport paints, in order, with the ticks counted when it painted."""

    def __init__(self, ticks: list[int]) -> None:
        super().__init__()
        self.ticks = ticks
        self.regions: list[QRegion] = []
        self.painted_after: list[int] = []  # how many ticks had come before each paint

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QPaintEvent):
            self.regions.append(QRegion(event.region()))
            self.painted_after.append(len(self.ticks))
        return False


def ticking_table(qtbot: QtBot, sessions: list[SessionSummary],
                  step: timedelta = timedelta(seconds=1)) -> tuple[
        SessionTableModel, SessionTableView, PaintRegions, list[int]]:
    """A shown live table on the app's clock, whose model's time moves ``step`` per tick
    (before the table's own tick runs), and a recorder of its viewport's paints."""
    now = [T0]
    model = SessionTableModel(clock=lambda: now[0], time_zone=UTC)
    model.set_live_order(LiveOrder.ARRIVAL)
    model.set_sessions(sessions)
    view = SessionTableView()
    qtbot.addWidget(view)
    ticks: list[int] = []

    def advance() -> None:
        now[0] += step
        ticks.append(1)

    # Subscribed before the table's own tick (setModel subscribes it): called first.
    screen_clock().subscribe(view, advance)
    view.setModel(model)
    view.resize(1400, 300)
    view.show()
    qtbot.waitExposed(view)
    QApplication.sendPostedEvents()
    paints = PaintRegions(ticks)
    view.viewport().installEventFilter(paints)
    view.viewport().update()  # painted once: the table knows which rows it shows
    qtbot.waitUntil(lambda: bool(paints.regions), timeout=3000)
    return model, view, paints, ticks


def cell(view: SessionTableView, model: SessionTableModel, sid: str,
         column: SessionColumn) -> QRect:
    rect: QRect = view.visualRect(model.index(model.row_of(sid), column))
    return rect


def wait_for_tick_paint(qtbot: QtBot, paints: PaintRegions, ticks: list[int],
                        ticked: Callable[[QRegion], bool]) -> QRegion:
    """The paint of the next tick to come (the first after it that ``ticked`` recognises)."""
    tick = len(ticks) + 1

    def of_tick() -> list[QRegion]:
        return [r for r, after in zip(paints.regions, paints.painted_after, strict=True)
                if after == tick and ticked(r)]

    qtbot.waitUntil(lambda: bool(of_tick()), timeout=3000)
    return of_tick()[0]


def assert_the_screen_shows_a_full_repaint(view: SessionTableView) -> None:
    """What the screen shows (the window's backing store) is what a full repaint shows."""
    screen_clock().unsubscribe(view)  # the model's time holds still from here
    QApplication.processEvents()
    screen = view.screen()
    shown = screen.grabWindow(view.winId()).toImage()
    view.viewport().update()
    QApplication.processEvents()
    assert shown == screen.grabWindow(view.winId()).toImage()


def test_a_cell_whose_text_did_not_change_is_not_repainted_on_the_tick(qtbot: QtBot) -> None:
    # Relative start times: "10 minutes ago" stays for a minute, "30 seconds ago" moves.
    model, view, paints, ticks = ticking_table(qtbot, [
        session("old", 600), session("new", 30), session("done", 900, ended=True)])
    model.set_started_display(StartedDisplay.RELATIVE)
    duration = cell(view, model, "new", SessionColumn.DURATION)
    # The first tick after showing may repaint every clock cell (nothing was compared yet).
    wait_for_tick_paint(qtbot, paints, ticks, lambda r: r.intersects(duration))
    tick = wait_for_tick_paint(qtbot, paints, ticks, lambda r: r.intersects(duration))

    assert model.data(model.index(model.row_of("old"), SessionColumn.START)) == \
        "10 minutes ago"
    assert tick.intersects(cell(view, model, "new", SessionColumn.START))  # 31 → 32 seconds
    assert tick.intersects(cell(view, model, "old", SessionColumn.DURATION))
    assert not tick.intersects(cell(view, model, "old", SessionColumn.START))  # same text
    assert not tick.intersects(cell(view, model, "old", SessionColumn.WAIT))  # never queued
    for column in SessionColumn:  # an ended row shows fixed times
        assert not tick.intersects(cell(view, model, "done", column)), column
    assert not tick.intersects(cell(view, model, "new", SessionColumn.USER))
    assert_the_screen_shows_a_full_repaint(view)


def test_a_tick_sooner_than_a_second_repaints_only_the_durations_that_moved(
        qtbot: QtBot) -> None:
    # The model's time moves 0.4 s a tick: "1m 0s" shows for two or three ticks.
    model, view, paints, ticks = ticking_table(
        qtbot, [session("a", 60), session("b", 90)], step=timedelta(milliseconds=400))
    a_duration = cell(view, model, "a", SessionColumn.DURATION)
    index = model.index(model.row_of("a"), SessionColumn.DURATION)
    texts: dict[int, str] = {}  # what the cell shows from each tick on
    first = len(ticks) + 1
    for tick in range(first, first + 4):
        qtbot.waitUntil(lambda tick=tick: len(ticks) >= tick, timeout=3000)
        texts[tick] = model.data(index)
    qtbot.waitUntil(lambda: len(ticks) >= first + 4, timeout=3000)  # the last one painted
    moved = [texts[t] != texts[t - 1] for t in range(first + 1, first + 4)]
    repainted = [any(r.intersects(a_duration) for r, after in zip(
        paints.regions, paints.painted_after, strict=True) if after == t)
        for t in range(first + 1, first + 4)]
    assert repainted == moved, (texts, repainted)
    assert False in moved and True in moved, texts


def test_cells_changed_just_before_the_tick_are_painted_with_it(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    model, view, paints, ticks = ticking_table(qtbot, [session("a", 60), session("b", 90)])
    duration = cell(view, model, "a", SessionColumn.DURATION)
    wait_for_tick_paint(qtbot, paints, ticks, lambda r: r.intersects(duration))
    # The next tick is due within the hold: a frame's changed cell waits for it.
    monkeypatch.setattr(screen_clock(), "due_in_ms", lambda: 50)
    start = len(paints.regions)
    b = model.session_at(model.row_of("b"))
    assert b is not None
    model.apply_changes([b.model_copy(update={"version": 2, "message_count": 9})])
    count = cell(view, model, "b", SessionColumn.MESSAGES)
    qtbot.waitUntil(lambda: any(r.intersects(count) for r in paints.regions[start:]),
                    timeout=3000)
    painted = next(r for r in paints.regions[start:] if r.intersects(count))
    # One paint for both: the held cell and the tick's moving durations.
    assert painted.intersects(duration)
    assert model.data(model.index(model.row_of("b"), SessionColumn.MESSAGES)) == "9"
    assert_the_screen_shows_a_full_repaint(view)


def test_a_held_cell_scrolled_before_the_tick_is_repainted_where_it_went(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    model, view, paints, _ticks = ticking_table(
        qtbot, [session(f"s{i:02d}", 60 + i) for i in range(40)])
    monkeypatch.setattr(screen_clock(), "due_in_ms", lambda: 50)
    monkeypatch.setattr(screen_clock(), "_arm", lambda: None)  # no tick comes
    screen_clock()._timer.stop()
    s = model.session_at(2)
    assert s is not None
    model.apply_changes([s.model_copy(update={"version": 2, "message_count": 9})])
    QApplication.processEvents()
    start = len(paints.regions)
    view.verticalScrollBar().setValue(view.rowHeight(0))  # one row up
    moved = cell(view, model, s.id, SessionColumn.MESSAGES)
    qtbot.waitUntil(lambda: any(r.intersects(moved) for r in paints.regions[start:]),
                    timeout=3000)
    assert_the_screen_shows_a_full_repaint(view)
