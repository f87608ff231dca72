"""Which feed events could open an alert of a rule set: the ones a hub holding a desktop's feed
sends at once (:mod:`supervisor_desk.models.feed_hold`).

Judged from the event alone, with nothing of the session's history: every condition that
depends on what came before is taken as true (every keyword already said, every customer
message unanswered for ever), so the answer errs towards "at once" — an event held that should
not have been would be a late alert; one sent at once that need not have been costs a wake-up.

- ``session.*`` events carry the whole summary: urgent when some enabled rule's condition holds
  for it now, the session counted as just started (``session.started``) or just ended (not
  live), among the rules a session's change can turn true at all (a rule made only of what
  customers said and of silences turns true with a message or with time, never with the
  session's fields). Time-based parts (a wait, a length) are judged at the event's moment as
  well; the moments they turn true later are the desktop's to judge (it flushes first).
- ``message.created`` from the customer: urgent when it says a phrase of a keyword condition;
  any ``message.created`` when a rule's session filter reads more than the usual fields (the
  desktop moves a session's message count and last message time with each message).
- Anything else (answers, receipts, logs) opens nothing: never urgent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from supervisor_desk.models.alerts.conditions import (
    KeywordScreen,
    SessionFacts,
    compile_condition,
)
from supervisor_desk.models.alerts.rules import (
    AllCondition,
    AnyCondition,
    Condition,
    KeywordCondition,
    NoReplyCondition,
    Rule,
)
from supervisor_desk.models.wire import SessionSummary

_SESSION_EVENTS = frozenset({"session.started", "session.updated", "session.ended"})


class UrgentScreen:
    """``urgent(event, now_ms)``: could this event (a stored event as JSON) open an alert?"""

    __slots__ = ("_every_message", "_holds", "_keyword_tokens", "_keywords")

    def __init__(self, rules: Iterable[Rule]) -> None:
        enabled = [rule for rule in rules if rule.enabled]
        checks = [compile_condition(rule.condition) for rule in enabled]
        self._holds = tuple(check.holds for rule, check in zip(enabled, checks, strict=True)
                            if _moved_by_sessions(rule.condition))
        matchers = [m for check in checks for m in check.keywords]
        self._keywords = KeywordScreen(matchers)
        self._keyword_tokens = frozenset(m.token for m in matchers)
        self._every_message = any("*" in check.reads for check in checks)

    @property
    def quiet(self) -> bool:
        """No event is urgent (no enabled rule)."""
        return not self._holds and not self._keywords and not self._every_message

    def urgent(self, event: Mapping[str, Any], now_ms: int) -> bool:
        kind = event.get("type")
        data = event.get("data")
        if not isinstance(data, Mapping):
            return False
        if kind == "message.created":
            return self._said(data)
        if kind in _SESSION_EVENTS and self._holds:
            try:
                session = SessionSummary.model_validate(data)
            except ValidationError:
                return True  # cannot tell: never hold what might matter
            return self.session_urgent(session, started=kind == "session.started",
                                       now_ms=now_ms)
        return False

    def session_urgent(self, session: SessionSummary, *, started: bool, now_ms: int) -> bool:
        facts = SessionFacts(session)
        facts.keyword_hits = self._keyword_tokens
        facts.unanswered_since_ms = 0  # the longest silence there can be
        facts.just_started = started
        facts.just_ended = not facts.live
        return any(holds(facts, now_ms) for holds in self._holds)

    def _said(self, message: Mapping[str, Any]) -> bool:
        if self._every_message:
            return True
        keywords = self._keywords
        if not keywords:
            return False
        author = message.get("author")
        if not isinstance(author, Mapping) or author.get("role") != "customer":
            return False
        if message.get("kind", "text") != "text":
            return False
        text = message.get("text")
        if not isinstance(text, str) or not text:
            return False
        folded = keywords.folded_if_said(text)
        return folded is not None and any(m.matches(folded) for m in keywords.matchers)


def _moved_by_sessions(condition: Condition) -> bool:
    """Whether a change of the session's own fields (status, metadata, …) can turn it true:
    what customers said and how long they waited for an answer are told by messages."""
    match condition:
        case KeywordCondition() | NoReplyCondition():
            return False
        case AllCondition(conditions=children) | AnyCondition(conditions=children):
            return any(_moved_by_sessions(c) for c in children)
    return True
