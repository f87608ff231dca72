"""Judging one condition against one session's facts at one moment.

Each condition compiles once to a :class:`Check`: ``holds(facts, now_ms)`` says whether it is
true now, and ``due(facts, now_ms)`` says when a time-based part could next turn it true
(milliseconds, ``None``: nothing will change without a new event). Time-based conditions only
become true as time passes (a wait only grows), so the engine schedules that moment instead of
polling every row. Times are integer milliseconds since the epoch; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from supervisor_desk.models.alerts.rules import (
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
    StartedCondition,
    WaitCondition,
)
from supervisor_desk.models.filters import normalize_words, to_ms
from supervisor_desk.models.live_order import waiting_since
from supervisor_desk.models.wire import LIVE_STATUSES, SessionSummary


@dataclass(slots=True)
class SessionFacts:
    """What the engine knows of a session beyond its summary."""

    session: SessionSummary
    # When the oldest customer message still without an answer arrived (ms), else None.
    unanswered_since_ms: int | None = None
    # Keyword conditions (by their folded phrases) a customer message has matched.
    keyword_hits: set[tuple[str, ...]] = field(default_factory=set)
    # The customer's messages, folded by phrase_key (the latest MAX_TEXTS), so a rule added
    # or edited later is judged on what was already said.
    customer_texts: list[str] = field(default_factory=list)
    # True only while the batch that first showed this session live (not a replay) is judged.
    just_started: bool = False
    # True only while the batch in which this session ended (not a replay) is judged.
    just_ended: bool = False

    @property
    def live(self) -> bool:
        return self.session.status in LIVE_STATUSES


MAX_TEXTS = 200

Holds = Callable[[SessionFacts, int], bool]
Due = Callable[[SessionFacts, int], "int | None"]


@dataclass(frozen=True, slots=True)
class Check:
    holds: Holds
    due: Due
    keywords: tuple[KeywordMatcher, ...] = ()


def _never(_facts: SessionFacts, _now: int) -> int | None:
    return None


def phrase_key(text: str) -> str:
    """A phrase or message folded for whole-word matching: " word word " (no case, no accents)."""
    return " " + " ".join(normalize_words(text)) + " "


@dataclass(frozen=True, slots=True)
class KeywordMatcher:
    """Matches customer text against a keyword condition's phrases."""

    token: tuple[str, ...]  # the folded phrases: the key in SessionFacts.keyword_hits

    def matches(self, folded_text: str) -> bool:
        return any(p in folded_text for p in self.token)


def compile_condition(condition: Condition) -> Check:
    match condition:
        case FilterCondition(filter=session_filter):
            def holds(f: SessionFacts, _now: int) -> bool:
                return session_filter.matches(f.session)
            return Check(holds, _never)
        case WaitCondition(seconds=seconds):
            limit = seconds * 1000

            def wait_holds(f: SessionFacts, now: int) -> bool:
                s = f.session
                return s.status == "queued" and now - to_ms(waiting_since(s)) > limit

            def wait_due(f: SessionFacts, now: int) -> int | None:
                s = f.session
                if s.status != "queued":
                    return None
                at = to_ms(waiting_since(s)) + limit + 1
                return at if at > now else None
            return Check(wait_holds, wait_due)
        case NoReplyCondition(seconds=seconds):
            limit = seconds * 1000

            def reply_holds(f: SessionFacts, now: int) -> bool:
                since = f.unanswered_since_ms
                return f.live and since is not None and now - since > limit

            def reply_due(f: SessionFacts, now: int) -> int | None:
                since = f.unanswered_since_ms
                if not f.live or since is None:
                    return None
                at = since + limit + 1
                return at if at > now else None
            return Check(reply_holds, reply_due)
        case DurationCondition(minutes=minutes):
            limit = minutes * 60_000

            def long_holds(f: SessionFacts, now: int) -> bool:
                return f.live and now - to_ms(f.session.started_at) > limit

            def long_due(f: SessionFacts, now: int) -> int | None:
                if not f.live:
                    return None
                at = to_ms(f.session.started_at) + limit + 1
                return at if at > now else None
            return Check(long_holds, long_due)
        case EndedBadlyCondition(reasons=reasons):
            failed = "failed" in reasons
            ends = frozenset(r for r in reasons if r != "failed")

            def bad_holds(f: SessionFacts, _now: int) -> bool:
                s = f.session
                if s.status in LIVE_STATUSES:
                    return False
                return (failed and s.status == "failed") or s.end_reason in ends
            return Check(bad_holds, _never)
        case KeywordCondition(phrases=phrases):
            matcher = KeywordMatcher(tuple(phrase_key(p) for p in phrases))

            def said_holds(f: SessionFacts, _now: int) -> bool:
                return matcher.token in f.keyword_hits
            return Check(said_holds, _never, (matcher,))
        case MetadataCondition(key=key, value=value):
            folded = value.casefold()

            def meta_holds(f: SessionFacts, _now: int) -> bool:
                found = f.session.metadata.get(key)
                return found is not None and found.casefold() == folded
            return Check(meta_holds, _never)
        case HandoverCondition():
            def handover_holds(f: SessionFacts, _now: int) -> bool:
                s = f.session
                return (f.live and bool(s.metadata.get("handover"))
                        and s.responsible.kind != "human")
            return Check(handover_holds, _never)
        case StartedCondition():
            return Check(lambda f, _now: f.just_started, _never)
        case EndedCondition():
            return Check(lambda f, _now: f.just_ended, _never)
        case AllCondition(conditions=children):
            return _combine([compile_condition(c) for c in children], every=True)
        case AnyCondition(conditions=children):
            return _combine([compile_condition(c) for c in children], every=False)
    raise TypeError(f"unknown condition {condition!r}")


def _combine(checks: list[Check], *, every: bool) -> Check:
    keywords = tuple(m for c in checks for m in c.keywords)
    holds_list = [c.holds for c in checks]
    due_list = [c.due for c in checks]

    if every:
        def all_holds(f: SessionFacts, now: int) -> bool:
            return all(h(f, now) for h in holds_list)
        holds: Holds = all_holds
    else:
        def any_holds(f: SessionFacts, now: int) -> bool:
            return any(h(f, now) for h in holds_list)
        holds = any_holds

    def due(f: SessionFacts, now: int) -> int | None:
        # The earliest moment a part could change: re-judge then (it may not be the whole).
        times = [t for d in due_list if (t := d(f, now)) is not None]
        return min(times) if times else None
    return Check(holds, due, keywords)


def is_event_condition(condition: Condition) -> bool:
    """Whether the condition is about the moment a session ends (it stays true afterwards)."""
    match condition:
        case EndedBadlyCondition() | EndedCondition():
            return True
        case AllCondition(conditions=children) | AnyCondition(conditions=children):
            return any(is_event_condition(c) for c in children)
    return False
