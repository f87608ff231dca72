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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

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
    Condition,
    DurationCondition,
    FilterCondition,
    MetadataCondition,
    NoReplyCondition,
    Rule,
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


def compile_rule(rule: Rule) -> CompiledRule:
    check = compile_condition(rule.condition)
    return CompiledRule(rule, check, is_event_condition(rule.condition), rule.id, check.holds,
                        None if check.due is never_due else check.due, check.reads)


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

    __slots__ = ("_by_value", "_value", "ids", "reads")
    grouped: ClassVar[Literal[True]] = True
    about_ending = False
    timed = False

    def __init__(self, accepting: list[tuple[Iterable[str], CompiledRule]], value: Value,
                 reads: frozenset[str]) -> None:
        by_value: dict[str, list[CompiledRule]] = {}
        for values, compiled in accepting:
            for accepted in dict.fromkeys(values):
                by_value.setdefault(accepted, []).append(compiled)
        self._by_value = {v: _held(rules) for v, rules in by_value.items()}
        self._value = value
        self.ids = frozenset(c.id for _, c in accepting)
        self.reads = reads

    def judge(self, facts: SessionFacts, _now_ms: int) -> tuple[Held, int | None]:
        value = self._value(facts)
        return NOTHING_HELD if value is None else self._by_value.get(value, NOTHING_HELD), None



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
            plan.append(ValueGroup([(values, c) for c, _, values in members], value, reads))
        else:
            value, value_reads = _value_of((key[1], key[2]))
            anchor, reads = _THRESHOLDS[key[3]]
            plan.append(GuardedGroup(
                [(values, limit, c) for c, limit, values in members if limit is not None],
                value, anchor, reads | value_reads))
    return plan


Group = ThresholdGroup | ValueGroup | GuardedGroup
Judge = CompiledRule | Group
