"""How the engine judges a rule set: single rules, and groups of rules answered by one lookup.

A contact centre's rules repeat a few kinds with different values — waits of 60 s and 180 s, a
no-reply per team, a metadata value per tier, a country or channel per queue. Judged one by
one, every change costs a call per rule. Plain rules of one kind are therefore judged as a
group: one bisection over the sorted thresholds ("more than N since…"), one dict lookup of
the session's value (metadata key, channel, status, agent, country), or both for ANDs of one
of each ("waits over 30 s AND channel is web"), answers every rule of the group at once; only
the rules that hold, or that had an alert open, cost anything more.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, Literal

from supervisor_desk.models.alerts.conditions import (
    Check,
    Due,
    Holds,
    SessionFacts,
    compile_condition,
    is_event_condition,
    never_due,
)
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
    Rule,
    Severity,
    StartedCondition,
    WaitCondition,
)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    # Judged alone (a group's is True): one attribute read tells them apart on the hot path.
    grouped: ClassVar[Literal[False]] = False
    rule: Rule
    check: Check
    about_ending: bool
    # Read once per rule per judged session: kept flat, ``due`` None when nothing is timed.
    id: str
    holds: Holds
    due: Due | None
    reads: frozenset[str]
    # What opening an alert reads of the rule, flat (each alert opened read them through
    # the rule's models).
    name: str
    severity: Severity
    track: bool
    repeat_ms: int | None  # repeats until acknowledged (tracked rules only), else None


def compile_rule(rule: Rule) -> CompiledRule:
    check = compile_condition(rule.condition)
    actions = rule.actions
    repeat = actions.repeat_seconds
    return CompiledRule(rule, check, is_event_condition(rule.condition), rule.id, check.holds,
                        None if check.due is never_due else check.due, check.reads,
                        rule.name, rule.severity, actions.track,
                        repeat * 1000 if repeat is not None and actions.track else None)


@dataclass(frozen=True, slots=True)
class Held:
    """The rules of a group that hold for one session (precomputed: nothing is allocated)."""

    rules: tuple[CompiledRule, ...]
    ids: frozenset[str]


def _held(rules: Iterable[CompiledRule]) -> Held:
    rules = tuple(rules)
    return Held(rules, frozenset(c.id for c in rules))


NOTHING_HELD = Held((), frozenset())

# When the clock of a threshold kind started for a session (ms), None: it is not running.
Anchor = Callable[[SessionFacts], "int | None"]


def _wait_anchor(f: SessionFacts) -> int | None:
    return f.waiting_since_ms if f.session.status == "queued" else None


def _reply_anchor(f: SessionFacts) -> int | None:
    return f.unanswered_since_ms if f.live else None


def _duration_anchor(f: SessionFacts) -> int | None:
    return f.started_ms if f.live else None


class ThresholdGroup:
    """Plain "more than N since <anchor>" rules of one kind: they hold for the N passed."""

    __slots__ = ("_anchor", "_limits", "_prefixes", "ids", "reads")
    grouped: ClassVar[Literal[True]] = True
    about_ending = False
    timed = True

    def __init__(self, limited: list[tuple[int, CompiledRule]], anchor: Anchor,
                 reads: frozenset[str]) -> None:
        limited = sorted(limited, key=lambda pair: pair[0])
        self._limits = [limit for limit, _ in limited]
        rules = [c for _, c in limited]
        # The rules holding once k thresholds have passed: rules[:k], built once.
        self._prefixes = tuple(_held(rules[:k]) for k in range(len(rules) + 1))
        self._anchor = anchor
        self.ids = frozenset(c.id for c in rules)
        self.reads = reads

    def judge(self, facts: SessionFacts, now_ms: int) -> tuple[Held, int | None]:
        since = self._anchor(facts)
        if since is None:
            return NOTHING_HELD, None
        limits = self._limits
        passed = bisect_left(limits, now_ms - since)  # limits < elapsed: those hold
        due = since + limits[passed] + 1 if passed < len(limits) else None
        return self._prefixes[passed], due


# The session's value a plain one-field rule compares (a filter's field or a metadata key);
# None: the session has none, so no rule of the group holds.
Value = Callable[[SessionFacts], "str | None"]


class ValueGroup:
    """Plain rules testing one value of the session (each a set of accepted values)."""

    __slots__ = ("_by_value", "_value", "ids", "probe", "reads")
    grouped: ClassVar[Literal[True]] = True
    about_ending = False
    timed = False

    def __init__(self, accepting: list[tuple[Iterable[str], CompiledRule]], value: Value,
                 reads: frozenset[str], probe: Probe | None = None) -> None:
        by_value: dict[str, list[CompiledRule]] = {}
        for values, compiled in accepting:
            for accepted in dict.fromkeys(values):
                by_value.setdefault(accepted, []).append(compiled)
        self._by_value = {v: _held(rules) for v, rules in by_value.items()}
        self._value = value
        self.ids = frozenset(c.id for _, c in accepting)
        self.reads = reads
        # The session's value the answer depends on (FreshPlan's key), None: not known.
        self.probe = probe

    def judge(self, facts: SessionFacts, _now_ms: int) -> tuple[Held, int | None]:
        value = self._value(facts)
        return NOTHING_HELD if value is None else self._by_value.get(value, NOTHING_HELD), None

    def values(self) -> Iterable[str]:
        """The values some rule of the group accepts."""
        return self._by_value.keys()


_THRESHOLDS: dict[str, tuple[Anchor, frozenset[str]]] = {
    "wait": (_wait_anchor, frozenset({"status", "queued_at", "started_at"})),
    "no_reply": (_reply_anchor, frozenset({"status", "unanswered"})),
    "duration": (_duration_anchor, frozenset({"status", "started_at"})),
}
_FILTER_VALUES: dict[str, tuple[Value, str]] = {
    "channel": (lambda f: f.session.channel, "channel"),
    "status": (lambda f: f.session.status, "status"),
    "agent": (lambda f: f.session.agent.id, "agent"),
    "country": (lambda f: (f.session.location.country_code or "").upper(), "location"),
}
_MIN_GROUP = 2  # one rule alone is judged as itself


def _metadata_value(key: str) -> Value:
    def value(f: SessionFacts) -> str | None:
        found = f.session.metadata.get(key)
        return None if found is None else found.casefold()
    return value


def _threshold(condition: Condition) -> tuple[str, int] | None:
    """(kind, limit in ms) of a plain "more than N since…" condition."""
    match condition:
        case WaitCondition(seconds=seconds):
            return "wait", seconds * 1000
        case NoReplyCondition(seconds=seconds):
            return "no_reply", seconds * 1000
        case DurationCondition(minutes=minutes):
            return "duration", minutes * 60_000
    return None


def _accepted(condition: Condition) -> tuple[tuple[str, str], tuple[str, ...]] | None:
    """((what is tested, metadata key or filter field), accepted values) of a one-value test."""
    match condition:
        case MetadataCondition(key=key, value=value):
            return ("metadata", key), (value.casefold(),)
        case FilterCondition(filter=session_filter):
            used = {k for k, v in session_filter.model_dump(exclude_defaults=True).items()
                    if v not in (None, ())}
            if len(used) != 1 or (field := used.pop()) not in _FILTER_VALUES:
                return None
            if field == "country":
                return ("filter", field), ((session_filter.country or "").upper(),)
            return ("filter", field), tuple(getattr(session_filter, field))
    return None


def _value_of(tested: tuple[str, str]) -> tuple[Value, frozenset[str]]:
    """How to read the tested value of a session, and what change can alter it."""
    what, detail = tested
    if what == "metadata":
        return _metadata_value(detail), frozenset({"metadata"})
    value, reads_field = _FILTER_VALUES[detail]
    return value, frozenset({reads_field})


# A rule's place in a group: the group's key, and its threshold and/or accepted values.
_Place = tuple[tuple[str, ...], int | None, tuple[str, ...]]


def _place(condition: Condition) -> _Place | None:
    if (threshold := _threshold(condition)) is not None:
        return ("threshold", threshold[0]), threshold[1], ()
    if (accepted := _accepted(condition)) is not None:
        return ("value", *accepted[0]), None, accepted[1]
    if isinstance(condition, AllCondition) and len(condition.conditions) == 2:
        # "waits over 30 s AND channel is web": the value picks, the threshold bisects.
        first, second = condition.conditions
        for timed, tested in ((first, second), (second, first)):
            threshold, accepted = _threshold(timed), _accepted(tested)
            if threshold is not None and accepted is not None:
                return ("guarded", *accepted[0], threshold[0]), threshold[1], accepted[1]
    return None


class GuardedGroup:
    """ANDs of one value test and one threshold of one kind, e.g. a wait per channel."""

    __slots__ = ("_by_value", "_value", "ids", "reads")
    grouped: ClassVar[Literal[True]] = True
    about_ending = False
    timed = True

    def __init__(self, members: list[tuple[tuple[str, ...], int, CompiledRule]],
                 value: Value, anchor: Anchor, reads: frozenset[str]) -> None:
        by_value: dict[str, list[tuple[int, CompiledRule]]] = {}
        for values, limit, compiled in members:
            for accepted in dict.fromkeys(values):
                by_value.setdefault(accepted, []).append((limit, compiled))
        self._by_value = {v: ThresholdGroup(limited, anchor, reads)
                          for v, limited in by_value.items()}
        self._value = value
        self.ids = frozenset(c.id for _, _, c in members)
        self.reads = reads

    def judge(self, facts: SessionFacts, now_ms: int) -> tuple[Held, int | None]:
        value = self._value(facts)
        group = None if value is None else self._by_value.get(value)
        return _NONE_HELD if group is None else group.judge(facts, now_ms)


_NONE_HELD: tuple[Held, int | None] = (NOTHING_HELD, None)


def build_plan(compiled: list[CompiledRule]) -> list[Judge]:
    """The judges of a rule set: groups where two or more plain rules share a kind."""
    pending: dict[tuple[str, ...], list[tuple[CompiledRule, int | None, tuple[str, ...]]]] = {}
    for c in compiled:
        place = _place(c.rule.condition)
        if place is not None:
            key, limit, values = place
            pending.setdefault(key, []).append((c, limit, values))
    grouped = {key: members for key, members in pending.items() if len(members) >= _MIN_GROUP}
    in_group = {c.id for members in grouped.values() for c, _, _ in members}
    plan: list[Judge] = [c for c in compiled if c.id not in in_group]
    for key, members in grouped.items():
        if key[0] == "threshold":
            anchor, reads = _THRESHOLDS[key[1]]
            plan.append(ThresholdGroup(
                [(limit, c) for c, limit, _ in members if limit is not None], anchor, reads))
        elif key[0] == "value":
            value, reads = _value_of((key[1], key[2]))
            probe: Probe = ("metadata", key[2]) if key[1] == "metadata" else key[2]
            plan.append(ValueGroup([(values, c) for c, _, values in members], value, reads,
                                   probe))
        else:
            value, value_reads = _value_of((key[1], key[2]))
            anchor, reads = _THRESHOLDS[key[3]]
            plan.append(GuardedGroup(
                [(values, limit, c) for c, limit, values in members if limit is not None],
                value, anchor, reads | value_reads))
    return plan


Group = ThresholdGroup | ValueGroup | GuardedGroup
Judge = CompiledRule | Group


# ------------------------------------------------------------------ a session's first sight

# What an untimed condition's answer depends on: a summary field ("status", "agent"…), a
# metadata key ("metadata", key), or the moment flags ("just_started", "just_ended").
Probe = str | tuple[str, str]
_SESSION_PROBES: dict[str, str] = {
    "status": "status", "channel": "channel", "agent": "agent.id",
    "responsible": "responsible.kind", "country": "location.country_code",
    "end_reason": "end_reason",
}
_FILTER_PROBES: dict[str, str] = {
    "agent": "agent", "channel": "channel", "status": "status", "live": "status",
    "operator": "operator", "responsible": "responsible", "country": "country",
}


def condition_probes(condition: Condition) -> frozenset[Probe] | None:
    """What ``condition``'s answer for a session first seen depends on; None: something else
    too (time, a wide filter). A keyword part reads nothing: nothing has been said yet."""
    match condition:
        case FilterCondition(filter=session_filter):
            used = {k for k, v in session_filter.model_dump(exclude_defaults=True).items()
                    if v not in (None, ())}
            if not used <= _FILTER_PROBES.keys():
                return None
            return frozenset(_FILTER_PROBES[k] for k in used)
        case MetadataCondition(key=key):
            return frozenset({("metadata", key)})
        case HandoverCondition():
            return frozenset({"status", "responsible", ("metadata", "handover")})
        case EndedBadlyCondition():
            return frozenset({"status", "end_reason"})
        case KeywordCondition():
            return frozenset()
        case StartedCondition():
            return frozenset({"just_started"})
        case EndedCondition():
            return frozenset({"just_ended"})
        case AllCondition(conditions=children) | AnyCondition(conditions=children):
            found: set[Probe] = set()
            for child in children:
                probes = condition_probes(child)
                if probes is None:
                    return None
                found |= probes
            return frozenset(found)
    return None  # a wait, a no-reply, a duration: time answers too


def _operator_id(facts: SessionFacts) -> str | None:
    operator = facts.session.responsible.operator
    return None if operator is None else operator.id


_MAX_FRESH_KEYS = 4096


class FreshPlan:
    """Judging a session at its first sight: the untimed rules by one lookup.

    A new session has said nothing and has no alert, so whether an untimed rule holds for it
    depends only on a few values of its summary (status, agent, a metadata key…) and on the
    moment flags. The rules that hold are found once per combination of those values and
    kept; only the timed rules (and any that read more, e.g. a wide filter) are judged. An
    agent or a country no keyed rule names counts as one value, so the combinations stay few
    on a floor of many agents.
    """

    __slots__ = ("_agents", "_cache", "_countries", "_flags", "_keyed", "_metadata",
                 "_operator", "_session", "rest")

    def __init__(self, judges: Sequence[Judge]) -> None:
        keyed: list[Judge] = []
        rest: list[Judge] = []
        probes: set[Probe] = set()
        for judge in judges:
            found = _judge_probes(judge)
            if found is None:
                rest.append(judge)
            else:
                keyed.append(judge)
                probes |= found
        self._keyed = keyed
        self.rest = rest  # judged as usual
        named = _named_values(keyed)
        # None: the probe is not read; else the values some keyed rule names.
        self._agents = named["agent"] if "agent" in probes else None
        self._countries = named["country"] if "country" in probes else None
        paths = sorted(_SESSION_PROBES[p] for p in probes if isinstance(p, str)
                       and p in _SESSION_PROBES and p not in ("agent", "country"))
        self._session: Callable[[Any], Any] | None = attrgetter(*paths) if paths else None
        self._metadata = tuple(sorted(p[1] for p in probes if isinstance(p, tuple)))
        self._flags = "just_started" in probes or "just_ended" in probes
        self._operator = "operator" in probes
        self._cache: dict[tuple[Any, ...], tuple[CompiledRule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._keyed)

    def _key(self, facts: SessionFacts) -> tuple[Any, ...]:
        session = facts.session
        agents, countries = self._agents, self._countries
        agent: object = None
        country: object = None
        if agents is not None:
            agent = session.agent.id
            if agent not in agents:
                agent = _OTHER
        if countries is not None:
            country = (session.location.country_code or "").upper()
            if country not in countries:
                country = _OTHER
        get = session.metadata.get
        return (
            None if self._session is None else self._session(session),
            agent, country,
            tuple([get(k) for k in self._metadata]) if self._metadata else None,
            (facts.just_started, facts.just_ended) if self._flags else None,
            _operator_id(facts) if self._operator else None,
        )

    def holding(self, facts: SessionFacts, now_ms: int) -> tuple[CompiledRule, ...]:
        """The keyed rules that hold for ``facts`` (a session first seen: nothing said, no
        alert), in the plan's order."""
        key = self._key(facts)
        held = self._cache.get(key)
        if held is None:
            found: list[CompiledRule] = []
            for judge in self._keyed:
                if judge.grouped:
                    found += judge.judge(facts, now_ms)[0].rules
                elif judge.holds(facts, now_ms):
                    found.append(judge)
            if len(self._cache) >= _MAX_FRESH_KEYS:
                self._cache.clear()
            held = self._cache[key] = tuple(found)
        return held


# An agent or country that no keyed rule names: all such answer alike.
_OTHER = object()


def _named_values(judges: Iterable[Judge]) -> dict[str, frozenset[str]]:
    """The agent ids and (upper-case) country codes the judges' conditions name."""
    named: dict[str, set[str]] = {"agent": set(), "country": set()}

    def visit(condition: Condition) -> None:
        match condition:
            case FilterCondition(filter=session_filter):
                named["agent"].update(session_filter.agent)
                if session_filter.country:
                    named["country"].add(session_filter.country.upper())
            case AllCondition(conditions=children) | AnyCondition(conditions=children):
                for child in children:
                    visit(child)

    for judge in judges:
        if isinstance(judge, CompiledRule):
            visit(judge.rule.condition)
        elif isinstance(judge, ValueGroup) and judge.probe in named:
            named[str(judge.probe)].update(judge.values())
    return {k: frozenset(v) for k, v in named.items()}


def _judge_probes(judge: Judge) -> frozenset[Probe] | None:
    if isinstance(judge, CompiledRule):
        return None if judge.due is not None else condition_probes(judge.rule.condition)
    if isinstance(judge, ValueGroup) and judge.probe is not None:
        return frozenset({judge.probe})
    return None
