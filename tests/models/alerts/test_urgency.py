"""What a hub holding a desktop's feed sends at once: never an event after which the desktop's
own engine opens or tells an alert (checked against the real engine on generated traffic),
and few of the rest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.engine import AlertEngine
from supervisor_desk.models.alerts.rules import (
    AllCondition,
    AnyCondition,
    DurationCondition,
    FilterCondition,
    HandoverCondition,
    KeywordCondition,
    MetadataCondition,
    NoReplyCondition,
    Rule,
    RuleSet,
    WaitCondition,
)
from supervisor_desk.models.alerts.urgency import UrgentScreen
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.state import SessionStore
from supervisor_desk.models.wire import StoredEvent
from tests.models.alerts.test_engine import T0, at

_EXTRA_RULES = (
    Rule(id="vip-complaint", name="VIP complains", condition=AllCondition(conditions=(
        KeywordCondition(phrases=("refund",)), MetadataCondition(key="tier", value="VIP")))),
    Rule(id="phone", name="Phone sessions", condition=FilterCondition(
        filter=SessionFilter(channel=("phone",)))),
    Rule(id="handover", name="Needs a human", condition=HandoverCondition()),
    Rule(id="quiet", name="Unanswered on phone", condition=AllCondition(conditions=(
        NoReplyCondition(seconds=30), FilterCondition(filter=SessionFilter(channel=("phone",))),
    ))),
    Rule(id="long-or-busy", name="Long or many messages", condition=AnyCondition(conditions=(
        DurationCondition(minutes=1),
        FilterCondition(filter=SessionFilter.model_validate({"messages": {"op": "ge", "n": 4}})),
    ))),
    Rule(id="wait-5", name="Waits 5 s", condition=WaitCondition(seconds=5)),
)
RULE_SETS = (default_rules(), RuleSet(rules=default_rules().rules + _EXTRA_RULES))

_TEXTS = ("hello", "I want a refund", "this is a complaint", "call my LAWYER now",
          "cancel my account please", "thanks", "Rëfund?")


def _summary(sid: str, version: int, status: str, seconds: float, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": "a1", "name": "Bot"}, "channel": extra.pop("channel", "web"),
        "status": status, "user": {"id": f"u-{sid}"}, "version": version,
        "started_at": (T0 + timedelta(seconds=seconds)).isoformat(),
    }
    if status == "queued":
        data["queued_at"] = data["started_at"]
    ended = extra.pop("ended_seconds", seconds)
    if status not in ("queued", "active"):
        data["ended_at"] = (T0 + timedelta(seconds=ended)).isoformat()
    data.update(extra)
    return data


_step = st.tuples(
    st.sampled_from(["s1", "s2", "s3"]),
    st.sampled_from(["start", "update", "end", "customer", "ai"]),
    st.sampled_from(["queued", "active"]),
    st.sampled_from([{}, {"sentiment": "negative"}, {"tier": "vip"}, {"handover": "asked"}]),
    st.sampled_from(["web", "phone"]),
    st.sampled_from(["completed", "failed", "cancelled"]),
    st.sampled_from(_TEXTS),
    st.floats(min_value=0.1, max_value=20),
)


def _events(steps: list[tuple[Any, ...]]) -> list[tuple[StoredEvent, int]]:
    """The generated steps as stored events, each with the moment it is judged."""
    out: list[tuple[StoredEvent, int]] = []
    versions: dict[str, int] = {}
    message_seq: dict[str, int] = {}
    started_at: dict[str, float] = {}
    ended: set[str] = set()
    clock = 0.0
    for n, (sid, what, status, metadata, channel, end, text, gap) in enumerate(steps):
        clock += gap
        kind: str
        # As a hub tells it: a session starts before it changes, and nothing changes once ended.
        if what in ("update", "end") and sid not in versions:
            what = "start"
        if what in ("start", "update", "end") and sid in ended:
            what = "customer"
        if what == "start" and sid in versions:
            what = "update"
        if what == "end":
            ended.add(sid)
        if what in ("start", "update", "end"):
            version = versions.get(sid, 0) + 1
            versions[sid] = version
            kind = {"start": "session.started", "update": "session.updated",
                    "end": "session.ended"}[what]
            # As the hub's summaries are: started once, counting the messages so far.
            begun = started_at.setdefault(sid, clock)
            data = _summary(sid, version, end if what == "end" else status, begun,
                            ended_seconds=clock, message_count=message_seq.get(sid, 0),
                            metadata=metadata, channel=channel,
                            responsible={"kind": "unassigned" if metadata else "ai"})
        else:
            seq = message_seq.get(sid, 0) + 1
            message_seq[sid] = seq
            kind = "message.created"
            data = {"id": f"m{n}", "session_id": sid, "seq": seq, "kind": "text",
                    "at": (T0 + timedelta(seconds=clock)).isoformat(),
                    "author": {"role": "customer" if what == "customer" else "ai"},
                    "text": text}
        event = StoredEvent.model_validate({
            "id": f"e{n}", "type": kind, "session_id": sid,
            "at": (T0 + timedelta(seconds=clock)).isoformat(), "data": data})
        out.append((event, at(clock)))
    return out


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(_step, min_size=1, max_size=30), rules=st.sampled_from(RULE_SETS))
def test_every_event_that_opens_or_tells_an_alert_is_urgent(
        steps: list[tuple[Any, ...]], rules: RuleSet) -> None:
    engine = AlertEngine(rules)
    store = SessionStore()
    screen = UrgentScreen(rules.rules)
    for event, now in _events(steps):
        # Time-based rules turn true between events: the desktop judges those (after a flush).
        engine.tick(now)
        change = store.apply(event)
        update = engine.apply([change] if change is not None else [], now)
        if update.opened or update.notices or update.passing:
            assert screen.urgent(event.model_dump(mode="json"), now), (
                event.type, event.data, [a.rule_id for a in update.opened])


def test_the_default_rules_let_most_of_a_floor_wait() -> None:
    screen = UrgentScreen(default_rules().rules)
    session = _summary("s1", 2, "active", 0)

    def urgent(kind: str, data: dict[str, Any]) -> bool:
        return screen.urgent({"type": kind, "data": data}, at(1))

    def said(text: str, role: str = "customer") -> dict[str, Any]:
        return {"author": {"role": role}, "kind": "text", "text": text}

    assert not urgent("message.created", said("Where is my parcel?"))
    assert not urgent("message.created", said("I will cancel my account", role="ai"))
    assert not urgent("message.updated", said("cancel my account"))
    assert not urgent("log.appended", {"text": "tool call"})
    assert not urgent("session.updated", session)
    assert urgent("message.created", said("I'll CANCEL my account!"))
    assert urgent("session.started", _summary("s2", 1, "queued", 0))
    assert urgent("session.ended", _summary("s1", 3, "completed", 0))
    assert urgent("session.updated", {**session, "metadata": {"sentiment": "Negative"}})
    assert urgent("session.updated", {"id": "broken"})  # cannot tell: never held
    assert not UrgentScreen(()).urgent({"type": "session.started", "data": session}, at(1))


def test_a_session_filter_on_message_counts_makes_every_message_urgent() -> None:
    busy = Rule(id="busy", name="Busy", condition=FilterCondition(
        filter=SessionFilter.model_validate({"messages": {"op": "ge", "n": 10}})))
    screen = UrgentScreen((busy,))
    assert screen.urgent({"type": "message.created", "data": {
        "author": {"role": "ai"}, "kind": "text", "text": "ok"}}, at(1))
    disabled = busy.model_copy(update={"enabled": False})
    assert UrgentScreen((disabled,)).quiet
