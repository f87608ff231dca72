"""Believable export records for the export-file, offline-index and offline-view tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from supervisor_desk.models.wire import (
    CHANNELS,
    ExportedSession,
    Message,
    SessionLogs,
    SessionSummary,
    SystemLogEntry,
    TraceLogEntry,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORDS = ("cancel", "refund", "invoice", "delivery", "password", "café", "Zürich", "order")


def make_record(i: int, *, n_messages: int = 3, text: str | None = None) -> ExportedSession:
    started = T0 + timedelta(minutes=7 * i)
    ended = i % 3 != 0
    status = ("completed", "failed", "cancelled", "transferred")[i % 4] if ended else (
        "queued" if i % 2 else "active"
    )
    messages = [
        Message(
            id=f"m{i}-{k}", session_id=f"s{i:04d}", seq=k + 1,
            at=started + timedelta(seconds=30 * (k + 1)),
            author={"role": "customer" if k % 2 == 0 else "ai", "name": None},
            text=text if text is not None and k == 0 else f"{WORDS[(i + k) % len(WORDS)]} #{k}",
            attachments=([{"name": "scan.pdf", "mime": "application/pdf", "size": 12}]
                         if i % 5 == 0 and k == 0 else []),
        )
        for k in range(n_messages)
    ]
    summary = SessionSummary(
        id=f"s{i:04d}",
        agent={"id": f"a{i % 3}", "name": ("Billing bot", "Sales bot", "Support bot")[i % 3]},
        channel=CHANNELS[i % len(CHANNELS)],
        status=status,
        end_reason="resolved" if ended else None,
        responsible=({"kind": "human", "operator": {"id": "op1", "name": "Dana Ops"}}
                     if i % 4 == 1 else {"kind": "ai"}),
        user={"id": f"u{i % 7}", "name": f"Customer {i % 7}", "external_id": f"ext-{i}"},
        location={"ip": f"10.0.0.{i % 250}", "country_code": ("DE", "FR", "US")[i % 3],
                  "country": ("Germany", "France", "United States")[i % 3], "city": None},
        started_at=started,
        queued_at=started if i % 2 else None,
        accepted_at=started + timedelta(seconds=20) if i % 2 else None,
        ended_at=started + timedelta(minutes=5) if ended else None,
        last_message_at=messages[-1].at if messages else None,
        message_count=n_messages,
        has_attachments=i % 5 == 0,
        parameters={"plan": ("Premium", "Basic")[i % 2], "formula": "=1+1"},
        results={"Promise to Pay": "promised"} if i % 2 else {},
        metadata={"campaign": f"spring-{i % 4}"},
        contact={"name": f"Customer {i % 7}", "email": f"c{i}@example.com"} if i % 3 else None,
        version=3,
    )
    logs = SessionLogs(
        system=[SystemLogEntry(at=started, level="info", text=f"session {i} opened")],
        trace=[TraceLogEntry(at=started, agent="main", prompt="p",
                             generation={"action": "reply", "action_input": "hi"})],
    )
    return ExportedSession(session=summary, messages=messages, logs=logs)


def make_records(n: int, **kwargs: object) -> list[ExportedSession]:
    return [make_record(i, **kwargs) for i in range(n)]  # type: ignore[arg-type]
