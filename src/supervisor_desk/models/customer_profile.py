"""One customer across sessions: contact details, the data collected, the channels used.

The customer view's 360 panel (Flametree's "360 View") built from the sessions the hub
returns for one user, oldest first. Newer sessions win: the contact shows each field's most
recent non-empty value, and a parameter or result its latest value with how many sessions
set it. Qt-free, so the customer view and its tests share one definition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from supervisor_desk.models.markers import CHANNEL_LABELS
from supervisor_desk.models.wire import Contact, SessionSummary

CONTACT_FIELDS: tuple[tuple[str, str], ...] = (
    ("Name", "name"),
    ("Email", "email"),
    ("Phone", "phone"),
    ("Telegram", "telegram"),
    ("WhatsApp", "whatsapp"),
    ("LinkedIn", "linkedin"),
)


@dataclass(frozen=True)
class CollectedValue:
    """A parameter or result as last collected, and where."""

    kind: Literal["parameter", "result"]
    key: str
    value: str
    session_id: str
    at: datetime
    sessions: int  # how many sessions collected this key
    values: int  # how many different values it had


@dataclass(frozen=True)
class CustomerProfile:
    name: str
    contact: list[tuple[str, str]]  # (label, value), only the fields some session filled
    collected: list[CollectedValue]
    channels: list[tuple[str, int]]  # (channel label, sessions), most used first
    sessions: int

    @classmethod
    def from_sessions(
        cls, sessions: Sequence[SessionSummary], fallback_name: str
    ) -> CustomerProfile:
        ordered = sorted(sessions, key=lambda s: s.started_at)
        contact: dict[str, str] = {}
        for session in ordered:
            contact.update(_contact_values(session.contact))
        name = contact.get("Name") or next(
            (s.user.name for s in reversed(ordered) if s.user.name), fallback_name
        )
        collected: list[CollectedValue] = []
        for kind in ("parameter", "result"):
            latest: dict[str, tuple[str, SessionSummary]] = {}
            seen: dict[str, set[str]] = {}
            count: Counter[str] = Counter()
            for session in ordered:
                values = session.parameters if kind == "parameter" else session.results
                for key, value in values.items():
                    latest[key] = (value, session)
                    seen.setdefault(key, set()).add(value)
                    count[key] += 1
            for key in sorted(latest, key=str.lower):
                value, session = latest[key]
                collected.append(
                    CollectedValue(
                        kind,
                        key,
                        value,
                        session.id,
                        session.started_at,
                        count[key],
                        len(seen[key]),
                    )
                )
        channels = Counter(CHANNEL_LABELS.get(s.channel, s.channel) for s in ordered)
        return cls(
            name=name,
            contact=[(label, contact[label]) for label, _ in CONTACT_FIELDS if label in contact],
            collected=collected,
            channels=sorted(channels.items(), key=lambda item: (-item[1], item[0])),
            sessions=len(ordered),
        )

    def channels_text(self) -> str:
        """ "Web 3 · WhatsApp 1" """
        return " · ".join(f"{label} {count}" for label, count in self.channels)


def _contact_values(contact: Contact | None) -> dict[str, str]:
    if contact is None:
        return {}
    out: dict[str, str] = {}
    for label, attr in CONTACT_FIELDS:
        value = (getattr(contact, attr) or "").strip()
        if value:
            out[label] = value
    return out
