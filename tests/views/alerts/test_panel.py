"""The Alerts panel fits a narrow dock: no sideways scrolling, the whole alert still readable."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.state import SessionChange
from supervisor_desk.views.alerts.panel import STATE_COLUMN, AlertsPanel
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel, wall_clock_ms
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
