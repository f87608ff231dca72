"""Texts of the chat's system pills, timestamps, sizes and delivery tooltips (no Qt).

A marker message from the hub carries its own sentence ("Transfer to human agent",
"Anna was assigned by Max"); the pill adds "at <date and time>" in the reader's time zone
unless the sentence already says when. Pills for how a session began and ended are derived
from the session summary the hub sent (its ``started_at``/``ended_at``/``end_reason``), and
only when the hub's own markers do not already say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from supervisor_desk.models.wire import Delivery, Message, SessionSummary

DELIVERY_LABELS: dict[str, str] = {
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Not delivered",
}

END_REASON_PILLS: dict[str, str] = {
    "user_disconnect": "User disconnected",
    "system_disconnect": "System disconnected the session",
    "transfer": "Session transferred",
    "resolved": "The session was resolved",
    "error": "Session ended with an error",
    "timeout": "Session timed out",
}

# Phrases by which a hub marker already covers the start or the end of a session.
_START_WORDS = ("started the session",)
_END_WORDS = (
    "disconnect",
    "resolved",
    "transferred",
    "timed out",
    "ended",
    "left the queue",
)


def resolve_time_zone(name: str | tzinfo | None) -> tzinfo:
    """A ``tzinfo`` for a preference value: IANA name, ``"UTC"``, a tzinfo, or None = local."""
    if isinstance(name, tzinfo):
        return name
    if not name or name.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def format_time(at: datetime, tz: tzinfo) -> str:
    # f-strings: strftime costs several times more, and every chat row formats a time.
    local = at.astimezone(tz)
    return f"{local.hour:02d}:{local.minute:02d}"


def format_datetime(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


# Display names of PROTOCOL channels: table badges, chat facts, dock and customer view.
CHANNEL_LABELS: dict[str, str] = {
    "web": "Web",
    "phone": "Phone",
    "sip": "SIP",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "email": "Email",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "intercom": "Intercom",
    "chatwoot": "Chatwoot",
    "twilio": "Twilio",
    "infobip": "Infobip",
    "bird": "Bird",
    "mobile_sdk": "Mobile SDK",
    "api": "API",
    "other": "Other",
}


def format_utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """``45s``, ``3m 45s``, ``3h 16m 1s`` as the sessions table shows durations."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}"
    return f"{size} B"


_TRAILING_TIME = re.compile(
    r"\s+at\s+\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"\s*(?:UTC|Z|[+-]\d{2}:?\d{2})?\s*$"
)


def marker_text(message: Message, tz: tzinfo) -> str:
    """The pill sentence of a hub marker, ending "at <time>" in the reader's time zone.

    Platforms often bake a UTC time into the sentence; it is replaced by the message's own
    timestamp shown in the chosen zone, so every pill of the chat reads in one zone.
    """
    text = " ".join(message.text.split()) or "Session event"
    text = _TRAILING_TIME.sub("", text)
    return f"{text} at {format_datetime(message.at, tz)}"


def delivery_tooltip(delivery: Delivery) -> str:
    lines = [
        f"{DELIVERY_LABELS.get(delivery.status, delivery.status)} at {format_utc(delivery.at)}"
    ]
    if delivery.note:
        lines.append(f"Provider note: {delivery.note}")
    return "\n".join(lines)


def _has_marker(
    messages: Sequence[Message], words: Sequence[str], *, last: int | None = None
) -> bool:
    ordered = sorted(messages, key=lambda m: m.seq)
    for message in ordered[-last:] if last else ordered:
        if message.kind == "marker":
            lowered = message.text.lower()
            if any(word in lowered for word in words):
                return True
    return False


def start_pill(session: SessionSummary, messages: Sequence[Message], tz: tzinfo) -> str | None:
    """ "Client started the session at …" unless the hub already put a start marker."""
    if _has_marker(messages, _START_WORDS):
        return None
    return f"Client started the session at {format_datetime(session.started_at, tz)}"


def end_pill(session: SessionSummary, messages: Sequence[Message], tz: tzinfo) -> str | None:
    """How the session ended (user/system disconnect, transfer, resolved …), from the summary."""
    if session.is_live or session.ended_at is None:
        return None
    reason: str | None = session.end_reason
    if reason is None:
        reason = {"failed": "error", "transferred": "transfer"}.get(session.status)
    if reason is None or _has_marker(messages, _END_WORDS, last=3):
        return None
    sentence = END_REASON_PILLS[reason]
    operator = session.responsible.operator
    if reason == "resolved" and session.responsible.kind == "human" and operator is not None:
        sentence = f"The session was resolved by {operator.name}"
    return f"{sentence} at {format_datetime(session.ended_at, tz)}"


def transcript_pending(session: SessionSummary, messages: Sequence[Message]) -> bool:
    """A voice session whose words have not arrived yet: the chat shows a placeholder."""
    if session.modality != "voice":
        return False
    return not any(m.kind != "marker" and m.text.strip() for m in messages)


ZWSP = "\u200b"
_BREAK_AFTER = "@./_-"
BREAK_RUN = 16  # longest run of characters without a break point


def breakable(text: str, run_limit: int = BREAK_RUN) -> str:
    """``text`` with invisible break points, so a long email, id or MIME type wraps.

    Qt wraps text only at spaces; without breaks one long value (an email, a UUID, a MIME
    type) widened its pane or was cut. Shown text only: copies and tooltips use the original.
    A narrow pane passes a shorter ``run_limit`` (characters between break points).
    """
    out: list[str] = []
    run = 0
    for ch in text:
        out.append(ch)
        run = 0 if ch.isspace() else run + 1
        if ch in _BREAK_AFTER or run >= run_limit:
            out.append(ZWSP)
            run = 0
    return "".join(out)
