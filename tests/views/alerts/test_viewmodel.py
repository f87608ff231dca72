"""Feed changes reach the alert rules in frames of their own, whatever pace the table keeps."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.state import SessionChange
from supervisor_desk.views.alerts.viewmodel import ALERT_FRAME_MS, AlertsViewModel
from tests.views.alerts.test_alerts import queued


def test_queued_changes_are_judged_within_a_frame_without_the_table(qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    bob = queued("s1", 200, "Bob")
    # No flush from the live table (hidden, its frames gather for 500 ms): our own frame.
    with qtbot.waitSignal(vm.alerts_changed, timeout=ALERT_FRAME_MS * 10) as raised:
        vm.queue(SessionChange("added", bob), False)
    assert {n.rule.id for n in raised.args[0].notices} >= {"wait-60", "wait-180"}


def test_rows_that_leave_are_judged_before_they_are_forgotten(qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    ended = queued("s1", 5).model_copy(update={
        "status": "failed", "end_reason": "error", "ended_at": queued("s1", 0).started_at})
    raised: list[list[object]] = []
    vm.alerts_changed.connect(lambda update: raised.append(update.notices))
    vm.queue(SessionChange("added", ended), False)
    vm.forget(["s1"])  # the row left before the frame: its failure is still told
    assert any(n.rule.id == "failed" for batch in raised for n in batch)  # type: ignore[attr-defined]
    assert vm.alerts() == []  # and, the row gone, nothing stays open
