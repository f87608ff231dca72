"""The rule set a new install gets: useful on day one, all of it editable."""

from __future__ import annotations

from supervisor_desk.models.alerts.rules import (
    Actions,
    EndedBadlyCondition,
    EndedCondition,
    KeywordCondition,
    MetadataCondition,
    Rule,
    RuleSet,
    StartedCondition,
    WaitCondition,
)

ROUTINE_NEW_ID = "builtin.new-session"
ROUTINE_ENDED_ID = "builtin.session-ended"
BUILTIN_IDS = (ROUTINE_NEW_ID, ROUTINE_ENDED_ID)

_ROUTINE = Actions(notify=True, banner=True, sound=None, highlight=False, track=False)


def default_rules() -> RuleSet:
    return RuleSet(rules=(
        Rule(id="wait-60", name="Waiting over a minute", severity="warning",
             condition=WaitCondition(seconds=60), actions=Actions(sound="chime")),
        Rule(id="wait-180", name="Waiting over 3 minutes", severity="critical",
             condition=WaitCondition(seconds=180),
             actions=Actions(sound="alarm", repeat_seconds=60)),
        Rule(id="failed", name="Session failed", severity="warning",
             condition=EndedBadlyCondition(), actions=Actions(sound="chime")),
        Rule(id="complaint", name="Customer complains", severity="warning",
             condition=KeywordCondition(phrases=("complaint", "lawyer", "cancel my account")),
             actions=Actions(sound="chime")),
        Rule(id="negative", name="Negative sentiment", severity="info",
             condition=MetadataCondition(key="sentiment", value="negative")),
        Rule(id=ROUTINE_NEW_ID, name="New session", severity="info", builtin=True,
             condition=StartedCondition(), actions=_ROUTINE),
        Rule(id=ROUTINE_ENDED_ID, name="Session ended", severity="info", builtin=True,
             condition=EndedCondition(), actions=_ROUTINE),
    ))
