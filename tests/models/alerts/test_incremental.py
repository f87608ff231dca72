"""The engine's shortcuts say what judging everything would say.

An update that changes none of the fields the rules read is skipped at once (the usual one: a
version, a count) — unless a rule reads more than the plain fields; a customer message is
folded for keyword matching only when one search of its raw text says it may hold a phrase.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.alerts.conditions import KeywordMatcher, KeywordScreen, phrase_key
from supervisor_desk.models.alerts.engine import AlertEngine
from supervisor_desk.models.alerts.rules import FilterCondition, Rule, RuleSet
from supervisor_desk.models.filters import MessageCountFilter, SessionFilter
from supervisor_desk.models.state import SessionChange
from tests.models.alerts.test_engine import T0_MS, summary


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
