"""The rows of a chat transcript: messages, system pills, session headers (no Qt).

One flat list serves a single session and the customer view's several sessions one after
another; the Qt list model adapts it and the delegate paints each row by its ``kind``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Literal

from supervisor_desk.models.markers import (
    CHANNEL_LABELS,
    end_pill,
    format_datetime,
    marker_text,
    start_pill,
    transcript_pending,
)
from supervisor_desk.models.wire import Message, SessionSummary

RowKind = Literal["header", "message", "marker", "pill", "placeholder"]

PLACEHOLDER_TEXT = "Transcript is being processed"
AUTHOR_LABELS: dict[str, str] = {
    "customer": "Customer",
    "ai": "AI agent",
    "human": "Operator",
    "system": "System",
}


@dataclass(frozen=True, slots=True)
class ChatRow:
    kind: RowKind
    key: str
    session_id: str
    text: str = ""
    message: Message | None = None
    session: SessionSummary | None = None

    def plain_text(self) -> str:
        """What the row says, as the reader would copy it (also what search looks at)."""
        if self.message is not None and self.kind == "message":
            return self.message.text
        return self.text


def find_occurrences(text: str, query: str) -> list[tuple[int, int]]:
    """Case-insensitive, non-overlapping matches of ``query``: (start, length) in code points."""
    if not query:
        return []
    return [
        (m.start(), m.end() - m.start()) for m in re.finditer(re.escape(query), text, re.IGNORECASE)
    ]


def search_terms(text: str) -> list[str]:
    """What to look for in a transcript that a full-text search matched, best first.

    The hub matches every word anywhere in a message; the chat finds one string. The phrase
    as typed comes first, then its words, longest first (the rarest, most telling ones).
    """
    phrase = " ".join(text.split())
    words = sorted(
        {w for w in re.findall(r"\w+", phrase) if w.lower() != phrase.lower()},
        key=lambda w: (-len(w), w.lower()),
    )
    return ([phrase] if phrase else []) + words


def shown_message_count(messages: Sequence[Message]) -> int:
    """Messages as the chat counts them: bubbles, not markers ("Transfer to human agent")."""
    return sum(1 for m in messages if m.kind != "marker")


def message_count_text(count: int) -> str:
    return f"{count:,} message" if count == 1 else f"{count:,} messages"


def header_text(session: SessionSummary, tz: tzinfo, count: int,
                counted: str | None = None) -> str:
    channel = CHANNEL_LABELS.get(session.channel, session.channel)
    return (
        f"Session {session.id[:8]} · {channel} · {session.agent.name} · "
        f"started {format_datetime(session.started_at, tz)} · "
        f"{counted or message_count_text(count)}"
    )


def transcript_missing(session: SessionSummary, messages: Sequence[Message]) -> bool:
    """The session had messages but none came with it (a CSV export has no transcripts)."""
    return not messages and session.message_count > 0


def message_row(message: Message, tz: tzinfo) -> ChatRow:
    key = f"{message.session_id}/m/{message.id}"
    if message.kind == "marker":
        return ChatRow("marker", key, message.session_id, marker_text(message, tz), message)
    return ChatRow("message", key, message.session_id, "", message)


def placeholder_row(session_id: str) -> ChatRow:
    return ChatRow("placeholder", f"{session_id}/placeholder", session_id, PLACEHOLDER_TEXT)


def transcription_text(session: SessionSummary) -> str | None:
    """"Transcribing… N %" while an imported recording's recognition is queued or running."""
    metadata = session.metadata or {}
    if metadata.get("transcription_state") not in ("queued", "running"):
        return None
    percent = str(metadata.get("transcription_percent") or "0")
    return f"Transcribing… {percent if percent.isdigit() else '0'} %"


def transcription_row(session: SessionSummary) -> ChatRow | None:
    text = transcription_text(session)
    if text is None:
        return None
    return ChatRow("placeholder", f"{session.id}/transcribing", session.id, text)


def end_row(session: SessionSummary, messages: Sequence[Message], tz: tzinfo) -> ChatRow | None:
    text = end_pill(session, messages, tz)
    if text is None:
        return None
    return ChatRow("pill", f"{session.id}/end", session.id, text)


def session_rows(
    session: SessionSummary,
    messages: Sequence[Message],
    tz: tzinfo,
    *,
    with_header: bool,
    missing_note: str | None = None,
) -> list[ChatRow]:
    """``missing_note``: said instead of "0 messages" when :func:`transcript_missing`."""
    rows: list[ChatRow] = []
    note = missing_note if missing_note and transcript_missing(session, messages) else None
    if with_header:
        rows.append(
            ChatRow(
                "header",
                f"{session.id}/header",
                session.id,
                header_text(session, tz, shown_message_count(messages), note),
                session=session,
            )
        )
    start = start_pill(session, messages, tz)
    if start is not None:
        rows.append(ChatRow("pill", f"{session.id}/start", session.id, start))
    rows.extend(message_row(m, tz) for m in sorted(messages, key=lambda m: m.seq))
    if note is not None:
        # A pill, not the placeholder: nothing is on its way (the placeholder's hourglass).
        rows.append(ChatRow("pill", f"{session.id}/note", session.id, note))
    elif (transcribing := transcription_row(session)) is not None:
        rows.append(transcribing)
    elif transcript_pending(session, messages):
        rows.append(placeholder_row(session.id))
    end = end_row(session, messages, tz)
    if end is not None:
        rows.append(end)
    return rows
