"""A varied, deterministic session history posted through the hub's real ingest endpoint.

Shared by the History view tests and the hub-vs-offline differential test: every field a
filter looks at varies (channels, statuses, agents, operators, countries, IPs, times, message
counts, attachments, accented words in transcripts, metadata and parameters).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor_desk.models.wire import format_timestamp

AGENTS = (("a-billing", "Billing bot"), ("a-sales", "Sales bot"), ("a-support", "Support bot"),
          ("a-voice", "Voice desk"))
OPERATORS = (("op-dana", "Dana Ops"), ("op-eli", "Élise Martin"))
CHANNELS = ("web", "whatsapp", "telegram", "email", "phone", "sip", "mobile_sdk", "intercom")
COUNTRIES = (("DE", "Germany", "Berlin"), ("FR", "France", "Paris"), ("US", "United States", None),
             (None, None, None))
TEAMS = ("billing", "support", None)
WORDS = ("cancel", "refund", "invoice", "delivery", "password", "café", "Zürich", "order",
         "late", "thanks", "CANCEL", "naïve", "card", "blocked", "address")


def _ts(value: datetime) -> str:
    return format_timestamp(value)


def with_teams(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` with the sessions' starts spread over :data:`TEAMS` (a third without team)."""
    for number, event in enumerate(e for e in events if e["type"] == "session.started"):
        team = TEAMS[number % len(TEAMS)]
        if team is not None:
            event["data"]["team"] = team
    return events


def history_events(n: int, *, seed: int = 11, now: datetime | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for i in range(n):
        sid = f"hist-{i:03d}"
        started = now - timedelta(minutes=rng.randint(5, 60 * 24 * 10))
        agent_id, agent_name = AGENTS[i % len(AGENTS)]
        code, country, city = COUNTRIES[rng.randrange(len(COUNTRIES))]
        queued = rng.random() < 0.4
        data: dict[str, Any] = {
            "agent": {"id": agent_id, "name": agent_name},
            "channel": CHANNELS[rng.randrange(len(CHANNELS))],
            "modality": "voice" if i % 9 == 0 else "chat",
            "status": "queued" if queued else "active",
            "user": {"id": f"user-{i % 17}", "name": f"Customer {i % 17}" if i % 5 else None,
                     "external_id": f"crm-{i}"},
            "location": {"ip": f"192.168.{i % 4}.{i % 7}" if code else None,
                         "country_code": code, "country": country, "city": city},
            "started_at": _ts(started),
            "parameters": {"plan": rng.choice(("Premium", "Basic", "Trial"))},
            "metadata": {"campaign": rng.choice(("spring", "summer", "winback"))},
        }
        if queued:
            data["queued_at"] = _ts(started)
        events.append({"id": f"{sid}-start", "type": "session.started", "session_id": sid,
                       "at": _ts(started), "data": data})
        at = started
        if queued and rng.random() < 0.6:
            at = at + timedelta(seconds=rng.randint(5, 300))
            update: dict[str, Any] = {"status": "active", "accepted_at": _ts(at)}
            if rng.random() < 0.5:
                op_id, op_name = OPERATORS[rng.randrange(len(OPERATORS))]
                update["responsible"] = {"kind": "human",
                                         "operator": {"id": op_id, "name": op_name}}
            elif rng.random() < 0.3:
                update["responsible"] = {"kind": "unassigned", "operator": None}
            events.append({"id": f"{sid}-upd", "type": "session.updated", "session_id": sid,
                           "at": _ts(at), "data": update})
        for k in range(rng.randint(0, 7)):
            at = at + timedelta(seconds=rng.randint(2, 120))
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
            message: dict[str, Any] = {
                "id": f"{sid}-m{k}", "at": _ts(at),
                "author": {"role": "customer" if k % 2 == 0 else "ai", "name": None},
                "text": f"{words} #{k}",
            }
            if rng.random() < 0.08:
                message["attachments"] = [{"name": "photo.png", "mime": "image/png", "size": 10}]
            events.append({"id": f"{sid}-m{k}", "type": "message.created", "session_id": sid,
                           "at": _ts(at), "data": message})
        if i % 3 == 0:
            events.append({
                "id": f"{sid}-log", "type": "log.appended", "session_id": sid, "at": _ts(at),
                "data": {"kind": "system", "entries": [
                    {"at": _ts(at), "level": "info", "text": f"session {sid} saved"}]},
            })
        if rng.random() < 0.75:
            at = at + timedelta(seconds=rng.randint(1, 600))
            status = rng.choice(("completed", "completed", "failed", "cancelled", "transferred"))
            events.append({
                "id": f"{sid}-end", "type": "session.ended", "session_id": sid, "at": _ts(at),
                "data": {"status": status, "ended_at": _ts(at),
                         "end_reason": rng.choice(("resolved", "user_disconnect", "timeout"))},
            })
    return events


def post_history(hub: Any, events: list[dict[str, Any]]) -> None:
    from tests.conftest import ingest

    for start in range(0, len(events), 500):
        ingest(hub, events[start: start + 500])


def dispose_qt(*objects: Any) -> None:
    """Destroy Qt objects now, on this (the GUI) thread.

    Left to Python's cyclic GC, a parentless widget can be destroyed from whichever thread
    runs the collection (a hub or reader thread), leaving its timers registered with the GUI
    thread's dispatcher: a later timer event then hits freed memory.
    """
    import gc

    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    for obj in objects:
        if obj is not None and shiboken6.isValid(obj):
            if hasattr(obj, "close"):
                obj.close()
            obj.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
