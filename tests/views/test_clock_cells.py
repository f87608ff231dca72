"""ClockCellDelegate: the ticking Wait and Duration cells, the same pixels as the style's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, QRect
from PySide6.QtGui import QImage, QRegion
from PySide6.QtWidgets import (
    QApplication,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QWidget,
)

from supervisor_desk.models.live_order import LiveOrder
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.clock_cells import ClockCellDelegate
from supervisor_desk.views.session_table_model import (
    RIGHT_CLOCK_COLUMNS,
    SessionColumn,
    SessionTableModel,
)
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.theme import THEMES, current_theme
from tests.views.conftest import CELL_STATES, painted_cell, show_theme, shown_styled_table

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def clock_session(i: int) -> SessionSummary:
    """Queued ones waiting past the wait rules' thresholds (coloured), active ones from
    seconds to hours, ended ones (their own colour)."""
    status = ("queued", "active", "active", "completed")[i % 4]
    started = NOW - timedelta(seconds=17 + 97 * i + (3600 if i % 7 == 0 else 0))
    data: dict[str, Any] = {
        "id": f"s{i:03d}", "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
        "modality": "chat", "status": status, "user": {"id": f"u{i}", "name": f"User {i}"},
        "started_at": started, "queued_at": started, "version": 1,
    }
    if status != "queued":
        data["accepted_at"] = started + timedelta(seconds=4 + i)
    if status == "completed":
        data["ended_at"] = NOW - timedelta(seconds=30)
        data["end_reason"] = "user_disconnect"
    return SessionSummary.model_validate(data)


def clock_table(qtbot: Any, rows: int = 20) -> tuple[SessionTableModel, SessionTableView,
                                                      QWidget]:
    """A styled table of clock cells with an alert's tint on two rows, its clock still,
    and its window (the caller keeps it: it owns the table)."""
    model = SessionTableModel(clock=lambda: NOW, time_zone=UTC)
    model.set_live_order(LiveOrder.LONGEST_WAIT)
    model.set_sessions([clock_session(i) for i in range(rows)])
    model.set_alerts(lambda sid: {"s005": "warning", "s010": "critical"}.get(sid),
                     [(120, "warning"), (300, "critical")])
    window, view = shown_styled_table(qtbot, model, width=1500, height=620)
    view.executeDelayedItemsLayout()
    return model, view, window


def on_screen(view: SessionTableView, qapp: QApplication) -> QImage:
    view.viewport().update()
    qapp.processEvents()
    window = view.window()
    return window.screen().grabWindow(window.winId()).toImage()


def as_the_style_paints(view: SessionTableView, qapp: QApplication) -> QImage:
    delegate = view.itemDelegateForColumn(SessionColumn.DURATION)
    plain = QStyledItemDelegate(view)
    for column in RIGHT_CLOCK_COLUMNS:
        view.setItemDelegateForColumn(column, plain)
    try:
        return on_screen(view, qapp)
    finally:
        for column in RIGHT_CLOCK_COLUMNS:
            view.setItemDelegateForColumn(column, delegate)


def test_clock_cells_show_the_styles_pixels_in_every_theme(
    qtbot: Any, qapp: QApplication
) -> None:
    model, view, _window = clock_table(qtbot)
    delegate = view.itemDelegateForColumn(SessionColumn.DURATION)
    assert isinstance(delegate, ClockCellDelegate)
    assert view.itemDelegateForColumn(SessionColumn.WAIT) is delegate
    # A selected row, and the focus frame on a clock cell of another.
    view.select_session("s006")
    view.setFocus()
    view.selectionModel().setCurrentIndex(
        model.index(model.row_of("s002"), SessionColumn.DURATION),
        QItemSelectionModel.SelectionFlag.NoUpdate)
    texts = {model.index(r, SessionColumn.DURATION).data() for r in range(model.rowCount())}
    assert {"1h 0m 17s", "17s"} & texts or len(texts) > 10  # seconds to hours
    for theme in (current_theme(), THEMES["dark"], current_theme()):
        window = view.window()
        window.setPalette(theme.palette())
        window.setStyleSheet(theme.stylesheet())
        qapp.processEvents()
        painted = delegate.painted_plain
        assert on_screen(view, qapp) == as_the_style_paints(view, qapp)
        # Most of the clock cells were painted by the view in one call (plain ones).
        assert delegate.painted_plain - painted > model.rowCount()
    assert delegate.by_style > 0  # the current cell (its focus frame over the text)


def test_the_ticks_plain_cells_are_painted_in_one_call_with_the_styles_pixels(
    qtbot: Any, qapp: QApplication
) -> None:
    """A tick's repaint of the clock columns: the plain cells painted by the view in one
    call (an alert's tinted ones too), the selected, current and hovered ones by the
    delegate, the same pixels."""
    model, view, _window = clock_table(qtbot)
    delegate = view.itemDelegateForColumn(SessionColumn.DURATION)
    assert isinstance(delegate, ClockCellDelegate)
    view.select_session("s006")
    for theme in ("light", "dark"):
        show_theme(view.window(), theme)
        before = on_screen(view, qapp)
        plain, by_style = delegate.painted_plain, delegate.by_style
        region = QRegion()
        for column in RIGHT_CLOCK_COLUMNS:
            region += QRect(view.columnViewportPosition(column), 0, view.columnWidth(column),
                            view.viewport().height())
        view.viewport().update(region)
        qapp.processEvents()
        window = view.window()
        after = window.screen().grabWindow(window.winId()).toImage()
        assert after == before
        # All 2 x 20 cells but the selected row's two, the two tinted rows' among them.
        assert delegate.painted_plain - plain == 2 * model.rowCount() - 2
        assert delegate.by_style == by_style
        assert after == as_the_style_paints(view, qapp)


@pytest.mark.parametrize("table_has_focus", [True, False])
def test_the_plain_cells_are_painted_in_one_call_in_an_active_window(
    qtbot: Any, qapp: QApplication, table_has_focus: bool
) -> None:
    """In the active window the view's items are drawn active only while the table has the
    focus (a supervisor typing in the search box: inactive); the one-call paint follows."""
    model, view, window = clock_table(qtbot)
    delegate = view.itemDelegateForColumn(SessionColumn.DURATION)
    assert isinstance(delegate, ClockCellDelegate)
    search = QLineEdit(window)
    layout = window.layout()
    assert layout is not None
    layout.addWidget(search)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    (view if table_has_focus else search).setFocus()
    qtbot.waitUntil(lambda: view.hasFocus() is table_has_focus)
    delegate.forget()  # what the first paint in this state learns (its colours), afresh
    on_screen(view, qapp)
    plain = delegate.painted_plain
    before = on_screen(view, qapp)
    assert delegate.painted_plain - plain >= model.rowCount()
    assert before == as_the_style_paints(view, qapp)


def test_a_text_wider_than_its_cell_is_elided_by_the_style(
    qtbot: Any, qapp: QApplication
) -> None:
    # The table keeps these columns wide enough for their widest text; a cell narrower than
    # its text (a bigger font on the way) still shows what the style shows: an elided text.
    model, view, _window = clock_table(qtbot)
    clock = ClockCellDelegate(view)
    index = model.index(0, SessionColumn.DURATION)
    state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Active
    narrow = painted_cell(clock, view, index, state, width=24)
    assert clock.by_style == 1
    assert narrow == painted_cell(QStyledItemDelegate(view), view, index, state, width=24)


@pytest.mark.parametrize("state", CELL_STATES.values(), ids=CELL_STATES.keys())
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_state_of_a_cell_paints_as_the_style(
    qtbot: Any, qapp: QApplication, state: QStyle.StateFlag, theme: str
) -> None:
    model, view, _window = clock_table(qtbot)
    show_theme(view.window(), theme)
    clock = ClockCellDelegate(view)
    plain = QStyledItemDelegate(view)
    for row in range(model.rowCount()):
        for column in RIGHT_CLOCK_COLUMNS:
            for alternate in (False, True):
                index = model.index(row, column)
                assert painted_cell(clock, view, index, state, alternate=alternate) == painted_cell(
                    plain, view, index, state, alternate=alternate), (row, column, alternate)
