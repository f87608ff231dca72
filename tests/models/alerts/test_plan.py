"""Grouped judging (plan.py) says exactly what judging every rule alone says.

Plain rules of one kind (waits, no-replies, durations, a metadata key, a channel, a country,
a wait per channel) are answered together by one bisection and/or lookup; AND parts that
cannot turn true by time schedule no deadline; a deadline re-judges only the timed rules.
Whatever happens to the sessions, the engine's active alerts are the rules that hold now,
rule by rule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.alerts.conditions import SessionFacts, compile_condition
from supervisor_desk.models.alerts.engine import AlertEngine
from supervisor_desk.models.alerts.plan import (
    GuardedGroup,
    ThresholdGroup,
    ValueGroup,
    build_plan,
    compile_rule,
)
from supervisor_desk.models.alerts.rules import (
    AllCondition,
    AnyCondition,
    Condition,
    DurationCondition,
    FilterCondition,
    MetadataCondition,
    NoReplyCondition,
    Rule,
    RuleSet,
    WaitCondition,
)
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.state import SessionChange
from supervisor_desk.models.wire import Message
from tests.models.alerts.test_engine import T0, T0_MS, summary


def _rule(rule_id: str, condition: Condition) -> Rule:
    return Rule(id=rule_id, name=rule_id, condition=condition)


RULES = RuleSet(rules=(
    _rule("wait-20", WaitCondition(seconds=20)),
    _rule("wait-50", WaitCondition(seconds=50)),
    _rule("wait-50b", WaitCondition(seconds=50)),
    _rule("reply-15", NoReplyCondition(seconds=15)),
    _rule("reply-40", NoReplyCondition(seconds=40)),
    _rule("long-1", DurationCondition(minutes=1)),
    _rule("long-3", DurationCondition(minutes=3)),
    _rule("gold", MetadataCondition(key="tier", value="Gold")),
    _rule("silver", MetadataCondition(key="tier", value="silver")),
    _rule("web", FilterCondition(filter=SessionFilter(channel=("web",)))),
    _rule("phone-or-email", FilterCondition(filter=SessionFilter(channel=("phone", "email")))),
    _rule("fr", FilterCondition(filter=SessionFilter(country="fr"))),
    _rule("de", FilterCondition(filter=SessionFilter(country="DE"))),
    _rule("web-wait", AllCondition(conditions=(
        WaitCondition(seconds=30), FilterCondition(filter=SessionFilter(channel=("web",)))))),
    _rule("phone-wait", AllCondition(conditions=(
        FilterCondition(filter=SessionFilter(channel=("phone", "web"))),
        WaitCondition(seconds=40)))),
    _rule("fr-wait", AllCondition(conditions=(
        WaitCondition(seconds=10), FilterCondition(filter=SessionFilter(country="FR"))))),
    _rule("gold-quiet", AllCondition(conditions=(
        MetadataCondition(key="tier", value="gold"), NoReplyCondition(seconds=25)))),
    _rule("wait-or-long", AnyCondition(conditions=(
        WaitCondition(seconds=70), DurationCondition(minutes=2)))),
    # Holds without time too: judged at once even while no time-based part can hold.
    _rule("wait-or-gold", AnyCondition(conditions=(
        WaitCondition(seconds=25), MetadataCondition(key="tier", value="gold")))),
))


def test_plain_rules_of_one_kind_are_judged_as_groups() -> None:
    plan = build_plan([compile_rule(r) for r in RULES.rules])
    groups = {frozenset(j.ids) for j in plan
              if isinstance(j, ThresholdGroup | ValueGroup | GuardedGroup)}
    assert groups == {
        frozenset({"wait-20", "wait-50", "wait-50b"}), frozenset({"reply-15", "reply-40"}),
        frozenset({"long-1", "long-3"}), frozenset({"gold", "silver"}),
        frozenset({"web", "phone-or-email"}), frozenset({"fr", "de"}),
        frozenset({"web-wait", "phone-wait"}),
    }
    alone = {j.id for j in plan if not j.grouped}
    assert alone == {"fr-wait", "gold-quiet", "wait-or-long", "wait-or-gold"}


def test_an_and_whose_untimed_part_fails_waits_for_no_deadline() -> None:
    check = compile_condition(AllCondition(conditions=(
        WaitCondition(seconds=30), FilterCondition(filter=SessionFilter(channel=("web",))))))
    phone = SessionFacts(summary(status="queued", channel="phone", queued_at=T0))
    web = SessionFacts(summary(status="queued", channel="web", queued_at=T0))
    assert check.due(phone, T0_MS) is None
    assert check.due(web, T0_MS) == T0_MS + 30_001


_step = st.tuples(
    st.sampled_from(["queue", "accept", "channel", "country", "tier", "say", "answer", "end",
                     "tick"]),
    st.integers(min_value=0, max_value=2),  # session
    st.integers(min_value=0, max_value=45),  # seconds later
    st.integers(min_value=0, max_value=3),  # which value
)
_CHANNELS = ("web", "phone", "email", "whatsapp")
_COUNTRIES = ("FR", "fr", "DE", None)
_TIERS = ("gold", "GOLD", "silver", None)


@settings(max_examples=200, deadline=None)
@given(st.lists(_step, max_size=40))
def test_active_alerts_are_exactly_the_rules_that_hold(
    steps: list[tuple[str, int, int, int]],
) -> None:
    engine = AlertEngine(RULES)
    checks = {r.id: compile_condition(r.condition) for r in RULES.rules}
    now = T0_MS
    state: dict[str, dict[str, Any]] = {}
    versions: dict[str, int] = {}
    unanswered: dict[str, int | None] = {}
    for action, n, later, pick in steps:
        now += later * 1000
        sid = f"s{n}"
        moment = T0 + timedelta(milliseconds=now - T0_MS)
        if action != "tick":
            fields = state.setdefault(sid, {"status": "active", "channel": "web"})
            message = None
            if action == "queue":
                fields.update(status="queued", queued_at=moment)
            elif action == "accept":
                fields.update(status="active")
            elif action == "channel":
                fields.update(channel=_CHANNELS[pick])
            elif action == "country":
                fields.update(location={"country_code": _COUNTRIES[pick]})
            elif action == "tier":
                tier = _TIERS[pick]
                fields.update(metadata={} if tier is None else {"tier": tier})
            elif action in ("say", "answer"):
                role = "customer" if action == "say" else "ai"
                versions[f"m{sid}"] = versions.get(f"m{sid}", 0) + 1
                message = Message.model_validate({
                    "id": f"m-{sid}-{versions[f'm{sid}']}", "session_id": sid,
                    "seq": versions[f"m{sid}"], "at": moment, "author": {"role": role},
                    "text": "hello"})
                if role == "customer" and unanswered.get(sid) is None:
                    unanswered[sid] = now
                elif role == "ai":
                    unanswered[sid] = None
            else:
                fields.update(status="completed", ended_at=moment)
            versions[sid] = versions.get(sid, 0) + 1
            session = summary(sid, version=versions[sid], **fields)
            if versions[sid] == 1:
                engine.apply([SessionChange("added", session)], now)
            kind = ("ended" if action == "end" else "message" if message is not None
                    else "updated")
            if versions[sid] > 1 or message is not None:
                engine.apply([SessionChange(kind, session, message)], now)
            if action == "end":
                engine.forget([sid], now)
                del state[sid]
                versions.pop(sid)
                unanswered.pop(sid, None)
                versions.pop(f"m{sid}", None)
        engine.tick(now)
        expected = set()
        for sid, fields in state.items():
            facts = SessionFacts(summary(sid, version=versions[sid], **fields))
            facts.unanswered_since_ms = unanswered.get(sid)
            expected |= {(sid, rule_id) for rule_id, check in checks.items()
                         if check.holds(facts, now)}
        assert {(a.session_id, a.rule_id) for a in engine.active_alerts()} == expected
