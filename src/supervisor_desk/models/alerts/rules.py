"""The alert rule model: versioned pydantic, stored in the user's profile and shared as a file.

A rule is a condition over one session plus what to do when it becomes true. Conditions
combine with ``all`` (AND) and ``any`` (OR); a ``filter`` condition is a
:class:`~supervisor_desk.models.filters.SessionFilter`, so "channel, agent, status…" mean
exactly what the session filters mean.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from supervisor_desk.models.filters import SessionFilter, normalize_words

RULES_FORMAT: Literal["supervisor-desk-alert-rules"] = "supervisor-desk-alert-rules"
RULES_VERSION: Literal[1] = 1

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
Urgency = Literal["low", "normal", "critical"]
URGENCY_FOR_SEVERITY: dict[str, Urgency] = {
    "info": "low", "warning": "normal", "critical": "critical",
}
EndKind = Literal["failed", "error", "system_disconnect"]
END_KINDS: tuple[EndKind, ...] = ("failed", "error", "system_disconnect")

_MAX_SECONDS = 7 * 24 * 3600
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class _Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilterCondition(_Condition):
    """The session passes a session filter (channel, agent, status, responsible, country…)."""

    kind: Literal["filter"] = "filter"
    filter: SessionFilter


class WaitCondition(_Condition):
    """Queued and waiting for more than ``seconds``."""

    kind: Literal["wait"] = "wait"
    seconds: int = Field(ge=1, le=_MAX_SECONDS)


class NoReplyCondition(_Condition):
    """Live, and a customer message has had no answer for more than ``seconds``."""

    kind: Literal["no_reply"] = "no_reply"
    seconds: int = Field(ge=1, le=_MAX_SECONDS)


class EndedBadlyCondition(_Condition):
    """The session ended as failed, with an error, or by a system disconnect."""

    kind: Literal["ended_badly"] = "ended_badly"
    reasons: tuple[EndKind, ...] = END_KINDS

    @field_validator("reasons")
    @classmethod
    def _some(cls, value: tuple[EndKind, ...]) -> tuple[EndKind, ...]:
        if not value:
            raise ValueError("choose at least one of failed, error, system_disconnect")
        return value


class KeywordCondition(_Condition):
    """A customer message contains one of ``phrases`` (whole words, any case or accents)."""

    kind: Literal["keyword"] = "keyword"
    phrases: tuple[str, ...] = Field(min_length=1, max_length=100)

    @field_validator("phrases")
    @classmethod
    def _words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for phrase in value:
            if not normalize_words(phrase):
                raise ValueError(f"phrase {phrase[:40]!r} has no words")
            if len(phrase) > 200:
                raise ValueError("a phrase is at most 200 characters")
        return value


class MetadataCondition(_Condition):
    """Metadata ``key`` equals ``value`` (case-insensitive)."""

    kind: Literal["metadata"] = "metadata"
    key: str = Field(min_length=1, max_length=200)
    value: str = Field(max_length=1000)


class DurationCondition(_Condition):
    """Live for more than ``minutes`` since it started."""

    kind: Literal["duration"] = "duration"
    minutes: int = Field(ge=1, le=_MAX_SECONDS // 60)


class HandoverCondition(_Condition):
    """The AI asked for a human (metadata ``handover``) and no operator has taken it yet."""

    kind: Literal["handover"] = "handover"


class StartedCondition(_Condition):
    """A new session appeared on the live feed (the routine "new session" alert)."""

    kind: Literal["started"] = "started"


class EndedCondition(_Condition):
    """A session ended while watched (the routine "session ended" alert)."""

    kind: Literal["ended"] = "ended"


class AllCondition(_Condition):
    """Every one of ``conditions`` (AND)."""

    kind: Literal["all"] = "all"
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=20)


class AnyCondition(_Condition):
    """At least one of ``conditions`` (OR)."""

    kind: Literal["any"] = "any"
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=20)


Condition = Annotated[
    Union[  # noqa: UP007 - a discriminated union needs the Union spelling with forward refs
        FilterCondition, WaitCondition, NoReplyCondition, EndedBadlyCondition,
        KeywordCondition, MetadataCondition, DurationCondition, HandoverCondition,
        StartedCondition, EndedCondition, AllCondition, AnyCondition,
    ],
    Field(discriminator="kind"),
]
AllCondition.model_rebuild()
AnyCondition.model_rebuild()

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
# The parts a condition is built of (all but the AND / OR groups), in the order an editor
# offers them, and the parts that hold one whole number ("more than N seconds") by its field.
CONDITION_PARTS: tuple[str, ...] = (
    "wait", "no_reply", "duration", "ended_badly", "keyword", "metadata", "handover", "filter",
    "started", "ended",
)
PART_NUMBERS: dict[str, str] = {"wait": "seconds", "no_reply": "seconds", "duration": "minutes"}


def condition_part(kind: str, **values: object) -> Condition:
    """One condition part from its kind and values (pydantic's ValidationError when wrong)."""
    if kind not in CONDITION_PARTS:
        raise ValueError(f"unknown condition {kind!r}")
    return _CONDITION.validate_python({"kind": kind, **values})


class Actions(BaseModel):
    """What happens when a rule fires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notify: bool = True  # desktop notification (urgency from the rule's severity)
    banner: bool = True  # in-window banner
    sound: str | None = None  # a bundled sound's name, None: silent
    highlight: bool = True  # colour and icon on the session's row
    # Repeat the notification every N s until acknowledged (None: once).
    repeat_seconds: int | None = Field(default=None, ge=10, le=3600)
    # Routine rules (new/ended) notify but keep no alert in the panel.
    track: bool = True


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    severity: Severity = "warning"
    condition: Condition
    actions: Actions = Actions()
    builtin: bool = False  # the routine new/ended rules: can be switched off, not deleted

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("a rule id is 1-64 letters, digits, '_', '-' or '.'")
        return value

    @property
    def urgency(self) -> Urgency:
        return URGENCY_FOR_SEVERITY[self.severity]


class QuietHours(BaseModel):
    """No sound and no desktop pop-ups between ``start`` and ``end`` (local time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    start: time = time(22, 0)
    end: time = time(7, 0)

    def active(self, local: time) -> bool:
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class RuleSet(BaseModel):
    """The stored file: format, version, rules, quiet hours and sound settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["supervisor-desk-alert-rules"] = RULES_FORMAT
    version: Literal[1] = RULES_VERSION
    rules: tuple[Rule, ...] = ()
    quiet_hours: QuietHours = QuietHours()
    volume: float = Field(default=0.8, ge=0.0, le=1.0)
    muted: bool = False

    @field_validator("rules")
    @classmethod
    def _unique(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in value:
            if rule.id in seen:
                raise ValueError(f"two rules have the id {rule.id!r}")
            seen.add(rule.id)
        return value

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def wait_thresholds(self) -> list[tuple[int, Severity]]:
        """Enabled plain "wait > N s" rules as (seconds, severity), for SLA colours."""
        out = [(r.condition.seconds, r.severity) for r in self.rules
               if r.enabled and isinstance(r.condition, WaitCondition)]
        return sorted(out)


def wait_severity(thresholds: Sequence[tuple[int, str]], wait_seconds: float) -> str | None:
    """The severity of the highest wait threshold ``wait_seconds`` passed (None: none)."""
    found: str | None = None
    for seconds, severity in thresholds:
        if wait_seconds > seconds and (
            found is None or SEVERITY_RANK[severity] >= SEVERITY_RANK[found]
        ):
            found = severity
    return found
