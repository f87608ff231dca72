"""Ingest-event builders for client tests (what a platform posts to the hub)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

_ids = itertools.count(1)


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def started(sid: str, status: str = "active", **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agent": {"id": "agent-1", "name": "Support bot"},
        "channel": "web",
        "status": status,
        "user": {"id": f"user-{sid}", "name": f"Customer {sid}"},
        **data,
    }
    return {"id": f"ev-{next(_ids)}", "type": "session.started", "session_id": sid,
            "at": now(), "data": body}


def updated(sid: str, **data: Any) -> dict[str, Any]:
    return {"id": f"ev-{next(_ids)}", "type": "session.updated", "session_id": sid,
            "at": now(), "data": data}


def message(sid: str, text: str, role: str = "customer") -> dict[str, Any]:
    n = next(_ids)
    return {"id": f"ev-{n}", "type": "message.created", "session_id": sid, "at": now(),
            "data": {"id": f"msg-{n}", "at": now(), "author": {"role": role}, "text": text}}


def ended(sid: str, status: str = "completed", reason: str = "resolved") -> dict[str, Any]:
    return {"id": f"ev-{next(_ids)}", "type": "session.ended", "session_id": sid,
            "at": now(), "data": {"status": status, "end_reason": reason}}
