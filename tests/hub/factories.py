"""Builders of ingest events for hub tests (plain dicts, exactly what a platform posts)."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def _eid() -> str:
    return f"ev-{next(_ids)}"


def started(
    sid: str,
    at: str = "2026-01-01T10:00:00Z",
    *,
    agent: tuple[str, str] = ("a1", "Ava"),
    channel: str = "web",
    status: str = "active",
    user: dict[str, Any] | None = None,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "agent": {"id": agent[0], "name": agent[1]},
        "channel": channel,
        "status": status,
        "user": user or {"id": f"user-{sid}", "name": f"User {sid}"},
        "started_at": at,
        **extra,
    }
    return {"id": event_id or _eid(), "type": "session.started", "session_id": sid, "at": at,
            "data": data}


def message(
    sid: str,
    mid: str,
    text: str = "hello",
    at: str = "2026-01-01T10:01:00Z",
    *,
    role: str = "customer",
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data = {"id": mid, "at": at, "author": {"role": role, "name": None}, "text": text, **extra}
    return {"id": event_id or _eid(), "type": "message.created", "session_id": sid, "at": at,
            "data": data}


def updated(sid: str, at: str = "2026-01-01T10:02:00Z", **data: Any) -> dict[str, Any]:
    return {"id": _eid(), "type": "session.updated", "session_id": sid, "at": at, "data": data}


def ended(
    sid: str,
    at: str = "2026-01-01T10:30:00Z",
    status: str = "completed",
    end_reason: str | None = "resolved",
) -> dict[str, Any]:
    return {"id": _eid(), "type": "session.ended", "session_id": sid, "at": at,
            "data": {"status": status, "end_reason": end_reason}}


def message_updated(sid: str, mid: str, at: str = "2026-01-01T10:03:00Z",
                    **data: Any) -> dict[str, Any]:
    return {"id": _eid(), "type": "message.updated", "session_id": sid, "at": at,
            "data": {"id": mid, **data}}


def logs(sid: str, kind: str, entries: list[dict[str, Any]],
         at: str = "2026-01-01T10:04:00Z") -> dict[str, Any]:
    return {"id": _eid(), "type": "log.appended", "session_id": sid, "at": at,
            "data": {"kind": kind, "entries": entries}}
