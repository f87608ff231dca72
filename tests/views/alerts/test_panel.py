"""The Alerts panel fits a narrow dock: no sideways scrolling, the whole alert still readable."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.state import SessionChange
from supervisor_desk.views.alerts.panel import STATE_COLUMN, AlertsPanel
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from tests.views.alerts.test_alerts import queued


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
