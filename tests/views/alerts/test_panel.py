"""The Alerts panel fits a narrow dock: no sideways scrolling, the whole alert still readable."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.state import SessionChange
from supervisor_desk.views.alerts.panel import STATE_COLUMN, AlertsPanel
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel, wall_clock_ms
from tests.views.alerts.test_alerts import queued
from tests.views.conftest import PaintRecorder


def _columns_width(panel: AlertsPanel) -> int:
    header = panel.table.horizontalHeader()
    return sum(header.sectionSize(c) for c in range(header.count())
               if not panel.table.isColumnHidden(c))


def test_a_narrow_panel_never_scrolls_sideways_and_tells_the_selected_alert(
        qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules(), user="ann")
    panel = AlertsPanel(vm)
    qtbot.addWidget(panel)
    panel.resize(260, 320)  # the dock beside the chat at 1280x720
    panel.show()
    qtbot.waitExposed(panel)
    vm.reset([queued("s1", 200, "Bartholomew Featherstonehaugh-Smythe"), queued("s2", 70)])
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3)
    table = panel.table
    assert not table.horizontalScrollBar().isVisible()
    assert _columns_width(panel) <= table.viewport().width()
    assert table.isColumnHidden(STATE_COLUMN)
    severity = panel.model.index(0, 0)
    assert severity.data() is None  # the severity as its icon, its word for screen readers
    assert severity.data(Qt.ItemDataRole.DecorationRole) is not None
    assert severity.data(Qt.ItemDataRole.AccessibleTextRole) == "Critical"
    assert "Critical · Waiting over 3 minutes — Bartholomew" in panel.detail.text()
    assert panel.detail.text().endswith("· Open")
    panel.acknowledge_selected()
    assert panel.detail.text().endswith("· Acknowledged by ann")

    panel.resize(820, 320)  # wide again: every column, the severity in words
    qtbot.waitUntil(lambda: not table.isColumnHidden(STATE_COLUMN))
    assert panel.model.index(0, 0).data() == "Critical"
    assert _columns_width(panel) <= table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()



def test_the_selected_alerts_age_moves_on_without_laying_out_the_window(qtbot: QtBot) -> None:
    from PySide6.QtCore import QEvent, QObject

    now = [wall_clock_ms()]
    vm = AlertsViewModel(default_rules(), clock=lambda: now[0])
    panel = AlertsPanel(vm)
    qtbot.addWidget(panel)
    panel.resize(260, 320)
    panel.show()
    qtbot.waitExposed(panel)
    vm.reset([queued("s1", 200, "Bartholomew Featherstonehaugh-Smythe")])
    qtbot.waitUntil(lambda: "Bartholomew" in panel.detail.text())
    label = panel.detail.label
    # Wrapped over several lines in the narrow dock, every one of them shown.
    assert panel.detail.height() >= label.heightForWidth(panel.detail.width()) > (
        label.fontMetrics().lineSpacing() * 2)

    class LayoutRequests(QObject):
        count = 0

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.LayoutRequest:
                self.count += 1
            return False

    requests = LayoutRequests(panel)
    # The line tells its own container (which has no layout to redo); no further up.
    for widget in (panel, panel.widget()):
        widget.installEventFilter(requests)
    before = panel.detail.text()
    now[0] += 7_000
    panel._on_ages_timeout()  # the second's tick
    qtbot.wait(50)
    assert panel.detail.text() != before and panel.detail.text().endswith("· Open")
    assert requests.count == 0  # a repaint of the line, nothing moved


def test_the_list_follows_a_busy_floor_in_steps_and_keeps_the_selected_alert(
        qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    panel = AlertsPanel(vm)
    qtbot.addWidget(panel)
    panel.resize(800, 320)
    panel.show()
    qtbot.waitExposed(panel)
    vm.reset([queued("s1", 70, "Ann"), queued("s2", 65, "Bob")])  # two warnings
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2)
    panel.table.selectRow(1)
    chosen = panel.selected()
    assert chosen is not None
    for n in range(3, 8):  # frames of new alerts, a critical one listed above the rest
        vm.apply_batch([SessionChange("added", queued(f"s{n}", 70 + n * 40))])
        # Listed after the frame (on the loop's next turn at the earliest), not inside it.
        assert panel.model.rowCount() == 2
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2 + 5 * 2)  # over 1 and 3 minutes
    assert panel.selected() is chosen  # still the one the supervisor chose
    assert panel.model.row_of(chosen.id) == panel.table.currentIndex().row() != 1


def test_a_shown_panel_follows_frames_row_by_row_into_the_list_a_relist_gives(
        qtbot: QtBot) -> None:
    later = [0]  # ms the vm's clock runs ahead: waits cross their thresholds
    vm = AlertsViewModel(default_rules(), clock=lambda: wall_clock_ms() + later[0])
    panel = AlertsPanel(vm)
    qtbot.addWidget(panel)
    panel.resize(800, 320)
    panel.show()
    qtbot.waitExposed(panel)
    sessions = {f"s{n}": queued(f"s{n}", 30 + 25 * n, f"Guest {n}") for n in range(8)}
    vm.reset(sessions.values())
    qtbot.waitUntil(lambda: panel.model.rowCount() == len(vm.alerts()))
    chosen = next(a for a in vm.alerts() if a.session_id == "s6" and a.rule_id == "wait-60")
    panel.table.selectRow(panel.model.row_of(chosen.id) or 0)
    assert panel.selected() is chosen
    first_row = panel.table.currentIndex().row()
    resets: list[int] = []
    panel.model.modelReset.connect(lambda: resets.append(1))

    def ended(sid: str) -> SessionChange:
        return SessionChange("ended", sessions[sid].model_copy(update={
            "status": "completed", "end_reason": "resolved", "ended_at": sessions[sid].started_at,
            "version": 2}))

    steps = [
        lambda: vm.apply_batch([SessionChange("added", queued("s8", 250, "Guest 8"))]),
        lambda: (later.__setitem__(0, 60_000), vm._on_timer_timeout()),  # more cross
        lambda: vm.apply_batch([ended("s7"), ended("s2")]),  # theirs resolve
        lambda: vm.forget(["s7", "s2"]),
        lambda: vm.apply_batch([SessionChange("updated", sessions["s5"].model_copy(
            update={"status": "active", "version": 2}))]),  # answered: its wait alerts go
    ]
    for step in steps:
        step()
        qtbot.waitUntil(lambda: not panel._turn_due)
        assert [a.id for a in panel.model._rows] == [a.id for a in vm.alerts()]
    assert not resets  # followed, never listed again
    assert chosen.is_active and panel.selected() is chosen  # still selected …
    assert panel.table.currentIndex().row() != first_row  # … where it moved
    panel.acknowledge_selected()  # the user's own action lists again, at once
    assert resets and [a.id for a in panel.model._rows] == [a.id for a in vm.alerts()]


def test_the_ages_tick_paints_nothing_beneath_the_panel_and_looks_the_same(
        qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette = app.palette()
    try:
        _tick_the_styled_panel(qtbot, app)
    finally:
        app.setPalette(palette)


def _tick_the_styled_panel(qtbot: QtBot, app: QApplication) -> None:
    from PySide6.QtWidgets import QMainWindow

    from supervisor_desk.views.theme import THEMES, current_theme

    now = [wall_clock_ms()]
    vm = AlertsViewModel(default_rules(), clock=lambda: now[0])
    window = QMainWindow()  # the dock in the app's window, as the app styles it
    qtbot.addWidget(window)
    app.setPalette(current_theme().palette())  # the app's palette is its theme's
    window.setStyleSheet(current_theme().stylesheet())
    panel = AlertsPanel(vm)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
    window.resize(900, 400)
    window.show()
    qtbot.waitExposed(window)
    vm.reset([queued("s1", 200, "Bob"), queued("s2", 70, "Ann")])
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3 and "Bob" in panel.detail.text())

    qtbot.wait(50)
    paints = PaintRecorder()
    app.installEventFilter(paints)
    try:
        now[0] += 3_000
        panel._on_ages_timeout()  # the second's tick: ages and the selected alert's line
        qtbot.waitUntil(lambda: any(w is panel.table.viewport() for w in paints.painted))
        app.processEvents()
    finally:
        app.removeEventFilter(paints)
    own = {panel.table.viewport(), panel.detail, panel.detail.label}
    assert paints.painted and all(w in own for w in paints.painted), paints.painted
    # The same pixels as the style sheet's own way (what is beneath showing through).
    for theme in (current_theme(), THEMES["dark"]):
        app.setPalette(theme.palette())
        window.setStyleSheet(theme.stylesheet())
        app.processEvents()
        assert panel.table.viewport().autoFillBackground()
        filled = window.grab().toImage()
        panel.table.viewport().setAutoFillBackground(False)
        panel.detail.setAutoFillBackground(False)
        assert window.grab().toImage() == filled
        panel.table.viewport().setAutoFillBackground(True)
        panel.detail.setAutoFillBackground(True)
