"""Alerts on the desktop: the engine's deadlines on a Qt timer, the panel's keys, the row tint,
banners for rules, and the rule editor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QLineEdit, QMainWindow
from pytestqt.qtbot import QtBot

from supervisor_desk.client.alert_rules_store import read_rules_file
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.rules import (
    CONDITION_PARTS,
    Actions,
    AllCondition,
    Condition,
    KeywordCondition,
    QuietHours,
    Rule,
    RuleSet,
    WaitCondition,
)
from supervisor_desk.models.state import SessionChange
from supervisor_desk.models.wire import Message, SessionSummary
from supervisor_desk.views.alerts.condition_tree import (
    PART_KINDS,
    RuleFormError,
    parse_part,
    part_text,
)
from supervisor_desk.views.alerts.editor import AlertRulesDialog, RuleDialog
from supervisor_desk.views.alerts.highlight import severity_text
from supervisor_desk.views.alerts.notify import AlertNotifier, notice_alert
from supervisor_desk.views.alerts.panel import AlertsPanel
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel, wall_clock_ms
from supervisor_desk.views.notifications import NotificationArea, NotificationCoalescer
from supervisor_desk.views.session_table_model import SessionColumn, SessionTableModel
from supervisor_desk.views.tray import TrayController


def now() -> datetime:
    return datetime.now(UTC)


def queued(sid: str, waited: float, name: str = "Ann") -> SessionSummary:
    started = now() - timedelta(seconds=waited)
    return SessionSummary.model_validate({
        "id": sid, "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
        "status": "queued", "user": {"id": f"u-{sid}", "name": name},
        "started_at": started, "queued_at": started,
    })


def rules(*extra: Rule) -> RuleSet:
    return RuleSet(rules=(
        Rule(id="wait", name="Waiting over a minute", severity="critical",
             condition=WaitCondition(seconds=60), actions=Actions(repeat_seconds=10)),
        *extra,
    ))


def test_wait_rule_fires_on_its_deadline_not_by_polling(qtbot: QtBot) -> None:
    vm = AlertsViewModel(rules())
    notices: list[Any] = []
    vm.subscribe(vm, lambda update: notices.extend(update.notices))
    vm.apply_batch([SessionChange("added", queued("s1", 59.7))])
    assert not notices and vm.alerts() == []
    qtbot.waitUntil(lambda: bool(notices), timeout=3000)
    assert [a.session_id for a in vm.alerts()] == ["s1"]
    assert vm.highlight("s1") == "critical"
    assert notice_alert(notices[0]).urgency == "critical"
    assert notice_alert(notices[0]).sticky


def test_replayed_changes_announce_no_routine_notices(qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    notices: list[Any] = []
    vm.subscribe(vm, lambda update: notices.extend(update.notices))
    active = queued("s1", 1).model_copy(update={"status": "active"})
    vm.apply_batch([], [SessionChange("added", active)])
    assert notices == []
    vm.apply_batch([SessionChange("added", active.model_copy(update={"id": "s2"}))])
    assert [n.rule.name for n in notices] == ["New session"]


def test_panel_lists_by_severity_acknowledges_and_snoozes_by_key(qtbot: QtBot) -> None:
    keyword = Rule(id="kw", name="Lawyer", severity="info",
                   condition=KeywordCondition(phrases=("lawyer",)))
    vm = AlertsViewModel(rules(keyword), user="ann")
    panel = AlertsPanel(vm)
    qtbot.addWidget(panel)
    panel.resize(800, 300)  # wide: every column (tests/views/alerts: narrow)
    panel.show()
    vm.reset([queued("s1", 120, "Bob"), queued("s2", 5, "Cleo")])
    message = Message.model_validate({
        "id": "m1", "session_id": "s2", "seq": 1, "at": now(),
        "author": {"role": "customer"}, "text": "I will call my LAWYER"})
    vm.apply_batch([SessionChange("message", queued("s2", 5, "Cleo"), message)])
    model = panel.model
    qtbot.waitUntil(lambda: model.rowCount() == 2)  # the list follows on the next turn
    assert model.index(0, 0).data() == "Critical" and "Bob" in model.index(0, 1).data()
    assert model.index(1, 2).data() == "Lawyer"
    assert panel.windowTitle() == "Alerts (2)"
    opened: list[str] = []
    panel.session_requested.connect(opened.append)
    panel.table.setFocus()
    panel.table.selectRow(0)
    QTest.keyClick(panel.table, Qt.Key.Key_Return)
    assert opened == ["s1"]
    QTest.keyClick(panel.table, Qt.Key.Key_A)
    first = vm.alerts()[0]
    assert first.state == "acknowledged" and first.acknowledged_by == "ann"
    assert model.index(0, 4).data() == "Acknowledged by ann"
    assert panel.windowTitle() == "Alerts (1)"
    panel.table.selectRow(1)
    panel.snooze_selected(15)
    assert model.index(1, 4).data().startswith("Snoozed (1")


def test_hidden_panel_counts_and_a_critical_alert_brings_it_forward(qtbot: QtBot) -> None:
    keyword = Rule(id="kw", name="Lawyer", severity="warning",
                   condition=KeywordCondition(phrases=("lawyer",)))
    vm = AlertsViewModel(rules(keyword))
    window = QMainWindow()
    qtbot.addWidget(window)
    reply = QLineEdit(window)
    window.setCentralWidget(reply)
    panel = AlertsPanel(vm, window)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
    panel.hide()
    menu_entry = panel.toggleViewAction()
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    reply.setFocus()
    qtbot.waitUntil(reply.hasFocus)
    # A warning: counted in the View menu's entry while the panel stays out of the way.
    vm.reset([queued("s1", 5, "Bob")])
    said = Message.model_validate({
        "id": "m1", "session_id": "s1", "seq": 1, "at": now(),
        "author": {"role": "customer"}, "text": "my lawyer will call"})
    vm.apply_batch([SessionChange("message", queued("s1", 5, "Bob"), said)])
    # Told on the loop's next turn, not inside the frame.
    qtbot.waitUntil(lambda: menu_entry.text() == "Alerts (1)")
    assert not panel.isVisible()
    # A critical one (a wait over a minute): the panel comes forward, listing both, and the
    # reply being typed keeps the keyboard.
    vm.apply_batch([SessionChange("added", queued("s2", 120, "Cleo"))])
    qtbot.waitUntil(panel.isVisible)
    assert menu_entry.isChecked()
    assert menu_entry.text() == "Alerts (2)"
    assert panel.model.rowCount() == 2 and "Cleo" in panel.model.index(0, 1).data()
    assert reply.hasFocus()
    QTest.keyClicks(reply, "ok")
    assert reply.text() == "ok"
    # Closed again by the user, it shows the count going down as alerts are acknowledged.
    menu_entry.trigger()
    assert not panel.isVisible()
    vm.acknowledge(vm.alerts()[0].id)
    assert menu_entry.text() == "Alerts (1)"


def test_rows_tint_and_wait_cells_colour_by_the_wait_rules(qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    model = SessionTableModel()
    vm.subscribe(model, lambda _update: model.alerts_changed())
    model.set_alerts(vm.highlight, list(default_rules().wait_thresholds()))
    sessions = [queued("long", 200), queued("short", 10)]
    model.set_sessions(sessions)
    vm.reset(sessions)
    rows = {model.index(r, 0).data(Qt.ItemDataRole.UserRole + 2).id: r for r in range(2)}
    long_row, short_row = rows["long"], rows["short"]
    assert model.index(long_row, SessionColumn.ID).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert model.index(long_row, SessionColumn.ID).data(Qt.ItemDataRole.DecorationRole) is not None
    assert model.index(short_row, SessionColumn.ID).data(Qt.ItemDataRole.BackgroundRole) is None
    wait = model.index(long_row, SessionColumn.WAIT).data(Qt.ItemDataRole.ForegroundRole)
    assert wait == severity_text("critical")
    assert model.index(short_row, SessionColumn.WAIT).data(Qt.ItemDataRole.ForegroundRole) is None


def test_a_frame_repaints_exactly_the_painted_rows_whose_tint_moved(qtbot: QtBot) -> None:
    """The incremental path (the sessions of the alerts opened and resolved) tells the view of
    every painted row a full repaint would show differently, and of no other."""
    later = [0]  # ms the vm's clock runs ahead: the waits grow without the rows changing
    vm = AlertsViewModel(default_rules(), clock=lambda: wall_clock_ms() + later[0])
    model = SessionTableModel()
    model.set_alerts(vm.highlight, list(default_rules().wait_thresholds()))
    sessions = {s.id: s for s in [queued(f"s{n}", 20 + 40 * n) for n in range(6)]}
    model.set_sessions(sessions.values())
    vm.reset(sessions.values())
    signalled: set[int] = set()
    model.dataChanged.connect(lambda first, last, _roles: signalled.update(
        range(first.row(), last.row() + 1)))
    vm.subscribe(model, lambda update: model.alerts_changed_for(update.sessions()))

    def tints(table: SessionTableModel) -> dict[str, Any]:  # read as a paint reads them
        def look(r: int) -> Any:
            icon = table.index(r, SessionColumn.ID).data(Qt.ItemDataRole.DecorationRole)
            return (table.index(r, SessionColumn.ID).data(Qt.ItemDataRole.BackgroundRole),
                    icon is not None)
        return {table.index(r, SessionColumn.ID).data(Qt.ItemDataRole.UserRole + 2).id: look(r)
                for r in range(table.rowCount())}

    def ended(sid: str) -> SessionChange:
        s = sessions[sid]
        return SessionChange("ended", s.model_copy(update={
            "status": "completed", "end_reason": "resolved", "ended_at": now(), "version": 2}))

    steps = [
        lambda: vm.flush(),  # nothing changed: nothing repaints
        lambda: (later.__setitem__(0, 50_000), vm._on_timer_timeout()),  # waits cross a minute
        lambda: (later.__setitem__(0, 100_000), vm._on_timer_timeout()),  # and three
        lambda: vm.apply_batch([ended("s5"), ended("s0")]),  # alerts resolve (rows stay)
    ]
    moves: list[set[int]] = []
    for step in steps:
        before = tints(model)
        signalled.clear()
        step()
        after = tints(model)
        moved = {model.row_of(sid) for sid in after if after[sid] != before[sid]}
        assert signalled == moved
        moves.append(moved)
        fresh = SessionTableModel()  # a rebuild from scratch paints the same
        fresh.set_alerts(vm.highlight, list(default_rules().wait_thresholds()))
        fresh.set_sessions(model.sessions())
        assert tints(fresh) == after
    assert [bool(m) for m in moves] == [False, True, True, True]


def test_rule_notice_shows_a_banner_and_routine_rules_keep_their_rate_limit(
        qtbot: QtBot) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close(),
                          coalescer=NotificationCoalescer(min_interval=3600))
    notifier = AlertNotifier(tray, area)
    notifier.set_rules(default_rules())
    vm = AlertsViewModel(default_rules())
    vm.subscribe(notifier, notifier.on_alerts_changed)
    with qtbot.waitSignal(notifier.delivered):  # told once the frame has ended
        vm.reset([queued("s1", 200, "Bob")])
    banners = area.banners()
    assert [b.title for b in banners] == ["Waiting over 3 minutes", "Waiting over a minute"] or \
        [b.title for b in banners] == ["Waiting over a minute", "Waiting over 3 minutes"]
    critical = next(b for b in banners if b.group == "wait-180")
    assert critical.urgency == "critical" and critical.sticky and "Bob" in critical.body
    notifier.close()


def test_quiet_hours_silence_pop_ups_and_sound(qtbot: QtBot) -> None:
    area = NotificationArea()
    qtbot.addWidget(area)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    notifier = AlertNotifier(tray, area,
                             local_now=lambda: datetime(2026, 1, 1, 23, 30))
    quiet = default_rules().model_copy(update={"quiet_hours": QuietHours(enabled=True)})
    notifier.set_rules(quiet)
    assert notifier.quiet
    vm = AlertsViewModel(quiet)
    vm.subscribe(notifier, notifier.on_alerts_changed)
    with qtbot.waitSignal(notifier.delivered):
        vm.reset([queued("s1", 200)])
    assert notifier.sounds_played == 0
    assert tray.notifications_sent == 0
    assert area.banners()  # the window still shows it
    notifier.close()


def test_every_condition_part_of_the_rules_is_offered_and_reads_back_as_written() -> None:
    # One definition of the parts (the rules' models): the editor offers exactly those, and
    # a part shown as text and read back is the same part.
    kinds = {member.model_fields["kind"].default for member in get_args(get_args(Condition)[0])}
    assert set(PART_KINDS) == set(CONDITION_PARTS) == kinds - {"all", "any"}
    samples = {"wait": "90", "no_reply": "45", "duration": "20", "keyword": "refund, lawyer",
               "metadata": "sentiment=negative", "filter": "channel=web&status=queued"}
    for kind in CONDITION_PARTS:
        part = parse_part(kind, samples.get(kind, ""))
        assert part.kind == kind
        assert parse_part(*part_text(part)) == part


def test_rule_editor_parts_and_errors(qtbot: QtBot) -> None:
    assert parse_part("wait", "90") == WaitCondition(seconds=90)
    assert parse_part("keyword", "refund, cancel my account") == KeywordCondition(
        phrases=("refund", "cancel my account"))
    with pytest.raises(RuleFormError, match="whole number"):
        parse_part("wait", "soon")
    with pytest.raises(RuleFormError, match="key=value"):
        parse_part("metadata", "negative")
    with pytest.raises(RuleFormError, match="Session filter"):
        parse_part("filter", "channel=pigeon")
    rule = Rule(id="r", name="Web wait", condition=AllCondition(conditions=(
        WaitCondition(seconds=30), parse_part("filter", "channel=web"))))
    dialog = RuleDialog(rule)
    qtbot.addWidget(dialog)
    assert [row.kind.currentData() for row in dialog.rows] == ["wait", "filter"]
    dialog.rows[0].value.setText("45")
    dialog.repeat.setValue(30)
    edited = dialog.rule()
    assert edited.condition == AllCondition(conditions=(
        WaitCondition(seconds=45), parse_part("filter", "channel=web")))
    assert edited.actions.repeat_seconds == 30
    dialog.repeat.setValue(5)
    dialog._on_buttons_accepted()
    assert dialog.result() != QDialog.DialogCode.Accepted and "10 s" in dialog.error.text()


def test_rules_dialog_tests_on_live_duplicates_and_exports(qtbot: QtBot, tmp_path: Path) -> None:
    vm = AlertsViewModel(default_rules())
    live = [queued("s1", 100, "Bob"), queued("s2", 10, "Cleo")]
    dialog = AlertRulesDialog(default_rules(), test=lambda rule: vm.matching(rule, live))
    qtbot.addWidget(dialog)
    dialog.list.setCurrentRow(0)  # wait > 60 s
    dialog.test_selected()
    assert "matches 1 live session" in dialog.test_result.text()
    assert "Bob" in dialog.test_result.text()
    dialog.duplicate_selected()
    assert dialog.chosen().rules[1].name == "Waiting over a minute (copy)"
    dialog.list.item(2).setCheckState(Qt.CheckState.Unchecked)
    dialog.mute.setChecked(True)
    chosen = dialog.chosen()
    assert not chosen.rules[2].enabled and chosen.muted
    assert not dialog.buttons["delete"].isEnabled() or not chosen.rules[0].builtin
    path = tmp_path / "team.json"
    dialog.export_file(path)
    assert read_rules_file(path) == chosen
    fresh = AlertRulesDialog(default_rules())
    qtbot.addWidget(fresh)
    assert fresh.import_file(path)
    assert len(fresh.chosen().rules) == len(default_rules().rules) + 1
    emitted: list[RuleSet] = []
    dialog.rules_chosen.connect(emitted.append)
    dialog._on_buttons_accepted()
    assert emitted and emitted[0].muted
