"""Feed changes reach the alert rules in frames of their own, whatever pace the table keeps."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.engine import AlertUpdate
from supervisor_desk.models.state import SessionChange
from supervisor_desk.views.alerts.viewmodel import ALERT_FRAME_MS, AlertsViewModel
from tests.views.alerts.test_alerts import queued


def test_queued_changes_are_judged_within_a_frame_without_the_table(qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    bob = queued("s1", 200, "Bob")
    # No flush from the live table (hidden, its frames gather for 500 ms): our own frame.
    updates: list[AlertUpdate] = []
    vm.subscribe(vm, updates.append)
    vm.queue(SessionChange("added", bob), False)
    qtbot.waitUntil(lambda: bool(updates), timeout=ALERT_FRAME_MS * 10)
    assert {n.rule.id for n in updates[0].notices} >= {"wait-60", "wait-180"}


def test_rows_that_leave_are_judged_before_they_are_forgotten(qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    ended = queued("s1", 5).model_copy(update={
        "status": "failed", "end_reason": "error", "ended_at": queued("s1", 0).started_at})
    raised: list[list[object]] = []
    vm.subscribe(vm, lambda update: raised.append(update.notices))
    vm.queue(SessionChange("added", ended), False)
    vm.forget(["s1"])  # the row left before the frame: its failure is still told
    assert any(n.rule.id == "failed" for batch in raised for n in batch)  # type: ignore[attr-defined]
    assert vm.alerts() == []  # and, the row gone, nothing stays open


def test_a_frame_tells_once_what_changed_and_nothing_when_no_alert_moved(
        qtbot: QtBot) -> None:
    vm = AlertsViewModel(default_rules())
    updates: list[AlertUpdate] = []
    vm.subscribe(vm, updates.append)
    bob, cleo = queued("s1", 200, "Bob"), queued("s2", 5, "Cleo")
    vm.apply_batch([SessionChange("added", bob), SessionChange("added", cleo)])
    assert len(updates) == 1  # alerts opened and notices raised: one emission
    first = updates[0]
    assert {a.rule_id for a in first.opened} == {"wait-60", "wait-180"}
    assert {n.rule.id for n in first.notices} >= {"wait-60", "wait-180"}
    assert first.listed and first.sessions() == {"s1"}
    # A version moved and nothing a rule reads: no alert changed, nothing is told.
    vm.apply_batch([SessionChange("updated", cleo.model_copy(update={"version": 2}))])
    assert len(updates) == 1
    # The session ends: its alerts resolve (and the failure rule does not hold).
    done = bob.model_copy(update={"status": "completed", "end_reason": "resolved",
                                  "ended_at": bob.started_at, "version": 2})
    vm.apply_batch([SessionChange("ended", done)])
    assert len(updates) == 2
    assert {a.rule_id for a in updates[1].resolved} == {"wait-60", "wait-180"}
    assert updates[1].sessions() == {"s1"} and vm.alerts() == []


def test_a_subscriber_is_dropped_with_its_owner_and_a_failing_one_stops_nothing(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = AlertsViewModel(default_rules())
    owner = QObject()
    told: list[str] = []
    reported: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, _value, _tb: reported.append(kind))

    def failing(_update: AlertUpdate) -> None:
        raise RuntimeError("a receiver's bug")

    vm.subscribe(vm, failing)
    vm.subscribe(owner, lambda update: told.extend(a.session_id for a in update.opened))
    vm.apply_batch([SessionChange("added", queued("s1", 200))])
    assert told == ["s1", "s1"] and reported == [RuntimeError]  # both wait rules opened
    with qtbot.waitSignal(owner.destroyed):
        owner.deleteLater()
    vm.apply_batch([SessionChange("added", queued("s2", 200))])
    assert told == ["s1", "s1"]  # the owner went: no call to it


def test_a_deadline_waits_for_held_events_and_judges_what_they_changed(qtbot: QtBot) -> None:
    """The hub may hold events back (held delivery): a deadline asks for them first, so a
    session accepted in the meantime raises no wait alert."""
    vm = AlertsViewModel(default_rules())
    updates: list[AlertUpdate] = []
    vm.subscribe(vm, updates.append)
    bob = queued("s1", 59.8)  # a minute's wait in 200 ms
    vm.apply_batch([SessionChange("added", bob)])
    waiting: list[object] = []
    vm.before_deadline = waiting.append  # the feed's flush: the judging waits for its answer
    qtbot.waitUntil(lambda: bool(waiting), timeout=5000)
    assert vm.deadline_waits == 1 and not any(u.opened for u in updates)
    # What the hub held comes: Bob was accepted before his minute was up.
    accepted = bob.model_copy(update={"status": "active", "version": 2})
    vm.apply_batch([SessionChange("updated", accepted, previous=bob)])
    judge = waiting.pop()
    assert callable(judge)
    judge()
    assert not any(a.rule_id.startswith("wait") for u in updates for a in u.opened)
    assert vm.alerts() == []
