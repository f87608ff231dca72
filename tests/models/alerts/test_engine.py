"""The alert engine: every condition against a fake clock, alert life cycle, dedupe, repeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.engine import AlertEngine
from supervisor_desk.models.alerts.rules import (
    Actions,
    AllCondition,
    AnyCondition,
    Condition,
    DurationCondition,
    EndedBadlyCondition,
    EndedCondition,
    FilterCondition,
    HandoverCondition,
    KeywordCondition,
    MetadataCondition,
    NoReplyCondition,
    Rule,
    RuleSet,
    StartedCondition,
    WaitCondition,
    wait_severity,
)
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.state import SessionChange
from supervisor_desk.models.wire import Message, SessionSummary

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_MS = to_ms(T0)


def at(seconds: float) -> int:
    return T0_MS + int(seconds * 1000)


def summary(sid: str = "s1", status: str = "queued", version: int = 1,
            **extra: Any) -> SessionSummary:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a1", "name": "Sales bot"}, "channel": "web",
        "status": status, "user": {"id": f"u-{sid}"}, "started_at": T0, "version": version,
    }
    data.update(extra)
    return SessionSummary.model_validate(data)


def message(sid: str, seq: int, text: str, role: str = "customer", seconds: float = 0,
            kind: str = "text") -> Message:
    return Message.model_validate({
        "id": f"m-{sid}-{seq}", "session_id": sid, "seq": seq, "kind": kind,
        "at": T0 + timedelta(seconds=seconds), "author": {"role": role}, "text": text,
    })


def engine_with(condition: Condition, **actions: Any) -> AlertEngine:
    rule = Rule(id="r", name="Rule", condition=condition, actions=Actions(**actions))
    return AlertEngine(RuleSet(rules=(rule,)))


@dataclass
class Case:
    name: str
    condition: Condition
    # (seconds, change kind, session, message) applied in order; then judged at `check_at`.
    steps: list[tuple[float, str, SessionSummary, Message | None]]
    check_at: float
    fires: bool


ENDED_FAILED = summary(status="failed", version=2, end_reason="error", ended_at=T0)
ENDED_DISCONNECT = summary(status="completed", version=2, end_reason="system_disconnect",
                           ended_at=T0)
ENDED_OK = summary(status="completed", version=2, end_reason="resolved", ended_at=T0)
ACTIVE = summary(status="active")
QUEUED = summary()

CASES = [
    Case("wait over N s fires after N s", WaitCondition(seconds=60),
         [(0, "added", QUEUED, None)], 61, True),
    Case("wait under N s does not fire", WaitCondition(seconds=60),
         [(0, "added", QUEUED, None)], 59, False),
    Case("wait is about queued sessions only", WaitCondition(seconds=60),
         [(0, "added", ACTIVE, None)], 600, False),
    Case("wait counts from queued_at", WaitCondition(seconds=60),
         [(0, "added", summary(queued_at=T0 + timedelta(seconds=30)), None)], 80, False),
    Case("no reply fires when the customer waits", NoReplyCondition(seconds=30),
         [(0, "added", ACTIVE, None),
          (1, "message", ACTIVE, message("s1", 1, "hello?", seconds=1))],
         32, True),
    Case("an answer stops no reply", NoReplyCondition(seconds=30),
         [(0, "added", ACTIVE, None), (1, "message", ACTIVE, message("s1", 1, "hello?", seconds=1)),
          (5, "message", ACTIVE, message("s1", 2, "Hi!", role="ai", seconds=5))], 60, False),
    Case("a draft is not an answer", NoReplyCondition(seconds=30),
         [(0, "added", ACTIVE, None), (1, "message", ACTIVE, message("s1", 1, "hello?", seconds=1)),
          (5, "message", ACTIVE, message("s1", 2, "Hi", role="ai", seconds=5, kind="draft"))],
         60, True),
    Case("failed session", EndedBadlyCondition(),
         [(0, "added", ACTIVE, None), (1, "ended", ENDED_FAILED, None)], 1, True),
    Case("system disconnect", EndedBadlyCondition(reasons=("system_disconnect",)),
         [(0, "added", ACTIVE, None), (1, "ended", ENDED_DISCONNECT, None)], 1, True),
    Case("a resolved ending is not bad", EndedBadlyCondition(),
         [(0, "added", ACTIVE, None), (1, "ended", ENDED_OK, None)], 1, False),
    Case("keyword: whole word, any case, accents", KeywordCondition(phrases=("plainte",)),
         [(0, "message", ACTIVE, message("s1", 1, "Je dépose une PLAINTÉ!"))], 0, True),
    Case("keyword: part of a word does not count", KeywordCondition(phrases=("complaint",)),
         [(0, "message", ACTIVE, message("s1", 1, "no complaints here"))], 0, False),
    Case("keyword: phrase across punctuation",
         KeywordCondition(phrases=("complaint", "cancel my account")),
         [(0, "message", ACTIVE, message("s1", 1, "Please CANCEL my... account"))], 0, True),
    Case("keyword: the AI saying it does not count", KeywordCondition(phrases=("lawyer",)),
         [(0, "message", ACTIVE, message("s1", 1, "No lawyer needed", role="ai"))], 0, False),
    Case("metadata value, any case", MetadataCondition(key="sentiment", value="negative"),
         [(0, "added", summary(status="active", metadata={"sentiment": "Negative"}), None)],
         0, True),
    Case("metadata other value", MetadataCondition(key="sentiment", value="negative"),
         [(0, "added", summary(status="active", metadata={"sentiment": "positive"}), None)],
         0, False),
    Case("longer than N min", DurationCondition(minutes=10),
         [(0, "added", ACTIVE, None)], 601, True),
    Case("shorter than N min", DurationCondition(minutes=10),
         [(0, "added", ACTIVE, None)], 599, False),
    Case("hand-over requested by the AI", HandoverCondition(),
         [(0, "added", summary(status="active", metadata={"handover": "customer_request"},
                               responsible={"kind": "unassigned"}), None)], 0, True),
    Case("hand-over taken by an operator", HandoverCondition(),
         [(0, "added", summary(status="active", metadata={"handover": "customer_request"},
                               responsible={"kind": "human",
                                            "operator": {"id": "o1", "name": "Ann"}}), None)],
         0, False),
    Case("session filter", FilterCondition(filter=SessionFilter(channel=("web",))),
         [(0, "added", ACTIVE, None)], 0, True),
    Case("session filter not matching", FilterCondition(filter=SessionFilter(channel=("phone",))),
         [(0, "added", ACTIVE, None)], 0, False),
    Case("new session", StartedCondition(), [(0, "added", ACTIVE, None)], 0, True),
    Case("session ended", EndedCondition(),
         [(0, "added", ACTIVE, None), (1, "ended", ENDED_OK, None)], 1, True),
    Case("AND: all parts", AllCondition(conditions=(
        WaitCondition(seconds=60), FilterCondition(filter=SessionFilter(channel=("web",))))),
         [(0, "added", QUEUED, None)], 61, True),
    Case("AND: one part missing", AllCondition(conditions=(
        WaitCondition(seconds=60), FilterCondition(filter=SessionFilter(channel=("phone",))))),
         [(0, "added", QUEUED, None)], 61, False),
    Case("OR: one part is enough", AnyCondition(conditions=(
        WaitCondition(seconds=600), FilterCondition(filter=SessionFilter(channel=("web",))))),
         [(0, "added", QUEUED, None)], 0, True),
    Case("OR: with a deadline", AnyCondition(conditions=(
        WaitCondition(seconds=60), MetadataCondition(key="vip", value="yes"))),
         [(0, "added", QUEUED, None)], 61, True),
    Case("OR: a failed ending or a live fact holds while live", AnyCondition(conditions=(
        EndedBadlyCondition(), FilterCondition(filter=SessionFilter(channel=("web",))))),
         [(0, "added", ACTIVE, None)], 0, True),
    Case("OR: an ending or a wait fires after the wait", AnyCondition(conditions=(
        EndedCondition(), WaitCondition(seconds=60))),
         [(0, "added", QUEUED, None)], 61, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_condition(case: Case) -> None:
    engine = engine_with(case.condition)
    opened = []
    for seconds, kind, session, msg in case.steps:
        update = engine.apply([SessionChange(kind, session, msg)], at(seconds))  # type: ignore[arg-type]
        opened += update.opened
        opened += engine.tick(at(seconds)).opened
    deadline = engine.next_deadline()
    if deadline is not None and deadline <= at(case.check_at):
        opened += engine.tick(deadline).opened
    opened += engine.tick(at(case.check_at)).opened
    assert bool(opened) is case.fires


def test_wait_is_scheduled_not_polled() -> None:
    engine = engine_with(WaitCondition(seconds=60))
    engine.apply([SessionChange("added", QUEUED)], at(0))
    assert engine.next_deadline() == at(60) + 1
    assert not engine.tick(at(60)).opened
    update = engine.tick(at(60.001))
    assert [a.session_id for a in update.opened] == ["s1"]
    assert [n.rule.id for n in update.notices] == ["r"]


def test_wait_alert_resolves_when_accepted_and_can_fire_again() -> None:
    engine = engine_with(WaitCondition(seconds=60))
    engine.apply([SessionChange("added", QUEUED)], at(0))
    (alert,) = engine.tick(at(61)).opened
    update = engine.apply([SessionChange("updated", summary(status="active", version=2))], at(70))
    assert update.resolved == [alert] and alert.state == "resolved"
    assert alert.resolved_at_ms == at(70)
    again = summary(status="queued", version=3, queued_at=T0 + timedelta(seconds=80))
    engine.apply([SessionChange("updated", again)], at(80))
    assert len(engine.tick(at(141)).opened) == 1


def test_acknowledge_records_who_and_when_and_stops_repeats() -> None:
    engine = engine_with(WaitCondition(seconds=60), repeat_seconds=30)
    engine.apply([SessionChange("added", QUEUED)], at(0))
    (alert,) = engine.tick(at(61)).opened
    repeats = engine.tick(at(91)).notices
    assert [n.repeat for n in repeats] == [True]
    assert engine.next_deadline() == at(121)
    engine.acknowledge(alert.id, "ann", at(100))
    assert (alert.state, alert.acknowledged_by, alert.acknowledged_at_ms) == (
        "acknowledged", "ann", at(100))
    assert not engine.tick(at(200)).notices
    assert engine.active_alerts() == [alert]  # acknowledged: still listed until resolved
    assert engine.next_deadline() is None


def test_snooze_silences_repeats_then_reminds() -> None:
    engine = engine_with(WaitCondition(seconds=60), repeat_seconds=30)
    engine.apply([SessionChange("added", QUEUED)], at(0))
    (alert,) = engine.tick(at(61)).opened
    engine.snooze(alert.id, at(61 + 300))
    assert not engine.tick(at(200)).notices
    reminder = engine.tick(at(361)).notices
    assert len(reminder) == 1 and reminder[0].repeat


def test_burst_of_one_rule_is_one_notice() -> None:
    engine = engine_with(WaitCondition(seconds=60))
    engine.apply([SessionChange("added", summary(f"s{i}")) for i in range(25)], at(0))
    update = engine.tick(at(61))
    assert len(update.opened) == 25
    assert len(update.notices) == 1 and len(update.notices[0].alerts) == 25


def test_replays_and_snapshots_announce_no_routine_notices() -> None:
    engine = AlertEngine(default_rules())
    update = engine.apply([SessionChange("added", ACTIVE)], at(0), replayed=True)
    assert not update.notices
    assert not engine.reset([summary("s2", status="active")], at(1)).notices
    update = engine.apply([SessionChange("added", summary("s3", status="active"))], at(2))
    assert [n.rule.name for n in update.notices] == ["New session"]
    assert not engine.active_alerts()  # routine rules keep nothing in the panel


def test_snapshot_opens_alerts_for_long_waits() -> None:
    engine = AlertEngine(default_rules())
    update = engine.reset([summary("old")], at(200))
    assert sorted(a.rule_id for a in update.opened) == ["wait-180", "wait-60"]
    assert engine.session_severity("old") == "critical"


def test_failed_alert_stays_until_the_row_leaves() -> None:
    engine = AlertEngine(default_rules())
    engine.apply([SessionChange("added", ACTIVE)], at(0))
    update = engine.apply([SessionChange("ended", ENDED_FAILED)], at(5))
    assert [a.rule_id for a in update.opened] == ["failed"]
    assert [n.rule.name for n in update.notices] == ["Session failed", "Session ended"]
    assert engine.session_severity("s1") == "warning"
    assert [a.rule_id for a in engine.forget(["s1"], at(60)).resolved] == ["failed"]
    assert engine.active_alerts() == []


def test_editing_rules_keeps_what_was_said() -> None:
    engine = AlertEngine(RuleSet())
    engine.apply([SessionChange("message", ACTIVE, message("s1", 1, "I want a refund"))], at(0))
    rule = Rule(id="refund", name="Refund", condition=KeywordCondition(phrases=("refund",)))
    assert engine.matching(rule, [ACTIVE], at(1)) == [ACTIVE]
    update = engine.set_rules(RuleSet(rules=(rule,)), at(1))
    assert [a.rule_id for a in update.opened] == ["refund"]
    update = engine.set_rules(RuleSet(rules=(rule.model_copy(update={"enabled": False}),)), at(2))
    assert [a.rule_id for a in update.resolved] == ["refund"]


def test_wait_thresholds_colour_by_rule_severity() -> None:
    thresholds = default_rules().wait_thresholds()
    assert thresholds == [(60, "warning"), (180, "critical")]
    assert wait_severity(thresholds, 30) is None
    assert wait_severity(thresholds, 90) == "warning"
    assert wait_severity(thresholds, 200) == "critical"


# ----------------------------------------------------------------------------- property

_step = st.tuples(
    st.sampled_from(["queue", "accept", "say", "answer", "end", "tick", "forget"]),
    st.integers(min_value=0, max_value=3),  # session
    st.integers(min_value=0, max_value=120),  # seconds later
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, max_size=60))
def test_never_fires_twice_while_open_and_resolves_at_the_end(
    steps: list[tuple[str, int, int]],
) -> None:
    rules = RuleSet(rules=(
        *default_rules().rules,
        Rule(id="quiet", name="No reply", condition=NoReplyCondition(seconds=30)),
        Rule(id="long", name="Long", condition=DurationCondition(minutes=2)),
        Rule(id="mix", name="Mix", condition=AnyCondition(conditions=(
            WaitCondition(seconds=90), KeywordCondition(phrases=("lawyer",))))),
    ))
    engine = AlertEngine(rules)
    now = T0_MS
    versions: dict[str, int] = {}
    ended: set[str] = set()
    seq: dict[str, int] = {}
    open_keys: set[tuple[str, str]] = set()

    def feed(update: Any) -> None:
        for alert in update.resolved:
            open_keys.discard((alert.session_id, alert.rule_id))
        for alert in update.opened:
            if not engine.rules.rule(alert.rule_id).actions.track:  # type: ignore[union-attr]
                continue
            key = (alert.session_id, alert.rule_id)
            assert key not in open_keys, f"{key} fired twice while open"
            open_keys.add(key)

    for action, n, later in steps:
        now += later * 1000
        sid = f"s{n}"
        moment = T0 + timedelta(milliseconds=now - T0_MS)
        if action == "tick":
            feed(engine.tick(now))
            continue
        if action == "forget":
            if sid in ended:
                feed(engine.forget([sid], now))
                versions.pop(sid, None)
                ended.discard(sid)
            continue
        if sid in ended:
            continue
        versions[sid] = versions.get(sid, 0) + 1
        v = versions[sid]
        if action == "queue":
            s = summary(sid, "queued", v, queued_at=moment)
            change = SessionChange("added" if v == 1 else "updated", s)
        elif action == "accept":
            change = SessionChange("added" if v == 1 else "updated", summary(sid, "active", v))
        elif action in ("say", "answer"):
            seq[sid] = seq.get(sid, 0) + 1
            s = summary(sid, "active", v)
            text = "my lawyer will call" if action == "say" else "ok"
            role = "customer" if action == "say" else "human"
            msg = Message.model_validate({
                "id": f"m{sid}{seq[sid]}", "session_id": sid, "seq": seq[sid], "at": moment,
                "author": {"role": role}, "text": text})
            feed(engine.apply([SessionChange("updated", s)], now))
            change = SessionChange("message", s, msg)
        else:
            s = summary(sid, "failed", v, end_reason="error", ended_at=moment)
            change = SessionChange("ended", s)
            ended.add(sid)
        feed(engine.apply([change], now))
        if action == "end":
            # Only the rules about how it ended may stay; forgetting the row clears them.
            left = {r for (s_id, r) in open_keys if s_id == sid}
            assert left <= {"failed"}
            feed(engine.forget([sid], now))
            ended.discard(sid)
            versions.pop(sid, None)
            assert not {k for k in open_keys if k[0] == sid}
        feed(engine.tick(now))
        if action == "tick" or n == 0:
            # The panel's count (kept, not recounted) agrees with the list.
            first = next((a for a in engine.active_alerts() if a.state == "open"), None)
            if first is not None and n == 0:
                engine.acknowledge(first.id, "ann", now)
            assert engine.open_count() == sum(
                1 for a in engine.active_alerts() if a.state == "open")
    assert {(a.session_id, a.rule_id) for a in engine.active_alerts()} == open_keys
