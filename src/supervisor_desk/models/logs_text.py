"""Plain-text rendering of a session's logs for the logs drawer and the clipboard (no Qt).

Trace logs separate each language-model call with a ``#######`` line, then the agent, the
prompt and the generation's Action / Action Input, as the platforms' own log viewers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from supervisor_desk.models.wire import SystemLogEntry, TraceLogEntry

TRACE_SEPARATOR = "#######"


def _stamp(entry: SystemLogEntry | TraceLogEntry, tz: tzinfo) -> str:
    return entry.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def format_system_logs(entries: Sequence[SystemLogEntry], tz: tzinfo) -> str:
    return "\n".join(
        f"{_stamp(e, tz)}  {e.level.upper():<8} {e.text}"
        for e in sorted(entries, key=lambda e: e.at)
    )


def format_trace_logs(entries: Sequence[TraceLogEntry], tz: tzinfo) -> str:
    blocks = []
    for number, entry in enumerate(sorted(entries, key=lambda e: e.at), start=1):
        blocks.append(
            "\n".join(
                [
                    f"{TRACE_SEPARATOR} LLM call {number} · {_stamp(entry, tz)} {TRACE_SEPARATOR}",
                    f"Agent: {entry.agent}",
                    "Prompt:",
                    entry.prompt.rstrip("\n"),
                    "",
                    "Generation:",
                    f"Action: {entry.generation.action}",
                    f"Action Input: {entry.generation.action_input}",
                ]
            )
        )
    return "\n\n".join(blocks)
