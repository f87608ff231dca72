"""A session judged at its first sight by one lookup (plan.FreshPlan) gets exactly the alerts
and notices that judging every rule on it gives.

Two engines see the same frames: one as shipped, one without the first-sight lookup. After
every frame they have opened, told and resolved the same things, and hold the same alerts.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.engine import AlertEngine, AlertUpdate
from supervisor_desk.models.alerts.plan import FreshPlan, condition_probes
from supervisor_desk.models.alerts.rules import (
    Actions,
    AllCondition,
    AnyCondition,
    Condition,
    FilterCondition,
    HandoverCondition,
    KeywordCondition,
    MetadataCondition,
    Rule,
    RuleSet,
    WaitCondition,
)
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.state import SessionChange
from tests.models.alerts.test_engine import T0, T0_MS, message, summary


def _rule(rule_id: str, condition: Condition, **actions: Any) -> Rule:
    return Rule(id=rule_id, name=rule_id, condition=condition, actions=Actions(**actions))


def _filter(**fields: Any) -> FilterCondition:
    return FilterCondition(filter=SessionFilter(**fields))


RULES = RuleSet(rules=(
    *default_rules().rules,  # waits, failed, keywords, negative sentiment, new/ended
    _rule("a1-queued-or-vip", AnyCondition(conditions=(
        _filter(agent=("a1",), status=("queued",)), MetadataCondition(key="vip", value="yes")))),
    _rule("a2-queued-or-vip", AnyCondition(conditions=(
        _filter(agent=("a2",), status=("queued",)), MetadataCondition(key="vip", value="Yes")))),
    _rule("agent-a1", _filter(agent=("a1",))),
    _rule("agent-a3", _filter(agent=("a3", "a1"))),
    _rule("fr", _filter(country="fr")),
    _rule("de", _filter(country="DE")),
    _rule("gold", MetadataCondition(key="tier", value="gold")),
    _rule("silver", MetadataCondition(key="tier", value="Silver")),
    _rule("handover", HandoverCondition()),
    _rule("human-web", _filter(responsible="human", channel=("web",))),
    _rule("operator-o1", _filter(operator=("o1",))),
    _rule("ended-ones", _filter(live=False)),
    _rule("said-or-gold", AnyCondition(conditions=(
        KeywordCondition(phrases=("refund",)), MetadataCondition(key="tier", value="gold")))),
    _rule("team-red", _filter(team=("red",))),  # a wide filter: judged as usual
    _rule("gold-wait", AllCondition(conditions=(
        MetadataCondition(key="tier", value="gold"), WaitCondition(seconds=5)))),
    _rule("vip-routine", MetadataCondition(key="vip", value="yes"),
          track=False),  # tells each time it holds
))

# Few profiles, so that sessions often share every value but one (an agent, a country): a
# lookup keyed on too little shows as a wrong answer for the second of two such sessions.
_PROFILES = (
    {"status": "queued", "channel": "web", "tier": None, "vip": None, "handover": None,
     "responsible": None, "team": None},
    {"status": "active", "channel": "web", "tier": "gold", "vip": "yes", "handover": "1",
     "responsible": "ai", "team": "red"},
    {"status": "active", "channel": "phone", "tier": "GOLD", "vip": "YES", "handover": "",
     "responsible": "human", "team": None},
    {"status": "queued", "channel": "web", "tier": "silver", "vip": "no", "handover": "1",
     "responsible": "o1", "team": "blue"},
    {"status": "active", "channel": "web", "tier": None, "vip": None, "handover": None,
     "responsible": "o2", "team": None},
    {"status": "failed", "channel": "phone", "tier": "gold", "vip": None, "handover": None,
     "responsible": None, "team": None},
    {"status": "completed", "channel": "web", "tier": None, "vip": "yes", "handover": None,
     "responsible": "human", "team": "red"},
)
_session = st.builds(
    lambda profile, agent, country: {**profile, "agent": agent, "country": country},
    st.sampled_from(_PROFILES), st.sampled_from(["a1", "a2", "a3", "a4", "a5"]),
    st.sampled_from(["FR", "fr", "DE", "IT", "ES", None]))
# (kind, session number, fields, replayed); "added" of a session seen before is an update.
_change = st.tuples(st.sampled_from(["added", "updated", "say", "answer", "ended"]),
                    st.integers(min_value=0, max_value=15), _session, st.booleans())


def _summary(sid: str, version: int, fields: dict[str, Any]) -> Any:
    metadata = {k: fields[k] for k in ("tier", "vip", "handover") if fields[k] is not None}
    who = fields["responsible"]
    responsible = (None if who is None else {"kind": who} if who in ("ai", "human")
                   else {"kind": "human", "operator": {"id": who, "name": who}})
    extra: dict[str, Any] = {
        "agent": {"id": fields["agent"], "name": "Bot"}, "channel": fields["channel"],
        "location": {"country_code": fields["country"]}, "metadata": metadata,
        "team": fields["team"],
    }
    if responsible is not None:
        extra["responsible"] = responsible
    if fields["status"] == "queued":
        extra["queued_at"] = T0
    return summary(sid, fields["status"], version, **extra)


def _seen(update: AlertUpdate) -> tuple[Any, ...]:
    return (
        sorted((a.session_id, a.rule_id) for a in update.opened),
        sorted((a.session_id, a.rule_id) for a in update.passing),
        sorted((a.session_id, a.rule_id) for a in update.resolved),
        sorted((n.rule.id, tuple(sorted(a.session_id for a in n.alerts)), n.repeat)
               for n in update.notices),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_change, min_size=1, max_size=8), max_size=10))
def test_first_sight_by_lookup_says_what_judging_every_rule_says(
    frames: list[list[tuple[str, int, dict[str, Any], bool]]],
) -> None:
    fast, slow = AlertEngine(RULES), AlertEngine(RULES)
    assert fast._fresh is not None
    slow._fresh = None
    versions: dict[str, int] = {}
    now = T0_MS
    for n, frame in enumerate(frames):
        now += 3000
        fresh: list[SessionChange] = []
        replays: list[SessionChange] = []
        for kind, number, fields, replayed in frame:
            sid = f"s{number}"
            versions[sid] = versions.get(sid, 0) + 1
            session = _summary(sid, versions[sid], fields)
            if kind in ("say", "answer"):
                seq = versions[sid]
                said = message(sid, seq, "I want a refund" if seq % 2 else "hello",
                               role="customer" if kind == "say" else "ai",
                               seconds=(now - T0_MS) / 1000)
                change = SessionChange("message", session, said)
            elif kind == "added" and versions[sid] == 1:
                change = SessionChange("added" if session.is_live else "ended", session)
            else:
                change = SessionChange("updated" if session.is_live else "ended", session)
            (replays if replayed else fresh).append(change)
        for engine_changes, replayed in ((fresh, False), (replays, True)):
            if engine_changes:
                got = fast.apply(engine_changes, now, replayed=replayed)
                want = slow.apply(engine_changes, now, replayed=replayed)
                assert _seen(got) == _seen(want)
        assert _seen(fast.tick(now)) == _seen(slow.tick(now))
        if n % 3 == 2:  # ended rows leave the list
            gone = [sid for sid in versions if sid in fast._facts
                    and not fast._facts[sid].live]
            assert _seen(fast.forget(gone, now)) == _seen(slow.forget(gone, now))
        assert ({(a.session_id, a.rule_id, a.state) for a in fast.active_alerts()}
                == {(a.session_id, a.rule_id, a.state) for a in slow.active_alerts()})


def test_only_untimed_rules_that_read_a_few_values_are_looked_up() -> None:
    engine = AlertEngine(RULES)
    plan = engine._fresh
    assert isinstance(plan, FreshPlan)
    rest = {j.id if not j.grouped else "group" for j in plan.rest}
    # The wide filter and the timed rules are judged as usual; keyword-only rules read
    # nothing a new session has.
    assert "team-red" in rest and "gold-wait" in rest and "complaint" not in rest
    assert condition_probes(WaitCondition(seconds=3)) is None
    assert condition_probes(_filter(team=("red",))) is None
    assert condition_probes(AnyCondition(conditions=(
        _filter(agent=("a1",), status=("queued",)), MetadataCondition(key="vip", value="y"),
    ))) == frozenset({"agent", "status", ("metadata", "vip")})


def test_a_new_session_of_an_agent_no_rule_names_shares_the_answer_of_every_such_agent() -> None:
    engine = AlertEngine(RULES)
    plan = engine._fresh
    assert plan is not None
    for n, agent in enumerate(["a4", "a5", "a6", "a7"]):
        fields = {"status": "active", "agent": agent, "channel": "web", "country": "IT",
                  "tier": None, "vip": None, "handover": None, "responsible": None,
                  "team": None}
        update = engine.apply([SessionChange("added", _summary(f"n{n}", 1, fields))],
                              T0_MS + n * 1000)
        assert [a.rule_id for a in update.passing] == ["builtin.new-session"]
    assert len(plan._cache) == 1
