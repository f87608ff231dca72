"""How the engine judges a rule set: single rules, and groups of rules answered by one lookup.

A contact centre's rules repeat a few kinds with different values — waits of 60 s and 180 s, a
no-reply per team, a metadata value per tier, a country or channel per queue. Judged one by
one, every change costs a call per rule. Plain rules of one kind are therefore judged as a
group: one bisection over the sorted thresholds ("more than N since…"), or one dict lookup of
the session's value (metadata key, channel, status, agent, country), answers every rule of the
group at once; only the rules that hold, or that had an alert open, cost anything more.
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


Group = ThresholdGroup | ValueGroup
Judge = CompiledRule | Group

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


def _grouping(compiled: CompiledRule) -> tuple[tuple[str, str], int | Iterable[str]] | None:
    """(group key, threshold or accepted values) of a plain rule that can join a group."""
    condition = compiled.rule.condition
    match condition:
        case WaitCondition(seconds=seconds):
            return ("wait", ""), seconds * 1000
        case NoReplyCondition(seconds=seconds):
            return ("no_reply", ""), seconds * 1000
        case DurationCondition(minutes=minutes):
            return ("duration", ""), minutes * 60_000
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


def build_plan(compiled: list[CompiledRule]) -> list[Judge]:
    """The judges of a rule set: groups where two or more plain rules share a kind."""
    pending: dict[tuple[str, str], list[tuple[CompiledRule, int | Iterable[str]]]] = {}
    for c in compiled:
        grouping = _grouping(c)
        if grouping is not None:
            pending.setdefault(grouping[0], []).append((c, grouping[1]))
    grouped = {key: members for key, members in pending.items() if len(members) >= _MIN_GROUP}
    in_group = {c.id for members in grouped.values() for c, _ in members}
    plan: list[Judge] = [c for c in compiled if c.id not in in_group]
    for (kind, detail), members in grouped.items():
        if kind in _THRESHOLDS:
            anchor, reads = _THRESHOLDS[kind]
            plan.append(ThresholdGroup(
                [(limit, c) for c, limit in members if isinstance(limit, int)], anchor, reads))
        elif kind == "metadata":
            plan.append(ValueGroup(
                [(values, c) for c, values in members if not isinstance(values, int)],
                _metadata_value(detail), frozenset({"metadata"})))
        else:
            value, reads_field = _FILTER_VALUES[detail]
            plan.append(ValueGroup(
                [(values, c) for c, values in members if not isinstance(values, int)],
                value, frozenset({reads_field})))
    return plan
