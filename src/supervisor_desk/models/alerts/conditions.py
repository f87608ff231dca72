"""Judging one condition against one session's facts at one moment.

Each condition compiles once to a :class:`Check`: ``holds(facts, now_ms)`` says whether it is
true now, and ``due(facts, now_ms)`` says when a time-based part could next turn it true
(milliseconds, ``None``: nothing will change without a new event). Time-based conditions only
become true as time passes (a wait only grows), so the engine schedules that moment instead of
polling every row. Times are integer milliseconds since the epoch; nothing here reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
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
from supervisor_desk.models.filters import SessionFilter, normalize_words, to_ms
from supervisor_desk.models.live_order import waiting_since
from supervisor_desk.models.wire import LIVE_STATUSES, SessionSummary


@dataclass(slots=True)
class SessionFacts:
    """What the engine knows of a session beyond its summary."""

    session: SessionSummary
    # Derived from ``session`` by see() (read by many rules per change: computed once).
    live: bool = field(init=False)
    started_ms: int = field(init=False)
    waiting_since_ms: int = field(init=False)
    # When the oldest customer message still without an answer arrived (ms), else None.
    unanswered_since_ms: int | None = None
    # Keyword conditions (by their folded phrases) a customer message has matched. Both stay
    # the shared empty value until first needed: most sessions never need them, and 10,000
    # sessions would otherwise carry 20,000 empty containers for the garbage collector.
    keyword_hits: AbstractSet[tuple[str, ...]] = frozenset()
    # The customer's messages as they came (the latest MAX_TEXTS), so a rule added or edited
    # later is judged on what was already said (KeywordScreen.match).
    customer_texts: Sequence[str] = ()
    # True only while the batch that first showed this session live (not a replay) is judged.
    just_started: bool = False
    # True only while the batch in which this session ended (not a replay) is judged.
    just_ended: bool = False

    def __post_init__(self) -> None:
        self.see(self.session)

    def hit(self, token: tuple[str, ...]) -> None:
        """A keyword condition (by its folded phrases) matched what the customer said."""
        hits = self.keyword_hits
        if isinstance(hits, set):
            hits.add(token)
        else:
            self.keyword_hits = {*hits, token}

    def said(self, text: str) -> None:
        """The customer said ``text``; only the latest MAX_TEXTS are kept."""
        texts = self.customer_texts
        if not isinstance(texts, list):
            texts = self.customer_texts = list(texts)
        texts.append(text)
        if len(texts) > MAX_TEXTS:
            del texts[0]

    def see_same_times(self, session: SessionSummary) -> None:
        """The session's latest summary, known to start and queue at the times seen before
        (its change named neither): the previous summary is not read again."""
        self.session = session
        self.live = session.status in LIVE_STATUSES

    def see(self, session: SessionSummary) -> None:
        """The session's latest summary (and what rules derive from it)."""
        old = self.session
        self.session = session
        self.live = session.status in LIVE_STATUSES
        # An update rebuilt with model_copy shares its unchanged times: convert only new ones.
        if (old is session or old.started_at is not session.started_at
                or old.queued_at is not session.queued_at):
            self.started_ms = to_ms(session.started_at)
            self.waiting_since_ms = to_ms(waiting_since(session))


MAX_TEXTS = 200

Holds = Callable[[SessionFacts, int], bool]
Due = Callable[[SessionFacts, int], "int | None"]


@dataclass(frozen=True, slots=True)
class Check:
    holds: Holds
    due: Due
    keywords: tuple[KeywordMatcher, ...] = ()
    # What can change the answer: summary fields (state.WATCHED_FIELDS), what messages told
    # ("unanswered": a reply became pending or came; "keywords": a new keyword hit), "lifecycle"
    # (started/ended now) or "*" (anything). A change that touches none of them skips the rule.
    reads: frozenset[str] = frozenset({"*"})


def never_due(_facts: SessionFacts, _now: int) -> int | None:
    return None


# normalize_words' word pattern: on ASCII text (most messages) there is nothing to decompose.
_ASCII_WORD = re.compile(r"[^\W_]+")


def phrase_key(text: str) -> str:
    """A phrase or message folded for whole-word matching: " word word " (no case, no accents)."""
    words = _ASCII_WORD.findall(text.lower()) if text.isascii() else normalize_words(text)
    return " " + " ".join(words) + " "


@dataclass(frozen=True, slots=True)
class KeywordMatcher:
    """Matches customer text against a keyword condition's phrases."""

    token: tuple[str, ...]  # the folded phrases: the key in SessionFacts.keyword_hits

    def matches(self, folded_text: str) -> bool:
        return any(p in folded_text for p in self.token)


# Between two words of a folded phrase, in raw text: anything but letters and digits.
_GAP = r"[\W_]+"
_MAX_FIRST_WORDS = 32


class KeywordScreen:
    """Which customer texts may say a phrase of some keyword conditions, in one search.

    Most messages say none of the phrases, and folding each one (phrase_key) cost more than
    judging it. An ASCII text (most of them) is searched as it came, lower-cased: a folded
    phrase " w1 w2 " is in the folded text exactly when w1, w2 stand in the raw text as whole
    words with only non-letters between them. Only a text that passes is folded.

    Before that search, the phrases' first words are looked for as plain substrings: the
    search tries every phrase at every position (7.4 us for 106 characters at 16 phrases),
    a substring test is a C scan (0.7 us for the same text), and a phrase said contains its
    first word.
    """

    __slots__ = ("_ascii", "_ascii_first_words", "_folded", "matchers")

    def __init__(self, matchers: Sequence[KeywordMatcher]) -> None:
        self.matchers = tuple(matchers)
        phrases = sorted({p for m in self.matchers for p in m.token})
        self._folded = re.compile("|".join(map(re.escape, phrases))) if phrases else None
        # A phrase with a non-ASCII word can never be said by an ASCII text.
        ascii_phrases = [p.split() for p in phrases if p.isascii()]
        self._ascii = re.compile(
            r"(?<![^\W_])(?:"
            + "|".join(_GAP.join(map(re.escape, words)) for words in ascii_phrases)
            + r")(?![^\W_])") if ascii_phrases else None
        first_words = {words[0] for words in ascii_phrases if words}
        # Past a few dozen words one scan each costs more than the search they spare; a
        # phrase with no word at all (punctuation only) has no first word to look for.
        self._ascii_first_words: tuple[str, ...] | None = (
            tuple(sorted(first_words)) if len(first_words) <= _MAX_FIRST_WORDS
            and all(ascii_phrases) else None)

    def __bool__(self) -> bool:
        return self._folded is not None

    def folded_if_said(self, text: str) -> str | None:
        """``text`` folded by phrase_key when it may say one of the phrases, else None."""
        if text.isascii():
            ascii_screen = self._ascii
            if ascii_screen is None:
                return None
            lowered = text.lower()
            first_words = self._ascii_first_words
            if first_words is not None:
                for word in first_words:
                    if word in lowered:
                        break
                else:
                    return None
            if ascii_screen.search(lowered) is None:
                return None
            return phrase_key(text)
        folded = phrase_key(text)
        screen = self._folded
        return folded if screen is not None and screen.search(folded) else None

    def match(self, facts: SessionFacts, texts: Sequence[str]) -> bool:
        """Record in ``facts`` the keyword conditions ``texts`` (raw) meet; whether any new."""
        found = False
        if self._folded is None:
            return found
        for text in texts:
            folded = self.folded_if_said(text)
            if folded is None:
                continue
            for matcher in self.matchers:
                if matcher.token not in facts.keyword_hits and matcher.matches(folded):
                    facts.hit(matcher.token)
                    found = True
        return found


def compile_condition(condition: Condition) -> Check:
    match condition:
        case FilterCondition(filter=session_filter):
            return _filter_check(session_filter)
        case WaitCondition(seconds=seconds):
            limit = seconds * 1000

            def wait_holds(f: SessionFacts, now: int) -> bool:
                s = f.session
                return s.status == "queued" and now - f.waiting_since_ms > limit

            def wait_due(f: SessionFacts, now: int) -> int | None:
                s = f.session
                if s.status != "queued":
                    return None
                at = f.waiting_since_ms + limit + 1
                return at if at > now else None
            return Check(wait_holds, wait_due, reads=frozenset({"status", "queued_at",
                                                                "started_at"}))
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
            return Check(reply_holds, reply_due, reads=frozenset({"status", "unanswered"}))
        case DurationCondition(minutes=minutes):
            limit = minutes * 60_000

            def long_holds(f: SessionFacts, now: int) -> bool:
                return f.live and now - f.started_ms > limit

            def long_due(f: SessionFacts, now: int) -> int | None:
                if not f.live:
                    return None
                at = f.started_ms + limit + 1
                return at if at > now else None
            return Check(long_holds, long_due, reads=frozenset({"status", "started_at"}))
        case EndedBadlyCondition(reasons=reasons):
            failed = "failed" in reasons
            ends = frozenset(r for r in reasons if r != "failed")

            def bad_holds(f: SessionFacts, _now: int) -> bool:
                s = f.session
                if s.status in LIVE_STATUSES:
                    return False
                return (failed and s.status == "failed") or s.end_reason in ends
            return Check(bad_holds, never_due, reads=frozenset({"status", "end_reason"}))
        case KeywordCondition(phrases=phrases):
            matcher = KeywordMatcher(tuple(phrase_key(p) for p in phrases))

            def said_holds(f: SessionFacts, _now: int) -> bool:
                return matcher.token in f.keyword_hits
            return Check(said_holds, never_due, (matcher,), reads=frozenset({"keywords"}))
        case MetadataCondition(key=key, value=value):
            folded = value.casefold()

            def meta_holds(f: SessionFacts, _now: int) -> bool:
                found = f.session.metadata.get(key)
                return found is not None and found.casefold() == folded
            return Check(meta_holds, never_due, reads=frozenset({"metadata"}))
        case HandoverCondition():
            def handover_holds(f: SessionFacts, _now: int) -> bool:
                s = f.session
                return (f.live and bool(s.metadata.get("handover"))
                        and s.responsible.kind != "human")
            return Check(handover_holds, never_due,
                         reads=frozenset({"status", "metadata", "responsible"}))
        case StartedCondition():
            return Check(lambda f, _now: f.just_started, never_due, reads=frozenset({"lifecycle"}))
        case EndedCondition():
            return Check(lambda f, _now: f.just_ended, never_due, reads=frozenset({"lifecycle"}))
        case AllCondition(conditions=children):
            return _combine([compile_condition(c) for c in children], every=True)
        case AnyCondition(conditions=children):
            return _combine([compile_condition(c) for c in children], every=False)
    raise TypeError(f"unknown condition {condition!r}")


def _combine(checks: list[Check], *, every: bool) -> Check:
    keywords = tuple(m for c in checks for m in c.keywords)
    holds_list = [c.holds for c in checks]
    due_list = [c.due for c in checks]

    # Plain loops: all()/any() over a generator cost more than the few parts they judge.
    if every:
        def all_holds(f: SessionFacts, now: int) -> bool:
            for part_holds in holds_list:  # noqa: SIM110 - see above
                if not part_holds(f, now):
                    return False
            return True
        holds: Holds = all_holds
    else:
        def any_holds(f: SessionFacts, now: int) -> bool:
            for part_holds in holds_list:  # noqa: SIM110 - see above
                if part_holds(f, now):
                    return True
            return False
        holds = any_holds

    due_list = [d for d in due_list if d is not never_due]
    reads = frozenset().union(*(c.reads for c in checks))
    if not due_list:
        return Check(holds, never_due, keywords, reads)
    if every:
        # Time only ever turns a timed part true, and nothing turns an untimed part true but
        # an event (which re-judges the rule): an AND with an untimed part failing now waits
        # for no moment, else for the moment its last timed part turns true.
        untimed = [c.holds for c in checks if c.due is never_due]
        timed = [(c.holds, c.due) for c in checks if c.due is not never_due]

        def all_due(f: SessionFacts, now: int) -> int | None:
            for part_holds in untimed:
                if not part_holds(f, now):
                    return None
            latest: int | None = None
            for part_holds, part_due in timed:
                if part_holds(f, now):
                    continue
                at = part_due(f, now)
                if at is None:
                    return None
                if latest is None or at > latest:
                    latest = at
            return latest
        return Check(holds, all_due, keywords, reads)

    def any_due(f: SessionFacts, now: int) -> int | None:
        # The earliest moment one part could turn true.
        times = [t for d in due_list if (t := d(f, now)) is not None]
        return min(times) if times else None
    return Check(holds, any_due, keywords, reads)


_SET_FIELDS = ("agent", "channel", "status", "operator", "responsible", "country", "live")
_FIELD_READS = {"agent": "agent", "channel": "channel", "status": "status", "live": "status",
                "operator": "responsible", "responsible": "responsible", "country": "location"}
def _filter_check(session_filter: SessionFilter) -> Check:
    """A session filter; the usual ones (channel, agent, status…) as a few set lookups."""
    used = {k for k, v in session_filter.model_dump(exclude_defaults=True).items()
            if v not in (None, ())}
    if not used <= set(_SET_FIELDS):
        def holds(f: SessionFacts, _now: int) -> bool:
            return session_filter.matches(f.session)
        return Check(holds, never_due)  # reads "*": judged on every change
    agents = frozenset(session_filter.agent)
    channels = frozenset(session_filter.channel)
    statuses = frozenset(session_filter.status)
    operators = frozenset(session_filter.operator)
    responsible = session_filter.responsible
    country = session_filter.country.upper() if session_filter.country else None
    live = session_filter.live

    def quick_holds(f: SessionFacts, _now: int) -> bool:
        s = f.session
        if channels and s.channel not in channels:
            return False
        if statuses and s.status not in statuses:
            return False
        if agents and s.agent.id not in agents:
            return False
        if operators and (s.responsible.operator is None
                          or s.responsible.operator.id not in operators):
            return False
        if responsible is not None and s.responsible.kind != responsible:
            return False
        if country is not None and (s.location.country_code or "").upper() != country:
            return False
        return live is None or (s.status in LIVE_STATUSES) == live
    return Check(quick_holds, never_due, reads=frozenset(_FIELD_READS[k] for k in used))


def is_event_condition(condition: Condition) -> bool:
    """Whether the condition is about the moment a session ends (it stays true afterwards)."""
    match condition:
        case EndedBadlyCondition() | EndedCondition():
            return True
        case AllCondition(conditions=children) | AnyCondition(conditions=children):
            return any(is_event_condition(c) for c in children)
    return False
