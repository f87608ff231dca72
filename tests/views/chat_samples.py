"""Realistic session data for chat, dock and logs tests and screenshots (no Qt)."""

from __future__ import annotations

import base64
import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor_desk.models.wire import (
    Message,
    SessionDetail,
    SessionSummary,
    SystemLogEntry,
    TraceLogEntry,
)

T0 = datetime(2026, 11, 21, 14, 2, 11, tzinfo=UTC)


def _png(width: int, height: int) -> bytes:
    """A real PNG (a blue-to-green gradient), so local images have something to decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(
        b"\x00"
        + b"".join(
            bytes((30, 90 + 30 * (4 * x // width), 200 - 40 * (3 * y // height)))
            for x in range(width)
        )
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


TINY_PNG = _png(160, 90)


def summary(
    session_id: str = "5f1c2a9e-7d4b-4c1e-9a51-0b7e3c2d1f00", **over: Any
) -> SessionSummary:
    data: dict[str, Any] = {
        "id": session_id,
        "agent": {"id": "agent-billing", "name": "Billing assistant"},
        "channel": "web",
        "modality": "chat",
        "status": "active",
        "responsible": {"kind": "ai"},
        "team": "Billing",
        "stage": "PROD",
        "user": {"id": "user-42", "name": "Dana Whitfield"},
        "location": {"ip": "203.0.113.7", "country_code": "DE", "country": "Germany"},
        "started_at": T0,
        "last_message_at": T0 + timedelta(minutes=6),
        "message_count": 0,
        "parameters": {"utm_source": "google", "plan": "Premium", "customer_id": "12345"},
        "results": {"Promise to Pay": "promised", "Payment Date": "2026-02-15"},
        "contact": {
            "name": "Dana Whitfield",
            "email": "dana@example.com",
            "phone": "+49 30 1234567",
        },
    }
    data.update(over)
    return SessionSummary.model_validate(data)


def message(
    seq: int,
    role: str,
    text: str,
    *,
    session_id: str = summary().id,
    kind: str = "text",
    name: str | None = None,
    minutes: float | None = None,
    **over: Any,
) -> Message:
    data: dict[str, Any] = {
        "id": f"m{seq}",
        "session_id": session_id,
        "seq": seq,
        "at": T0 + timedelta(minutes=seq * 0.5 if minutes is None else minutes),
        "author": {"role": role, "name": name},
        "kind": kind,
        "text": text,
    }
    data.update(over)
    return Message.model_validate(data)


def every_kind_detail(**over: Any) -> SessionDetail:
    """One session with every message kind the chat knows."""
    sid = summary().id
    msgs = [
        message(
            1,
            "customer",
            "Hi, my invoice for **October** is wrong — I was charged twice.",
            delivery={
                "status": "read",
                "at": T0 + timedelta(seconds=40),
                "note": "Read receipt from widget",
            },
        ),
        message(
            2,
            "ai",
            "Sorry about that! Let me check. Could you confirm:\n\n"
            "1. the invoice number\n2. the last four digits of the card\n\n"
            "See [our billing FAQ](https://example.com/billing-faq).",
            name="Billing assistant",
            reaction="up",
            quick_replies=["Invoice number", "Card digits", "Talk to a human"],
        ),
        message(
            3,
            "customer",
            "INV-2026-1043, card ending 4417",
            attachments=[
                {
                    "name": "invoice-october.pdf",
                    "mime": "application/pdf",
                    "size": 184_320,
                    "url": "https://files.example.com/invoice-october.pdf",
                },
                {
                    "name": "screenshot.png",
                    "mime": "image/png",
                    "size": len(TINY_PNG),
                    "url": "data:image/png;base64," + base64.b64encode(TINY_PNG).decode(),
                },
            ],
            delivery={"status": "delivered", "at": T0 + timedelta(minutes=1, seconds=32)},
        ),
        message(
            4,
            "ai",
            "I can see two charges. I'm handing you to a colleague who can refund one.",
            reaction="down",
        ),
        message(5, "system", "Transfer to human agent", kind="marker"),
        message(6, "system", "Anna Petrova was assigned by Max Weber", kind="marker"),
        message(
            7,
            "ai",
            "Refund of the duplicate charge of €49.00 for INV-2026-1043 approved.",
            kind="draft",
            name="Copilot",
        ),
        message(
            8,
            "human",
            "Customer is a long-time Premium user, waive the fee.",
            kind="note",
            name="Anna Petrova",
        ),
        message(
            9,
            "human",
            "Hello Dana, I'm Anna. I've refunded the duplicate €49.00 charge; you'll "
            "see it in 3-5 days.",
            name="Anna Petrova",
            delivery={
                "status": "failed",
                "at": T0 + timedelta(minutes=5),
                "note": "Provider: recipient offline",
            },
        ),
        message(10, "customer", "Thank you so much! 🙏"),
    ]
    detail: dict[str, Any] = {"session": summary(message_count=len(msgs)), "messages": msgs}
    detail.update(over)
    assert sid
    return SessionDetail.model_validate(detail)


def whatsapp_detail() -> SessionDetail:
    sid = "wa-0001-outbound"
    s = summary(
        sid,
        channel="whatsapp",
        status="completed",
        end_reason="user_disconnect",
        ended_at=T0 + timedelta(minutes=9),
        contact=None,
        parameters={},
        results={},
    )
    msgs = [
        message(
            1,
            "ai",
            "Hello Dana, your order #5521 has shipped. Reply STOP to opt out.",
            session_id=sid,
            kind="template",
            name="Shop bot",
        ),
        message(2, "customer", "When will it arrive?", session_id=sid),
    ]
    return SessionDetail(session=s, messages=msgs)


def voice_pending_detail() -> SessionDetail:
    sid = "voice-77"
    s = summary(
        sid,
        channel="phone",
        modality="voice",
        status="completed",
        end_reason="resolved",
        ended_at=T0 + timedelta(minutes=4),
    )
    msgs = [
        message(
            1,
            "system",
            "",
            session_id=sid,
            attachments=[
                {
                    "name": "call-recording.mp3",
                    "mime": "audio/mpeg",
                    "size": 2_400_000,
                    "url": "https://files.example.com/call-recording.mp3",
                }
            ],
        )
    ]
    return SessionDetail(session=s, messages=msgs)


def long_detail(n: int, session_id: str = "long-session", live: bool = False) -> SessionDetail:
    lines = [
        "Hello, I would like to check the status of my order, it was due yesterday.",
        "Sure — could you share the **order number**? You can find it in the confirmation email.",
        "It's 88213. Also, can I change the delivery address to my office?",
        "Done! The new address is saved. Anything else?\n\n- tracking link sent\n- SMS updates on",
    ]
    msgs = []
    for i in range(1, n + 1):
        role = "customer" if i % 2 else "ai"
        msgs.append(
            message(
                i, role, f"{lines[i % len(lines)]} ({i})", session_id=session_id, minutes=i * 0.2
            )
        )
    status = "active" if live else "completed"
    extra: dict[str, Any] = (
        {} if live else {"ended_at": T0 + timedelta(minutes=n * 0.2 + 1), "end_reason": "resolved"}
    )
    return SessionDetail(
        session=summary(session_id, status=status, message_count=n, **extra), messages=msgs
    )


def system_logs() -> list[SystemLogEntry]:
    return [
        SystemLogEntry(at=T0, level="info", text="Session opened, agent Billing assistant v14"),
        SystemLogEntry(
            at=T0 + timedelta(seconds=2),
            level="info",
            text="Tool call: lookup_invoice(number='INV-2026-1043') -> 2 charges",
        ),
        SystemLogEntry(
            at=T0 + timedelta(minutes=2),
            level="warning",
            text="Handover tool called: reason=refund_required",
        ),
    ]


def trace_logs() -> list[TraceLogEntry]:
    return [
        TraceLogEntry.model_validate(
            {
                "at": T0 + timedelta(seconds=5),
                "agent": "main-conversation",
                "prompt": "You are Billing assistant. Chat history:\nCustomer: my invoice is wrong",
                "generation": {
                    "action": "reply",
                    "action_input": "Sorry about that! Let me check.",
                },
            }
        ),
        TraceLogEntry.model_validate(
            {
                "at": T0 + timedelta(seconds=50),
                "agent": "form-agent",
                "prompt": "Extract invoice number from: INV-2026-1043, card ending 4417",
                "generation": {
                    "action": "set_result",
                    "action_input": '{"invoice": "INV-2026-1043"}',
                },
            }
        ),
    ]


# --------------------------------------------------------------------------------------------
# Ingest events for tests against a real hub (what a platform posts)

_event_ids = iter(range(1, 10**9))


def _ev(kind: str, sid: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"ev-{sid}-{next(_event_ids)}",
        "type": kind,
        "session_id": sid,
        "at": at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def hub_session_events(
    sid: str,
    *,
    user: str = "user-42",
    user_name: str = "Dana Whitfield",
    channel: str = "web",
    responsible: dict[str, Any] | None = None,
    messages: int = 3,
    ended: bool = False,
    start: datetime | None = None,
) -> list[dict[str, Any]]:
    """A session as a platform reports it: start, messages, logs, maybe its end."""
    at = start or datetime.now(UTC) - timedelta(minutes=10)
    events = [
        _ev(
            "session.started",
            sid,
            at,
            {
                "agent": {"id": "agent-billing", "name": "Billing assistant"},
                "channel": channel,
                "status": "active",
                "started_at": at.isoformat(),
                "responsible": responsible or {"kind": "ai"},
                "user": {"id": user, "name": user_name},
                "contact": {"name": user_name, "email": "dana@example.com"},
                "parameters": {"plan": "Premium"},
            },
        )
    ]
    for i in range(1, messages + 1):
        when = at + timedelta(seconds=20 * i)
        role = "customer" if i % 2 else "ai"
        events.append(
            _ev(
                "message.created",
                sid,
                when,
                {
                    "id": f"{sid}-m{i}",
                    "at": when.isoformat(),
                    "author": {"role": role},
                    "text": f"{channel} message {i} of {sid}",
                },
            )
        )
    events.append(
        _ev(
            "log.appended",
            sid,
            at + timedelta(seconds=5),
            {
                "kind": "system",
                "entries": [
                    {"at": at.isoformat(), "level": "info", "text": f"Session {sid} opened"}
                ],
            },
        )
    )
    events.append(
        _ev(
            "log.appended",
            sid,
            at + timedelta(seconds=6),
            {
                "kind": "trace",
                "entries": [
                    {
                        "at": at.isoformat(),
                        "agent": "main-conversation",
                        "prompt": "You are Billing assistant",
                        "generation": {"action": "reply", "action_input": "Hello!"},
                    }
                ],
            },
        )
    )
    if ended:
        events.append(
            _ev(
                "session.ended",
                sid,
                at + timedelta(minutes=5),
                {"status": "completed", "end_reason": "user_disconnect"},
            )
        )
    return events
