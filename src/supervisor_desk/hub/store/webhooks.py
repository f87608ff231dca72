"""Webhook endpoints and deliveries as the hub sees them, whatever stores them.

The rules an endpoint must follow (URL, event types, signing secret) and the shapes the API
returns live here, so every backend checks and answers the same way; each backend only keeps
the rows (SQLite: :mod:`supervisor_desk.hub.store.sqlite.webhooks`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from supervisor_desk.models.wire import EVENT_TYPES

HANDOVER = "session.handover"
# What an endpoint can subscribe to: the session events of the feed, and hand-overs.
WEBHOOK_EVENTS: tuple[str, ...] = (*EVENT_TYPES, HANDOVER)
DELIVERY_STATES = ("pending", "delivered", "dead")
SECRET_PREFIX = "whsec_"


class WebhookError(ValueError):
    """A registration or replay the hub refuses (bad URL, unknown event type, unknown id)."""


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    created_ms: int

    def public(self, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "url": self.url, "events": list(self.events),
                               "created_at": _iso(self.created_ms)}
        if with_secret:
            out["secret"] = self.secret
        return out


@dataclass(frozen=True)
class Delivery:
    id: int
    msg_id: str
    webhook_id: str
    session_id: str
    event_type: str
    payload: str
    state: str
    attempts: int
    window_ms: int
    next_ms: int
    created_ms: int
    last_status: int | None
    last_error: str | None
    delivered_ms: int | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "webhook_id": self.webhook_id, "message_id": self.msg_id,
            "session_id": self.session_id, "event_type": self.event_type,
            "state": self.state, "attempts": self.attempts,
            "created_at": _iso(self.created_ms),
            "next_attempt_at": _iso(self.next_ms) if self.state == "pending" else None,
            "last_status": self.last_status, "last_error": self.last_error,
            "delivered_at": _iso(self.delivered_ms) if self.delivered_ms else None,
        }


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_webhook_id() -> str:
    return "wh_" + secrets.token_hex(8)


def delivery_message_id(seq: int, event_type: str, webhook_id: str) -> str:
    """The ``webhook-id`` a receiver deduplicates on: one per (event, endpoint)."""
    return f"msg_{seq}_{event_type}_{webhook_id}"


def delivery_payload(event_type: str, at: str, data_json: str) -> str:
    """The body POSTed to an endpoint: ``{"type", "timestamp", "data"}``."""
    return f'{{"type":{_quoted(event_type)},"timestamp":{_quoted(at)},"data":{data_json}}}'


def _quoted(text: str) -> str:
    return json.dumps(text)


# The exact rules, shared with the OpenAPI document (routes_webhooks.py) so both say the same.
# ASCII only (a URL percent-encodes the rest): regex engines agree on what these classes hold.
URL_PATTERN = r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(:[0-9]{1,5})?([/?#][!-~]*)?$"
SECRET_PATTERN = r"^whsec_([A-Za-z0-9+/]{4}){8,16}$"  # 24 to 48 random bytes, base64


def check_url(url: str) -> str:
    if len(url) > 2000 or not re.fullmatch(URL_PATTERN, url):
        raise WebhookError(
            f"the URL must be http:// or https:// with a host (at most 2000 characters), "
            f"got {url[:200]!r}")
    return url


def check_events(events: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if not events:
        return WEBHOOK_EVENTS
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise WebhookError(f"unknown event type {unknown[0][:100]!r}; expected some of "
                           f"{', '.join(WEBHOOK_EVENTS)}")
    return tuple(dict.fromkeys(events))


def check_secret(secret: str | None) -> str:
    if secret is None:
        return new_secret()
    if not re.fullmatch(SECRET_PATTERN, secret):
        raise WebhookError(f"a secret is {SECRET_PREFIX}<base64 of 24 to 48 bytes, no padding>")
    return secret
