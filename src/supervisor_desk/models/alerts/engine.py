"""The alert engine: session changes + a clock in, alerts and notices out.

Pure Python and clock-free (every call takes ``now_ms``), so it runs on the Qt thread of the
desktop per applied feed batch, in tests with a fake clock, and headless on a hub.

- An **alert** is one rule firing for one session: ``open`` -> ``acknowledged`` (by whom,
  when) -> ``resolved`` (the condition stopped holding, the session ended, or - for rules about
  how a session ended - the session left the live list). While an alert of (session, rule) is
  open or acknowledged the rule cannot fire again for that session.
- Time-based conditions ("wait > N s", "no reply for N s", "longer than N min") are scheduled
  at the moment they would become true (a heap of deadlines); :meth:`AlertEngine.tick` judges
  only the timed rules of the sessions that are due, never every row.
- Plain rules of one kind are judged as groups (:mod:`.plan`): one bisection or lookup
  answers every wait threshold, every metadata value of one key, every channel…
- Feed changes come in two steps: :meth:`AlertEngine.take` as each change is applied (the
  session's facts follow it), :meth:`AlertEngine.judge_taken` once per frame (the rules that
  read what changed); :meth:`AlertEngine.apply` is both at once.
- A **notice** is what the user is told: one per rule per batch, covering every alert that
  rule opened in it (a burst coalesces), plus repeats of unacknowledged alerts of rules that
  repeat, and a reminder when a snooze ends.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from supervisor_desk.models.alerts.conditions import (
    KeywordScreen,
    SessionFacts,
    compile_condition,
)
from supervisor_desk.models.alerts.plan import (
    CompiledRule,
    FreshPlan,
    Judge,
    ThresholdGroup,
    build_plan,
    compile_rule,
)
from supervisor_desk.models.alerts.rules import SEVERITY_RANK, Rule, RuleSet, Severity
from supervisor_desk.models.filters import to_ms
from supervisor_desk.models.state import (
    UNCHANGED_FIELDS,
    WATCHED_FIELDS,
    SessionChange,
    changed_fields,
)
from supervisor_desk.models.wire import LIVE_STATUSES, Message, SessionSummary

AlertState = Literal["open", "acknowledged", "resolved"]
_EVERYTHING_MARK = "*"
_EVERYTHING = frozenset({"*", "lifecycle", "unanswered", "keywords", *WATCHED_FIELDS})
_ALL_BUT_MESSAGES = _EVERYTHING - {"unanswered", "keywords"}
_NOTHING: frozenset[str] = frozenset()
_UNANSWERED = frozenset({"unanswered"})
_UNANSWERED_OR_ANY = frozenset({"unanswered", _EVERYTHING_MARK})
_KEYWORDS = frozenset({"keywords"})
# Messages that answer a customer (a draft or a private note does not).
_ANSWER_KINDS = frozenset({"text", "template"})
_ANSWER_ROLES = frozenset({"ai", "human"})


@dataclass(slots=True, eq=False)  # identity: the engine keeps sets of its alerts
class Alert:
    id: str
    session_id: str
    rule_id: str
    rule_name: str
    severity: Severity
    opened_at_ms: int
    session: SessionSummary
    state: AlertState = "open"
    acknowledged_by: str | None = None
    acknowledged_at_ms: int | None = None
    resolved_at_ms: int | None = None
    snoozed_until_ms: int | None = None
    next_repeat_ms: int | None = None
    repeats: int = 0  # reminders sent (repeats and snooze ends)

    @property
    def is_active(self) -> bool:
        return self.state != "resolved"

    def snoozed(self, now_ms: int) -> bool:
        return self.snoozed_until_ms is not None and now_ms < self.snoozed_until_ms


def listing_key(alert: Alert) -> tuple[int, int, str]:
    """Where ``alert`` stands in :meth:`AlertEngine.active_alerts`: the most severe first, then
    the oldest (fixed for an alert's life, so a list kept in this order can follow updates)."""
    return -SEVERITY_RANK[alert.severity], alert.opened_at_ms, alert.id


@dataclass(frozen=True, slots=True)
class Notice:
    """Tell the user: ``alerts`` of ``rule`` (several when a burst coalesced)."""

    rule: Rule
    alerts: tuple[Alert, ...]
    repeat: bool = False
    at_ms: int = 0


@dataclass(slots=True)
class AlertUpdate:
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    # Firings of routine rules (new/ended): told, never listed.
    passing: list[Alert] = field(default_factory=list)
    changed: bool = False  # acknowledgements and snoozes change the panel too

    def __bool__(self) -> bool:
        return bool(self.opened or self.resolved or self.notices or self.changed)

    @property
    def listed(self) -> bool:
        """Whether the active alerts changed (not only notices): a list of them is stale."""
        return bool(self.opened or self.resolved or self.changed)

    def sessions(self) -> set[str]:
        """The sessions whose alerts opened or resolved (their rows' highlights may differ)."""
        return {a.session_id for a in self.opened} | {a.session_id for a in self.resolved}


class AlertEngine:
    """Open alerts for the sessions it is shown. One owner, one thread."""

    def __init__(self, rules: RuleSet | None = None) -> None:
        self._rules: list[CompiledRule] = []
        # What judging runs: single rules, and groups of plain rules of one kind (plan.py).
        self._plan: list[Judge] = []
        # The judges whose answer time alone can change: all a deadline re-judges.
        self._timed_plan: list[Judge] = []
        self._reading: dict[frozenset[str], list[Judge]] = {}
        # What the changes taken since the last judging changed, per session (take()).
        self._taken: dict[str, frozenset[str]] = {}
        # A live session first seen in a frame (and only that): its untimed rules by one
        # lookup (plan.FreshPlan). None: no rule could be looked up.
        self._fresh: FreshPlan | None = None
        # The no-reply group, when it is the only judge reading replies: a reply becoming
        # pending (two customer messages in five) only schedules its deadline.
        self._reply_group: ThresholdGroup | None = None
        # No rule reads "*" (a filter beyond the plain fields): an update that changed none
        # of the fields rules read is skipped at once.
        self._skip_unchanged = True
        # Every rule that reads replies tracks its alerts (none is a routine rule that tells
        # each time it holds): an answer to a session without alerts judges nothing.
        self._answers_resolve_only = True
        self._by_id: dict[str, Rule] = {}
        self._telling: dict[str, Rule] = {}
        # (when, n, alert): repeats and snooze ends, a heap like the deadlines; an entry whose
        # alert no longer waits for that moment is dropped when it comes up.
        self._reminders: list[tuple[int, int, Alert]] = []
        self._reminder_order = itertools.count()
        # Every phrase of every keyword rule in one search: most customer messages say none
        # of them, and one search tells so.
        self._keywords = KeywordScreen(())
        # Rules about how a session ended: the only ones judged on a session no longer live.
        self._ending_rules: list[Judge] = []
        self._compiled: dict[str, CompiledRule] = {}  # the enabled rules by id
        self._rule_set = RuleSet()
        self._facts: dict[str, SessionFacts] = {}
        # Active (open or acknowledged) alerts by session, then rule id.
        self._active: dict[str, dict[str, Alert]] = {}
        self._open_count = 0  # of those, the ones still "open" (kept as they change)
        # (due ms, session id): when a session's time-based rules next need judging. One entry
        # per session (its earliest deadline), not one per rule: at a due session every timed
        # rule is judged.
        self._deadlines: list[tuple[int, str]] = []
        # The deadline each session is scheduled for: superseded heap entries are skipped when
        # popped.
        self._scheduled: dict[str, int] = {}
        self._ids = itertools.count(1)
        if rules is not None:
            self._load(rules)

    # ------------------------------------------------------------------ reading

    @property
    def rules(self) -> RuleSet:
        return self._rule_set

    def active_alerts(self) -> list[Alert]:
        """Open and acknowledged alerts, the most severe first, then the oldest."""
        alerts = [a for by_rule in self._active.values() for a in by_rule.values()]
        alerts.sort(key=listing_key)
        return alerts

    def open_count(self) -> int:
        """How many alerts are open (not acknowledged, not resolved); costs nothing."""
        return self._open_count

    def alert(self, alert_id: str) -> Alert | None:
        for by_rule in self._active.values():
            for alert in by_rule.values():
                if alert.id == alert_id:
                    return alert
        return None

    def session_severity(self, session_id: str) -> Severity | None:
        """The highest severity of the session's active alerts whose rules highlight rows."""
        best: Severity | None = None
        for alert in self._active.get(session_id, {}).values():
            rule = self._by_id.get(alert.rule_id)
            if rule is not None and not rule.actions.highlight:
                continue
            if best is None or SEVERITY_RANK[alert.severity] > SEVERITY_RANK[best]:
                best = alert.severity
        return best

    def highlighted(self) -> dict[str, Severity]:
        out: dict[str, Severity] = {}
        for sid in self._active:
            severity = self.session_severity(sid)
            if severity is not None:
                out[sid] = severity
        return out

    def next_deadline(self) -> int | None:
        """The earliest moment (ms) :meth:`tick` has something to do, None: nothing scheduled."""
        times: list[int] = []
        while self._deadlines:
            due, sid = self._deadlines[0]
            if self._scheduled.get(sid) == due:
                times.append(due)
                break
            heapq.heappop(self._deadlines)  # superseded entry
        reminders = self._reminders
        while reminders and not _waits_for(reminders[0][2], reminders[0][0]):
            heapq.heappop(reminders)
        if reminders:
            times.append(reminders[0][0])
        return min(times) if times else None

    def matching(self, rule: Rule, sessions: Iterable[SessionSummary],
                 now_ms: int) -> list[SessionSummary]:
        """The sessions ``rule`` holds for now (the editor's "test against the Live list")."""
        check = compile_condition(rule.condition)
        out = []
        for s in sessions:
            known = self._facts.get(s.id)
            facts = SessionFacts(s)
            if known is not None:
                facts.unanswered_since_ms = known.unanswered_since_ms
                facts.customer_texts = known.customer_texts
                KeywordScreen(check.keywords).match(facts, facts.customer_texts)
            if check.holds(facts, now_ms):
                out.append(s)
        return out

    # ------------------------------------------------------------------ writing

    def set_rules(self, rules: RuleSet, now_ms: int) -> AlertUpdate:
        """Replace the rules: alerts of removed or disabled rules resolve, others are re-judged."""
        before = self.judge_taken(now_ms)  # what came before, by the rules it came under
        self._load(rules)
        update = AlertUpdate(changed=True)
        enabled = {c.rule.id for c in self._rules}
        for sid in list(self._active):
            for rule_id in [r for r in self._active[sid] if r not in enabled]:
                self._resolve(sid, rule_id, now_ms, update)
        self._deadlines.clear()
        self._scheduled.clear()
        for sid in list(self._facts):
            self._judge(sid, now_ms, update)
        self._coalesce(update, now_ms)
        if before:
            update.opened[:0] = before.opened
            update.resolved[:0] = before.resolved
            update.notices[:0] = before.notices
            update.passing[:0] = before.passing
        return update

    def reset(self, sessions: Iterable[SessionSummary], now_ms: int) -> AlertUpdate:
        """A snapshot replaced the live list: judge every session (no routine notices)."""
        update = AlertUpdate()
        self._taken.clear()  # the snapshot holds what they changed
        old = self._facts
        self._facts = {}
        for s in sessions:
            previous = old.get(s.id)
            facts = SessionFacts(s)
            if previous is not None:
                facts.unanswered_since_ms = previous.unanswered_since_ms
                facts.keyword_hits = previous.keyword_hits
                facts.customer_texts = previous.customer_texts
            self._facts[s.id] = facts
        for sid in [sid for sid in self._active if sid not in self._facts]:
            self._resolve_session(sid, now_ms, update, everything=True)
        self._deadlines.clear()
        self._scheduled.clear()
        for sid in self._facts:
            self._judge(sid, now_ms, update)
        self._coalesce(update, now_ms)
        return update

    def apply(self, changes: Sequence[SessionChange], now_ms: int, *,
              replayed: bool = False) -> AlertUpdate:
        """Judge the sessions a batch of applied feed events changed (with any taken before)."""
        take = self.take
        for change in changes:
            take(change, replayed)
        return self.judge_taken(now_ms)

    def take(self, change: SessionChange, replayed: bool = False) -> None:
        """Take one applied feed change in as it comes: the session's facts follow it now
        (what the message said, what the update moved), and what it changed waits for
        :meth:`judge_taken`. Per event, in the turn that read it: the frame, which the rows
        wait for, then only judges (the same work split in two; what a frame costs the Qt
        thread at once is its judging)."""
        changed = self._taken
        known = self._facts
        hear = self._hear
        skip_unchanged = self._skip_unchanged
        session = change.session
        if session is None:
            return
        sid = session.id
        kind = change.kind
        facts = known.get(sid)
        what: frozenset[str]
        if kind == "message":  # most changes: tested first
            if facts is None:
                facts = known[sid] = SessionFacts(session)
                what = _ALL_BUT_MESSAGES  # a session first seen: every rule but messages'
            else:
                what = _NOTHING
                if facts.session is not session:
                    if (change.previous is facts.session
                            and change.changed is UNCHANGED_FIELDS):
                        # The store counted the message: no watched field moved (the
                        # status neither, so nothing derived from it).
                        facts.session = session
                    else:
                        facts.see(session)
            message = change.message
            if message is not None:
                # Most messages change nothing a rule reads (no reply pending changed,
                # no keyword said): they judge nothing.
                heard = hear(facts, message)
                if heard:
                    what = heard if not what else what | heard
            if not what:
                return
            earlier = changed.get(sid)
            changed[sid] = what if earlier is None else earlier | what
            return
        if facts is None:
            facts = known[sid] = SessionFacts(session)
            what = _ALL_BUT_MESSAGES  # a session first seen: every rule but messages'
        else:
            if kind == "updated":
                # The store tells what changed since the summary it replaced: when that
                # is the one judged last, the old summary is not read at all.
                told = change.changed
                if (told is UNCHANGED_FIELDS and skip_unchanged
                        and change.previous is facts.session and facts.live):
                    # The usual update (a version, a count): no watched field moved (the
                    # status neither), no rule reads what did, and a live session has
                    # nothing to resolve for it.
                    facts.session = session
                    return
                if told is not None and change.previous is facts.session:
                    what = told
                else:
                    what = changed_fields(facts.session, session)
                if "started_at" not in what and "queued_at" not in what:
                    facts.see_same_times(session)
                    if what is UNCHANGED_FIELDS and skip_unchanged and facts.live:
                        # The usual update (a version, a count): no rule reads what it
                        # changed, and a live session has nothing to resolve for it.
                        return
            else:
                what = _EVERYTHING
                previous = change.previous
                # An ending the store told from the summary judged last: its times are
                # re-read only if they moved.
                if (previous is not None and previous is facts.session
                        and previous.started_at == session.started_at
                        and previous.queued_at == session.queued_at):
                    facts.see_same_times(session)
            if facts.session is not session:
                facts.see(session)
        if replayed:
            pass  # a replay re-announces nothing: no routine new/ended notices
        elif kind == "added":
            facts.just_started = session.status in LIVE_STATUSES
        elif kind == "ended":
            facts.just_ended = True
        earlier = changed.get(sid)
        changed[sid] = what if earlier is None else earlier | what

    def judge_taken(self, now_ms: int) -> AlertUpdate:
        """Judge the sessions the changes taken since the last call changed (the frame)."""
        update = AlertUpdate()
        changed = self._taken
        if not changed:
            return update
        self._taken = {}
        known = self._facts
        reading = self._reading
        rules_reading = self._rules_reading
        fresh = self._fresh
        reply_group = self._reply_group
        active = self._active
        for sid, what in changed.items():
            facts = known.get(sid)
            if facts is None:
                continue  # forgotten since it was taken
            if facts.live:
                if what is _UNANSWERED and reply_group is not None:
                    # Only a reply pending or given: what judging the group alone does,
                    # unless a rule holds or an alert of the group may resolve.
                    held, due = reply_group.judge(facts, now_ms)
                    by_rule = active.get(sid)
                    if not held.rules and (not by_rule or reply_group.ids.isdisjoint(by_rule)):
                        if due is not None:
                            self._schedule(sid, due)
                        continue
                if (what is _ALL_BUT_MESSAGES and fresh is not None and sid not in active
                        and not facts.keyword_hits and facts.unanswered_since_ms is None):
                    # Its only change is its first sight: nothing said, no alert.
                    for compiled in fresh.holding(facts, now_ms):
                        self._open(compiled, facts, now_ms, update)
                    if fresh.rest:
                        self._judge(sid, now_ms, update, fresh.rest, facts)
                    facts.just_started = False
                    continue
                rules = reading.get(what)
                if rules is None:
                    rules = rules_reading(what)
                # A live session with no rule to judge has nothing to resolve or schedule.
                if rules:
                    self._judge(sid, now_ms, update, rules, facts)
            else:
                rules = reading.get(what)
                self._judge(sid, now_ms, update,
                            rules_reading(what) if rules is None else rules, facts)
            facts.just_started = facts.just_ended = False
        if update.opened or update.passing:
            self._coalesce(update, now_ms)
        return update

    def tick(self, now_ms: int) -> AlertUpdate:
        """Judge what is due by ``now_ms``: deadlines, repeats, snoozes that ended."""
        update = AlertUpdate()
        due: set[str] = set()
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            at, sid = heapq.heappop(self._deadlines)
            if self._scheduled.get(sid) == at:
                del self._scheduled[sid]
                due.add(sid)
        for sid in due:
            if sid in self._facts:
                # Nothing else changed since the session was last judged: only the rules
                # time can turn true need judging.
                self._judge(sid, now_ms, update, self._timed_plan)
        self._coalesce(update, now_ms)
        reminders = self._reminders
        while reminders and reminders[0][0] <= now_ms:
            at, _n, alert = heapq.heappop(reminders)
            if _waits_for(alert, at):
                self._remind(alert, now_ms, update)
        return update

    def forget(self, session_ids: Iterable[str], now_ms: int) -> AlertUpdate:
        """Sessions left the live list: every alert of theirs resolves."""
        update = AlertUpdate()
        for sid in session_ids:
            self._facts.pop(sid, None)
            self._resolve_session(sid, now_ms, update, everything=True)
        return update

    def acknowledge(self, alert_id: str, by: str, now_ms: int) -> Alert | None:
        """The user saw it: no more repeats; it stays until resolved."""
        alert = self.alert(alert_id)
        if alert is None or alert.state != "open":
            return None
        alert.state = "acknowledged"
        self._open_count -= 1
        alert.acknowledged_by = by
        alert.acknowledged_at_ms = now_ms
        alert.next_repeat_ms = None
        return alert

    def snooze(self, alert_id: str, until_ms: int) -> Alert | None:
        """No repeats until ``until_ms``; a reminder then if it is still open."""
        alert = self.alert(alert_id)
        if alert is None or alert.state != "open":
            return None
        alert.snoozed_until_ms = until_ms
        self._remind_at(until_ms, alert)
        return alert

    # ------------------------------------------------------------------ internals

    def _load(self, rules: RuleSet) -> None:
        self._rule_set = rules
        self._rules = [compile_rule(r) for r in rules.rules if r.enabled]
        self._plan = build_plan(self._rules)
        self._timed_plan = [j for j in self._plan if (
            j.due is not None if isinstance(j, CompiledRule) else j.timed)]
        self._reading = {}
        fresh = FreshPlan(self._rules_reading(_ALL_BUT_MESSAGES))
        self._fresh = fresh if fresh else None
        readers = self._rules_reading(_UNANSWERED)
        self._reply_group = (readers[0] if len(readers) == 1
                             and isinstance(readers[0], ThresholdGroup) else None)
        self._skip_unchanged = not any(_EVERYTHING_MARK in j.reads for j in self._plan)
        self._answers_resolve_only = all(
            c.rule.actions.track for c in self._rules if c.reads & _UNANSWERED_OR_ANY)
        self._by_id = {r.id: r for r in rules.rules}
        # The rules whose alerts are told (a notification, a banner or a sound), by id.
        self._telling = {r.id: r for r in rules.rules
                         if r.actions.notify or r.actions.banner or r.actions.sound}
        self._keywords = KeywordScreen([m for c in self._rules for m in c.check.keywords])
        self._ending_rules = [c for c in self._rules if c.about_ending]
        self._compiled = {c.rule.id: c for c in self._rules}
        for facts in self._facts.values():
            self._keywords.match(facts, facts.customer_texts)

    def _hear(self, facts: SessionFacts, message: Message) -> frozenset[str]:
        """Take a message in; what changed: "unanswered" (a reply pending or given), "keywords"."""
        role = message.author.role
        if role == "customer" and message.kind == "text":
            heard = _NOTHING
            if facts.unanswered_since_ms is None:
                facts.unanswered_since_ms = to_ms(message.at)
                heard = _UNANSWERED
            text = message.text
            if text:
                facts.said(text)
                keywords = self._keywords
                if keywords and keywords.folded_if_said(text) is not None and keywords.match(
                        facts, (text,)):
                    heard = heard | _KEYWORDS
            return heard
        if role in _ANSWER_ROLES and message.kind in _ANSWER_KINDS:
            if facts.unanswered_since_ms is None:
                return _NOTHING
            facts.unanswered_since_ms = None
            # An answer only turns no-reply parts false (conditions are ANDs and ORs): no
            # rule starts to hold, and with no alert on the session nothing resolves.
            if self._answers_resolve_only and facts.session.id not in self._active:
                return _NOTHING
            return _UNANSWERED
        return _NOTHING

    def _rules_reading(self, changed: frozenset[str]) -> list[Judge]:
        rules = self._reading.get(changed)
        if rules is None:
            if _EVERYTHING_MARK in changed and len(changed) == len(_EVERYTHING):
                rules = self._plan  # the same list: _judge tells ended sessions by it
            else:
                rules = [j for j in self._plan if j.reads & changed]
            if len(self._reading) > 512:
                self._reading.clear()
            self._reading[changed] = rules
        return rules

    def _judge(self, sid: str, now_ms: int, update: AlertUpdate,
               rules: list[Judge] | None = None, facts: SessionFacts | None = None) -> None:
        if facts is None:
            facts = self._facts[sid]
        live = facts.live
        active = self._active.get(sid)
        if not live:
            # An ended session: whatever is still open resolves, except for rules about how
            # it ended, the only ones judged now. Nothing is scheduled for it any more.
            if active:
                for rule_id in list(active):
                    compiled_rule = self._compiled.get(rule_id)
                    if compiled_rule is None or not compiled_rule.about_ending:
                        self._resolve(sid, rule_id, now_ms, update)
                active = self._active.get(sid)
            self._scheduled.pop(sid, None)
            rules = (self._ending_rules if rules is None or rules is self._plan
                     else [c for c in rules if c.about_ending])
        earliest: int | None = None
        due: int | None
        for judge in self._plan if rules is None else rules:
            if judge.grouped:
                # A group: the rules that hold now, in one lookup; of the others only those
                # with an alert still active need anything (it resolves).
                held, due = judge.judge(facts, now_ms)
                for compiled in held.rules:
                    active = self._holds(compiled, facts, now_ms, update)
                if active and not judge.ids.isdisjoint(active):
                    ids, holding = judge.ids, held.ids
                    for rule_id in [r for r in active if r in ids and r not in holding]:
                        self._resolve(sid, rule_id, now_ms, update)
                if due is not None and (earliest is None or due < earliest):
                    earliest = due
                continue
            # Most rules do not hold and have no alert on the session: two reads decide it.
            if judge.holds(facts, now_ms):
                active = self._holds(judge, facts, now_ms, update)
                continue
            if active and judge.id in active and not judge.about_ending:
                self._resolve(sid, judge.id, now_ms, update)
            when = judge.due
            if when is not None:
                due = when(facts, now_ms)
                if due is not None and (earliest is None or due < earliest):
                    earliest = due
        if earliest is not None:
            self._schedule(sid, earliest)

    def _schedule(self, sid: str, due: int) -> None:
        # An earlier deadline already set stays: judging the whole session then finds this
        # one again. A later one is superseded.
        scheduled = self._scheduled.get(sid)
        if scheduled is None or due < scheduled:
            self._scheduled[sid] = due
            heapq.heappush(self._deadlines, (due, sid))

    def _holds(self, compiled: CompiledRule, facts: SessionFacts, now_ms: int,
               update: AlertUpdate) -> dict[str, Alert] | None:
        """``compiled`` holds for the session: its alert opens unless one is active (which
        then follows the session's latest summary). The session's active alerts after."""
        sid = facts.session.id
        active = self._active.get(sid)
        current = active.get(compiled.id) if active else None
        if current is None:
            self._open(compiled, facts, now_ms, update)
            return self._active.get(sid)
        current.session = facts.session
        return active

    def _open(self, compiled: CompiledRule, facts: SessionFacts, now_ms: int,
              update: AlertUpdate) -> None:
        session = facts.session
        sid = session.id
        # Positional: a frame opens dozens (every new session's routine one among them).
        alert = Alert(f"a{next(self._ids)}", sid, compiled.id, compiled.name, compiled.severity,
                      now_ms, session)
        if compiled.track:
            repeat_ms = compiled.repeat_ms
            if repeat_ms is not None:
                alert.next_repeat_ms = now_ms + repeat_ms
                self._remind_at(alert.next_repeat_ms, alert)
            by_rule = self._active.get(sid)
            if by_rule is None:
                self._active[sid] = {compiled.id: alert}
            else:
                by_rule[compiled.id] = alert
            self._open_count += 1
            update.opened.append(alert)
        else:
            alert.state = "resolved"
            alert.resolved_at_ms = now_ms
            update.passing.append(alert)

    def _resolve(self, sid: str, rule_id: str, now_ms: int, update: AlertUpdate) -> None:
        by_rule = self._active.get(sid)
        if not by_rule or rule_id not in by_rule:
            return
        alert = by_rule.pop(rule_id)
        if not by_rule:
            del self._active[sid]
        if alert.state == "open":
            self._open_count -= 1
        alert.state = "resolved"
        alert.resolved_at_ms = now_ms
        alert.next_repeat_ms = None
        update.resolved.append(alert)

    def _resolve_session(self, sid: str, now_ms: int, update: AlertUpdate, *,
                         everything: bool) -> None:
        for rule_id in list(self._active.get(sid, {})):
            self._resolve(sid, rule_id, now_ms, update)
        if everything:
            self._scheduled.pop(sid, None)

    def _coalesce(self, update: AlertUpdate, now_ms: int) -> None:
        telling = self._telling
        by_rule: dict[str, list[Alert]] = {}
        for alerts in (update.opened, update.passing):
            for alert in alerts:
                rule_id = alert.rule_id
                if rule_id in telling:
                    gathered = by_rule.get(rule_id)
                    if gathered is None:
                        by_rule[rule_id] = [alert]
                    else:
                        gathered.append(alert)
        notices = update.notices
        for rule_id, gathered in by_rule.items():
            notices.append(Notice(telling[rule_id], tuple(gathered), False, now_ms))

    def _remind(self, alert: Alert, now_ms: int, update: AlertUpdate) -> None:
        if alert.state != "open":
            return
        rule = self._by_id.get(alert.rule_id)
        if rule is None:
            return
        if alert.snoozed_until_ms is not None:
            if now_ms < alert.snoozed_until_ms:
                return
            alert.snoozed_until_ms = None
            alert.repeats += 1
            update.notices.append(Notice(rule, (alert,), repeat=True, at_ms=now_ms))
            if rule.actions.repeat_seconds is not None:
                alert.next_repeat_ms = now_ms + rule.actions.repeat_seconds * 1000
                self._remind_at(alert.next_repeat_ms, alert)
            return
        if alert.next_repeat_ms is None or now_ms < alert.next_repeat_ms:
            return
        alert.repeats += 1
        update.notices.append(Notice(rule, (alert,), repeat=True, at_ms=now_ms))
        step = (rule.actions.repeat_seconds or 0) * 1000
        alert.next_repeat_ms = now_ms + step if step else None
        if alert.next_repeat_ms is not None:
            self._remind_at(alert.next_repeat_ms, alert)

    def _remind_at(self, at_ms: int, alert: Alert) -> None:
        heapq.heappush(self._reminders, (at_ms, next(self._reminder_order), alert))


def _waits_for(alert: Alert, at_ms: int) -> bool:
    """Whether ``alert`` still has a reminder due at ``at_ms`` (a repeat or a snooze's end)."""
    return alert.state == "open" and at_ms in (alert.next_repeat_ms, alert.snoozed_until_ms)

