"""Changes taken one by one as they come and judged at the frame say what judging the frame's
batch at once says; rules replaced, a snapshot or a session forgotten in between lose nothing
and tell nothing twice."""

from __future__ import annotations

from datetime import timedelta

from supervisor_desk.models.alerts.defaults import ROUTINE_NEW_ID, default_rules
from supervisor_desk.models.alerts.engine import AlertEngine, AlertUpdate
from supervisor_desk.models.alerts.rules import Rule, RuleSet, WaitCondition
from supervisor_desk.models.state import SessionChange
from tests.models.alerts.test_engine import T0, at, message, summary


def _told(update: AlertUpdate) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.rule.id, tuple(a.session_id for a in n.alerts)) for n in update.notices]


def _frame() -> list[SessionChange]:
    queued = summary("s1", "queued", queued_at=T0 - timedelta(seconds=90))
    active = summary("s2", "active")
    failed = active.model_copy(update={"version": 2, "status": "failed", "end_reason": "error",
                                       "ended_at": T0})
    return [
        SessionChange("added", queued),
        SessionChange("added", active),
        SessionChange("message", active, message("s2", 1, "I will call my lawyer")),
        SessionChange("ended", failed, previous=active),
    ]


def test_taken_one_by_one_and_judged_at_the_frame_says_what_one_batch_says() -> None:
    at_once = AlertEngine(default_rules())
    batch = at_once.apply(_frame(), at(1))

    one_by_one = AlertEngine(default_rules())
    for change in _frame():
        one_by_one.take(change)
    assert one_by_one.active_alerts() == []  # nothing is judged before the frame
    frame = one_by_one.judge_taken(at(1))

    assert _told(frame) == _told(batch) and _told(frame)
    assert ({(a.session_id, a.rule_id) for a in one_by_one.active_alerts()}
            == {(a.session_id, a.rule_id) for a in at_once.active_alerts()})
    assert not one_by_one.judge_taken(at(2))  # judged once


def test_rules_replaced_between_take_and_frame_judge_what_came_before_once() -> None:
    engine = AlertEngine(default_rules())
    engine.take(SessionChange("added", summary("s1", "queued",
                                               queued_at=T0 - timedelta(seconds=90))))
    longer = Rule(id="wait-5m", name="Waits 5 min", condition=WaitCondition(seconds=300))
    update = engine.set_rules(RuleSet(rules=(longer,)), at(1))

    # Told once by the rules it came under (a minute's wait, the routine new session); the
    # old rule's alert resolves with it, the new rule does not hold.
    assert sorted(_told(update)) == [(ROUTINE_NEW_ID, ("s1",)), ("wait-60", ("s1",))]
    assert [a.rule_id for a in update.resolved] == ["wait-60"]
    assert not engine.judge_taken(at(2))
    assert engine.active_alerts() == []


def test_a_snapshot_or_a_forgotten_session_drops_what_was_taken_for_it() -> None:
    engine = AlertEngine(default_rules())
    engine.take(SessionChange("added", summary("s1", "queued",
                                               queued_at=T0 - timedelta(seconds=200))))
    engine.forget(["s1"], at(1))
    assert not engine.judge_taken(at(1))  # forgotten: nothing to judge, no error

    engine.take(SessionChange("added", summary("s2", "active")))
    engine.reset([summary("s3", "active")], at(2))
    assert not engine.judge_taken(at(3))  # the snapshot holds it
