"""The engine's shortcuts say what judging everything would say.

An update that changes none of the fields the rules read is skipped at once (the usual one: a
version, a count) — unless a rule reads more than the plain fields; a customer message is
folded for keyword matching only when one search of its raw text says it may hold a phrase.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.alerts.conditions import KeywordMatcher, KeywordScreen, phrase_key
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.engine import AlertEngine, AlertUpdate
from supervisor_desk.models.alerts.rules import (
    FilterCondition,
    HandoverCondition,
    Rule,
    RuleSet,
)
from supervisor_desk.models.filters import MessageCountFilter, SessionFilter
from supervisor_desk.models.state import SessionChange, SessionStore
from supervisor_desk.models.wire import StoredEvent
from tests.models.alerts.test_engine import T0, T0_MS, summary
from tests.models.alerts.test_plan import _CHANNELS, _COUNTRIES, RULES


def _filter_rule(rule_id: str, session_filter: SessionFilter) -> Rule:
    return Rule(id=rule_id, name=rule_id, condition=FilterCondition(filter=session_filter))


def _active(engine: AlertEngine) -> set[str]:
    return {a.rule_id for a in engine.active_alerts()}


def test_an_update_that_flips_a_rule_fires_and_one_that_does_not_leaves_it() -> None:
    engine = AlertEngine(RuleSet(rules=(
        _filter_rule("web", SessionFilter(channel=("web",))),
        _filter_rule("phone", SessionFilter(channel=("phone",))),
    )))
    session = summary("s1", "active")
    engine.apply([SessionChange("added", session)], T0_MS)
    (web,) = engine.active_alerts()
    assert web.rule_id == "web"

    # Only the version and a count moved: the open alert stays the same, nothing opens.
    counted = session.model_copy(update={"version": 2, "message_count": 7})
    update = engine.apply([SessionChange("updated", counted)], T0_MS + 1)
    assert not update.opened and not update.resolved
    assert engine.active_alerts() == [web] and web.state == "open"

    # The channel moved: the web alert resolves, the phone rule fires.
    moved = counted.model_copy(update={"version": 3, "channel": "phone"})
    update = engine.apply([SessionChange("updated", moved)], T0_MS + 2)
    assert [a.rule_id for a in update.resolved] == ["web"]
    assert [a.rule_id for a in update.opened] == ["phone"]


def test_a_rule_reading_beyond_the_plain_fields_is_judged_on_every_update() -> None:
    # A message-count filter reads a field no other rule compares: no update is skipped.
    engine = AlertEngine(RuleSet(rules=(
        _filter_rule("web", SessionFilter(channel=("web",))),
        _filter_rule("chatty", SessionFilter(messages=MessageCountFilter(op="ge", n=3))),
    )))
    session = summary("s1", "active", message_count=1)
    engine.apply([SessionChange("added", session)], T0_MS)
    assert _active(engine) == {"web"}
    chatty = session.model_copy(update={"version": 2, "message_count": 3})
    update = engine.apply([SessionChange("updated", chatty)], T0_MS + 1)
    assert [a.rule_id for a in update.opened] == ["chatty"]
    assert _active(engine) == {"web", "chatty"}


_WORDS = st.text(alphabet="abAB9éÉ", min_size=1, max_size=3)
_PHRASES = st.lists(st.lists(_WORDS, min_size=1, max_size=3).map(" ".join),
                    min_size=1, max_size=4)
# Letters, digits, accents (composed and combining), punctuation, underscores, spaces.
_TEXTS = st.text(alphabet="abAB9éÉ\u0301 _-.,'", max_size=40)


@settings(max_examples=300, deadline=None)
@given(phrases=_PHRASES, text=_TEXTS)
def test_the_keyword_screen_passes_exactly_the_texts_that_say_a_phrase(
        phrases: list[str], text: str) -> None:
    matcher = KeywordMatcher(tuple(phrase_key(p) for p in phrases))
    screen = KeywordScreen([matcher])
    said = matcher.matches(phrase_key(text))
    folded = screen.folded_if_said(text)
    assert (folded is not None) == said
    if said:
        assert folded == phrase_key(text)


# What the store tells of an update (the summary it replaced, the fields that changed) stands
# in for the engine's own comparison: fed the same changes with and without it, two engines
# say the same. Dropped changes make the told summary differ from the one the engine judged
# last, where the engine must compare after all.
_TOLD_RULES = RuleSet(rules=(*default_rules().rules, *RULES.rules, Rule(
    id="handover", name="handover", condition=HandoverCondition())))
_store_step = st.tuples(
    st.sampled_from(["queue", "accept", "channel", "country", "tier", "count", "say", "answer",
                     "end", "start"]),
    st.integers(min_value=0, max_value=2),  # session
    st.integers(min_value=0, max_value=30),  # seconds later
    st.integers(min_value=0, max_value=3),  # which value
    st.booleans(),  # the change is dropped (neither engine hears it)
    st.booleans(),  # the frame ends after this step
)


def _untold(change: SessionChange) -> SessionChange:
    return SessionChange(change.kind, change.session, change.message)


def _seen(update: AlertUpdate) -> tuple[list[tuple[str, str]], ...]:
    return ([(a.session_id, a.rule_id) for a in update.opened],
            [(a.session_id, a.rule_id) for a in update.resolved],
            [(a.session_id, a.rule_id) for a in update.passing],
            [(n.rule.id, a.session_id) for n in update.notices for a in n.alerts])


@settings(max_examples=150, deadline=None)
@given(st.lists(_store_step, max_size=40))
def test_what_the_store_tells_changed_judges_as_comparing_the_summaries(
    steps: list[tuple[str, int, int, int, bool, bool]],
) -> None:
    store = SessionStore()
    told, compared = AlertEngine(_TOLD_RULES), AlertEngine(_TOLD_RULES)
    now = T0_MS
    fields: dict[str, dict[str, Any]] = {}
    versions: dict[str, int] = {}
    frame: list[SessionChange] = []
    for n_event, (action, n, later, pick, dropped, flush) in enumerate(steps):
        now += later * 1000
        sid = f"s{n}"
        moment = T0 + timedelta(milliseconds=now - T0_MS)
        current = fields.setdefault(sid, {"status": "active", "channel": "web"})
        if action in ("say", "answer"):
            versions[f"m{sid}"] = versions.get(f"m{sid}", 0) + 1
            event = StoredEvent(
                id=f"e{n_event}", type="message.created", session_id=sid, at=moment,
                data={"id": f"m-{sid}-{versions[f'm{sid}']}", "session_id": sid,
                      "seq": versions[f"m{sid}"], "at": moment.isoformat(),
                      "author": {"role": "customer" if action == "say" else "ai"},
                      "text": "a complaint" if pick == 0 else "hello"})
        else:
            if action == "queue":
                current.update(status="queued", queued_at=moment)
            elif action == "accept":
                current.update(status="active")
            elif action == "channel":
                current.update(channel=_CHANNELS[pick])
            elif action == "country":
                current.update(location={"country_code": _COUNTRIES[pick]})
            elif action == "tier":
                current.update(metadata=[{}, {"tier": "gold"}, {"handover": "yes"},
                                         {"sentiment": "negative"}][pick])
            elif action == "count":
                current.update(message_count=versions.get(sid, 0) + pick)
            elif action == "end":
                current.update(status="failed" if pick < 2 else "completed", ended_at=moment)
            elif action == "start":
                current.update(started_at=moment)
            versions[sid] = versions.get(sid, 0) + 1
            session = summary(sid, version=versions[sid], **current)
            kind = "session.started" if versions[sid] == 1 else (
                "session.ended" if action == "end" else "session.updated")
            event = StoredEvent(id=f"e{n_event}", type=kind,  # type: ignore[arg-type]
                                session_id=sid, at=moment, data=session.model_dump(mode="json"))
            if action == "end":
                del fields[sid]
        change = store.apply(event)
        if change is not None and not dropped:
            frame.append(change)
        if flush or action == "end":
            assert _seen(told.apply(frame, now)) == _seen(
                compared.apply([_untold(c) for c in frame], now))
            frame = []
            assert _seen(told.tick(now)) == _seen(compared.tick(now))
        assert ({(a.session_id, a.rule_id, a.state) for a in told.active_alerts()}
                == {(a.session_id, a.rule_id, a.state) for a in compared.active_alerts()})
        assert told.next_deadline() == compared.next_deadline()

