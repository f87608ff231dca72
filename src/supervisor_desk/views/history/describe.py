"""Words for an active filter: the chips under the quick bar and the filter button's count.

Each chip removes exactly one condition (one value of a multi-value filter), so a supervisor
can loosen a search step by step, as Flametree's "remove filters one by one" advice expects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.views.icons import STATUS_LABELS, channel_label

RESPONSIBLE_LABELS: dict[str, str] = {
    "ai": "AI Agent", "human": "Human Agent", "unassigned": "Unassigned",
}
MESSAGE_OPS: dict[str, str] = {
    "eq": "Equal", "ne": "Not Equal", "gt": "More Than", "lt": "Less Than",
    "ge": "More Than or Equal", "le": "Less Than or Equal",
}
MESSAGE_OP_SIGNS: dict[str, str] = {
    "eq": "=", "ne": "≠", "gt": ">", "lt": "<", "ge": "≥", "le": "≤",
}
RANGES: tuple[tuple[str, str, str], ...] = (
    ("Start", "started_after", "started_before"),
    ("Finish", "ended_after", "ended_before"),
    ("Last message", "last_message_after", "last_message_before"),
)


@dataclass(frozen=True)
class Chip:
    key: str  # stable identity for tests and styling: "channel=web", "q", ...
    label: str
    remove: Callable[[SessionFilter], SessionFilter]


def format_when(value: datetime, tz: tzinfo | None) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _without(field: str, value: str) -> Callable[[SessionFilter], SessionFilter]:
    def remove(flt: SessionFilter) -> SessionFilter:
        values = tuple(v for v in getattr(flt, field) if v != value)
        return flt.model_copy(update={field: values})
    return remove


def _cleared(*fields: str) -> Callable[[SessionFilter], SessionFilter]:
    def remove(flt: SessionFilter) -> SessionFilter:
        return flt.model_copy(update=dict.fromkeys(fields))
    return remove


def filter_chips(
    flt: SessionFilter, *, tz: tzinfo | None = None,
    agent_names: Mapping[str, str] | None = None,
    operator_names: Mapping[str, str] | None = None,
) -> list[Chip]:
    agent_names = agent_names or {}
    operator_names = operator_names or {}
    chips: list[Chip] = []
    if flt.q:
        chips.append(Chip("q", f"Search: “{flt.q}”", _cleared("q")))
    if flt.text:
        chips.append(Chip("text", f"In transcripts: “{flt.text}”", _cleared("text")))
    for value in flt.agent:
        chips.append(Chip(f"agent={value}", f"Agent: {agent_names.get(value, value)}",
                          _without("agent", value)))
    for value in flt.team:
        chips.append(Chip(f"team={value}", f"Team: {value}", _without("team", value)))
    for value in flt.channel:
        chips.append(Chip(f"channel={value}", f"Channel: {channel_label(value)}",
                          _without("channel", value)))
    for value in flt.status:
        chips.append(Chip(f"status={value}", f"Status: {STATUS_LABELS.get(value, value)}",
                          _without("status", value)))
    if flt.responsible:
        chips.append(Chip(
            "responsible",
            f"Responsible: {RESPONSIBLE_LABELS.get(flt.responsible, flt.responsible)}",
            _cleared("responsible"),
        ))
    for value in flt.operator:
        chips.append(Chip(f"operator={value}",
                          f"Human agent: {operator_names.get(value, value)}",
                          _without("operator", value)))
    if flt.user:
        chips.append(Chip("user", f"User: {flt.user}", _cleared("user")))
    if flt.country:
        chips.append(Chip("country", f"Country: {flt.country}", _cleared("country")))
    if flt.ip:
        chips.append(Chip("ip", f"IP: {flt.ip}", _cleared("ip")))
    for title, after_field, before_field in RANGES:
        after, before = getattr(flt, after_field), getattr(flt, before_field)
        if after is None and before is None:
            continue
        if after is not None and before is not None:
            text = f"{format_when(after, tz)} \u2013 {format_when(before, tz)}"
        elif after is not None:
            text = f"from {format_when(after, tz)}"
        else:
            text = f"before {format_when(before, tz)}"
        chips.append(Chip(after_field.split("_after")[0], f"{title}: {text}",
                          _cleared(after_field, before_field)))
    if flt.messages is not None:
        sign = MESSAGE_OP_SIGNS.get(flt.messages.op, flt.messages.op)
        chips.append(Chip("messages", f"Messages {sign} {flt.messages.n}", _cleared("messages")))
    if flt.messages_max is not None:
        chips.append(Chip("messages_max", f"Messages \u2264 {flt.messages_max}",
                          _cleared("messages_max")))
    if flt.has_attachments is not None:
        chips.append(Chip("has_attachments",
                          "With attachments" if flt.has_attachments else "Without attachments",
                          _cleared("has_attachments")))
    if flt.live is not None:
        chips.append(Chip("live", "Live only" if flt.live else "Finished only",
                          _cleared("live")))
    return chips
