"""SessionTableView: rows that start or end far below the screen do not repaint what is shown."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from supervisor_desk.models.live_order import LiveOrder
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.theme import THEMES, current_theme
from tests.views.conftest import PaintRecorder, shown_styled_table

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def session(sid: str, started: int, *, ended: bool = False, version: int = 1) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
        "modality": "chat", "status": "completed" if ended else "active",
        "user": {"id": f"u-{sid}", "name": f"User {sid}"},
        "started_at": T0 + timedelta(seconds=started), "version": version,
    }
    if ended:
        data["ended_at"] = T0 + timedelta(seconds=started + 60)
        data["end_reason"] = "user_disconnect"
    return SessionSummary.model_validate(data)


def shown_with_paint_regions(
    qtbot: Any, qapp: QApplication, *, rows: int, width: int, height: int = 400,
    live_rows: int | None = None,
) -> tuple[SessionTableModel, SessionTableView, PaintRecorder]:
    """A shown, laid-out table of ``rows`` sessions in arrival order (the first ``live_rows``
    live and the others ended, or all live), its clock still (no repaints of its own), and a
    recorder of the regions its viewport paints from now on."""
    model = SessionTableModel(clock=lambda: T0 + timedelta(hours=1), time_zone=UTC)
    model.set_live_order(LiveOrder.ARRIVAL)
    model.set_sessions([session(f"s{i:03d}", i, ended=live_rows is not None and i >= live_rows)
                        for i in range(rows)])
    view = SessionTableView()
    qtbot.addWidget(view)
    view.set_live(False)
    view.setModel(model)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    view.executeDelayedItemsLayout()
    qapp.processEvents()
    regions = PaintRecorder()
    view.viewport().installEventFilter(regions)
    return model, view, regions


def shown_and_fully_repainted(view: SessionTableView, qapp: QApplication) -> tuple[QImage, QImage]:
    """What the screen shows of ``view`` (its window's backing store), and what it shows after
    a repaint of the whole viewport."""
    screen = view.screen()
    shown = screen.grabWindow(view.winId()).toImage()
    view.viewport().update()
    qapp.processEvents()
    return shown, screen.grabWindow(view.winId()).toImage()


def test_rows_changing_below_the_screen_leave_the_shown_rows_unpainted(
    qtbot: Any, qapp: QApplication
) -> None:
    # New sessions go to the bottom (arrival order).
    model, view, regions = shown_with_paint_regions(qtbot, qapp, rows=200, width=700, height=300)
    qtbot.waitUntil(lambda: view.rowAt(0) == 0)
    last_shown = view.rowAt(view.viewport().height() - 1)
    assert 0 < last_shown < 50
    scroll_max = view.verticalScrollBar().maximum()

    def settle() -> None:
        view.executeDelayedItemsLayout()
        qapp.processEvents()

    settle()
    regions.rects.clear()
    model.apply_changes([session("new", 500)])  # inserted as row 200
    model.apply_changes([session("s150", 150, ended=True, version=2)])  # moved, far below
    settle()
    assert model.row_of("new") > last_shown
    assert regions.rects == []
    # The scroll range still follows the new row, and scrolling shows it.
    assert view.verticalScrollBar().maximum() > scroll_max
    view.scrollToBottom()
    qtbot.waitUntil(lambda: bool(regions.rects))
    assert model.session_at(view.rowAt(view.viewport().height() - 1)).id == "s150"  # type: ignore[union-attr]

    # A change among the rows on screen repaints them.
    view.scrollToTop()
    settle()
    regions.rects.clear()
    model.apply_changes([session("s001", 1, ended=True, version=2)])  # row 1 leaves the top
    qtbot.waitUntil(lambda: bool(regions.rects))
    assert model.session_at(1).id == "s002"  # type: ignore[union-attr]


def test_an_event_that_changes_one_cell_repaints_only_that_cell(
    qtbot: Any, qapp: QApplication
) -> None:
    model, view, regions = shown_with_paint_regions(qtbot, qapp, rows=20, width=1400)

    row = model.row_of("s003")
    changed = session("s003", 3, version=2).model_copy(update={"message_count": 7})
    model.apply_changes([changed])
    qtbot.waitUntil(lambda: bool(regions.rects))
    qapp.processEvents()
    cell = view.visualRect(model.index(row, SessionColumn.MESSAGES))
    assert all(cell.contains(rect) for rect in regions.rects), (cell, regions.rects)

    # A version whose shown cells are all the same paints nothing.
    regions.rects.clear()
    quiet = changed.model_copy(update={"version": 3, "parameters": {"topic": "billing"}})
    model.apply_changes([quiet])
    view.executeDelayedItemsLayout()
    qapp.processEvents()
    assert regions.rects == []
    assert model.session_at(row) is quiet


def test_rows_changing_on_screen_repaint_from_the_first_changed_row_down(
    qtbot: Any, qapp: QApplication
) -> None:
    # An ended session moves below the live ones (arrival order).
    model, view, regions = shown_with_paint_regions(qtbot, qapp, rows=200, width=700)
    last_shown = view.rowAt(view.viewport().height() - 1)
    assert last_shown > 8

    # Row 5 leaves the screen (ended, to the bottom): rows 5.. move up, rows 0-4 stay.
    model.apply_changes([session("s005", 5, ended=True, version=2)])
    qtbot.waitUntil(lambda: bool(regions.rects))
    qapp.processEvents()
    top = view.rowViewportPosition(5)
    assert top > 0
    assert all(rect.top() >= top for rect in regions.rects), (top, regions.rects)
    assert any(rect.bottom() >= view.viewport().height() - 1 for rect in regions.rects)
    # What the screen shows (the window's backing store) is what a full repaint shows.
    shown, repainted = shown_and_fully_repainted(view, qapp)
    assert shown == repainted
    assert model.session_at(5).id == "s006"  # type: ignore[union-attr]

    # A change above the screen's top row repaints the whole viewport, as does a reset.
    view.verticalScrollBar().setValue(view.rowViewportPosition(3) + 3 * 28)
    view.executeDelayedItemsLayout()
    qapp.processEvents()
    regions.rects.clear()
    model.apply_changes([session("s001", 1, ended=True, version=2)])
    qtbot.waitUntil(lambda: bool(regions.rects))
    qapp.processEvents()
    assert any(rect.top() == 0 for rect in regions.rects), regions.rects


def test_a_frame_of_many_changed_rows_repaints_only_those_on_screen(
    qtbot: Any, qapp: QApplication
) -> None:
    model, view, regions = shown_with_paint_regions(qtbot, qapp, rows=400, width=700)
    last_shown = view.rowAt(view.viewport().height() - 1)
    assert 5 < last_shown < 40

    def frame(rows: Iterable[int], count: int) -> None:
        model.apply_changes([session(f"s{i:03d}", i).model_copy(
            update={"version": count, "message_count": count}) for i in rows])
        view.executeDelayedItemsLayout()
        qapp.processEvents()

    # Hundreds of rows changed, all below the screen (one span of rows for the model).
    frame(range(50, 400), 2)
    assert regions.rects == []
    assert model.session_at(399).message_count == 2  # type: ignore[union-attr]
    # The same from row 5 down: the rows above it on screen are not repainted.
    frame(range(5, 400), 3)
    top = view.rowViewportPosition(5)
    assert regions.rects and all(rect.top() >= top for rect in regions.rects), regions.rects
    shown, repainted = shown_and_fully_repainted(view, qapp)
    assert shown == repainted
    # Scrolled down: hundreds of rows change above and below the rows shown, none of them.
    view.scrollTo(model.index(150, 0), view.ScrollHint.PositionAtTop)
    view.executeDelayedItemsLayout()
    qapp.processEvents()
    first_shown, last_shown = view.visible_rows()
    assert first_shown == 150
    regions.rects.clear()
    frame(range(0, 140), 4)
    assert regions.rects == []
    frame([*range(0, 140), *range(last_shown + 1, 400)], 5)
    assert regions.rects == []
    assert model.session_at(0).message_count == 5  # type: ignore[union-attr]


def test_a_row_moving_among_the_rows_on_screen_repaints_only_the_rows_it_passes(
    qtbot: Any, qapp: QApplication
) -> None:
    # Ten live sessions, then ended ones (arrival order: ended rows below the live ones).
    model, view, regions = shown_with_paint_regions(
        qtbot, qapp, rows=200, width=700, height=500, live_rows=10)
    assert view.rowAt(view.viewport().height() - 1) > 12

    # s002 ends: it moves down to the top of the ended rows (row 9); rows 3-9 move up one.
    model.apply_changes([session("s002", 2, ended=True, version=2)])
    qtbot.waitUntil(lambda: bool(regions.rects))
    qapp.processEvents()
    assert model.row_of("s002") == 9
    top, bottom = view.rowViewportPosition(2), view.rowViewportPosition(10)
    assert all(top <= rect.top() and rect.bottom() < bottom for rect in regions.rects), (
        top, bottom, regions.rects)
    # What the screen shows (the window's backing store) is what a full repaint shows.
    shown, repainted = shown_and_fully_repainted(view, qapp)
    assert shown == repainted

    # Moving up (a session back from ended to live, at its arrival place) is the same.
    regions.rects.clear()
    model.apply_changes([session("s002", 2, version=3)])
    qtbot.waitUntil(lambda: bool(regions.rects))
    qapp.processEvents()
    assert model.row_of("s002") == 2
    assert all(top <= rect.top() and rect.bottom() < bottom for rect in regions.rects), (
        top, bottom, regions.rects)
    shown, repainted = shown_and_fully_repainted(view, qapp)
    assert shown == repainted


def test_repainting_cells_paints_nothing_beneath_the_table_and_looks_the_same(
    qtbot: Any, qapp: QApplication
) -> None:
    # The app's style sheet (its rounded, styled table) on a window of the table.
    model = SessionTableModel(clock=lambda: T0 + timedelta(hours=1), time_zone=UTC)
    model.set_sessions([session(f"s{i:03d}", i, ended=i >= 10) for i in range(30)])
    window, view = shown_styled_table(qtbot, model, width=1600, height=500)
    view.executeDelayedItemsLayout()
    qapp.processEvents()
    paints = PaintRecorder()
    qapp.installEventFilter(paints)
    try:
        # An event's cell (a new message count) repaints the viewport alone.
        model.apply_changes([session("s003", 3, version=2).model_copy(
            update={"message_count": 7})])
        viewport = view.viewport()
        qtbot.waitUntil(lambda: any(w is viewport for w in paints.painted))
        qapp.processEvents()
        assert all(w is viewport for w in paints.painted), paints.painted
    finally:
        qapp.removeEventFilter(paints)
    # The same pixels as the style sheet's own way (the table's background through the
    # viewport), in every theme.
    for theme in (current_theme(), THEMES["dark"]):
        window.setPalette(theme.palette())
        window.setStyleSheet(theme.stylesheet())
        qapp.processEvents()
        assert view.viewport().autoFillBackground()  # again after the new style's polish
        filled = window.grab().toImage()
        view.viewport().setAutoFillBackground(False)
        assert window.grab().toImage() == filled
        view.viewport().setAutoFillBackground(True)


class DataCallsModel(SessionTableModel):
    """The same rows, each role a cell's delegate asks read by a data() call of its own."""

    def multiData(self, index: Any, roleDataSpan: Any) -> None:  # noqa: N803
        for role_data in roleDataSpan:
            value = self.data(index, role_data.role())
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)


def test_the_ticking_cells_show_what_the_model_s_data_says(
    qtbot: Any, qapp: QApplication
) -> None:
    # Queued sessions past the wait rules' thresholds (coloured), an alert's tinted row,
    # active and ended ones; one row selected.
    now = T0 + timedelta(hours=1)
    sessions = []
    for i in range(12):
        data: dict[str, Any] = {
            "id": f"s{i:03d}", "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
            "modality": "chat", "status": ("queued", "active", "completed")[i % 3],
            "user": {"id": f"u{i}", "name": f"User {i}"}, "version": 1,
            "started_at": now - timedelta(seconds=40 + 50 * i),
            "queued_at": now - timedelta(seconds=30 + 50 * i),
        }
        if i % 3:
            data["accepted_at"] = now - timedelta(seconds=20 + 40 * i)
        if i % 3 == 2:
            data["ended_at"] = now - timedelta(seconds=10)
            data["end_reason"] = "user_disconnect"
        sessions.append(SessionSummary.model_validate(data))
    images = []
    for model_type in (SessionTableModel, DataCallsModel):
        model = model_type(clock=lambda: now, time_zone=UTC)
        model.set_sessions(sessions)
        model.set_alerts(lambda sid: "warning" if sid == "s003" else None,
                         [(120, "warning"), (300, "critical")])
        view = SessionTableView()
        qtbot.addWidget(view)
        view.set_live(False)
        view.setModel(model)
        view.resize(1400, 420)
        view.show()
        qtbot.waitExposed(view)
        view.select_session("s006")
        qapp.processEvents()
        images.append(view.grab().toImage())
    assert images[0] == images[1]
