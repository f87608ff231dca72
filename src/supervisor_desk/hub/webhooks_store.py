"""Webhook endpoints and their delivery outbox: the SQL (tables of schema 5).

The outbox row of a delivery is written in the same transaction as the event it tells of
(:func:`enqueue`, called by the storage while it appends to the event log), so an event the
hub answered for is never lost to a crash before its webhook went out, and an event rolled
back never goes out. The dispatcher (:mod:`hub.webhooks`) reads and updates the rows on its
own connection.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sqlite3
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


_DELIVERY_COLUMNS = (
    "id, msg_id, webhook_id, session_id, event_type, payload, state, attempts, window_ms, "
    "next_ms, created_ms, last_status, last_error, delivered_ms"
)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


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


# ------------------------------------------------------------------------------------------
# Endpoints


def add(conn: sqlite3.Connection, url: str, events: list[str] | tuple[str, ...] | None,
        secret: str | None = None) -> Webhook:
    hook = Webhook("wh_" + secrets.token_hex(8), check_url(url), check_secret(secret),
                   check_events(events), now_ms())
    conn.execute(
        "INSERT INTO webhooks (id, url, secret, events, created_ms) VALUES (?, ?, ?, ?, ?)",
        (hook.id, hook.url, hook.secret, json.dumps(list(hook.events)), hook.created_ms),
    )
    return hook


def listing(conn: sqlite3.Connection) -> list[Webhook]:
    rows = conn.execute(
        "SELECT id, url, secret, events, created_ms FROM webhooks ORDER BY created_ms, id"
    ).fetchall()
    return [Webhook(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4]) for r in rows]


def get(conn: sqlite3.Connection, webhook_id: str) -> Webhook | None:
    return next((h for h in listing(conn) if h.id == webhook_id), None)


def remove(conn: sqlite3.Connection, webhook_id: str) -> bool:
    """Forget an endpoint and every delivery of it (pending ones are not sent any more)."""
    found = conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount
    conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
    return bool(found)


# ------------------------------------------------------------------------------------------
# The outbox


def subscriptions(conn: sqlite3.Connection) -> list[tuple[str, frozenset[str]]]:
    """``(webhook id, event types)`` of every endpoint, read inside the writing transaction
    (so an endpoint added by the CLI while the hub runs takes the next event)."""
    return [(r[0], frozenset(json.loads(r[1])))
            for r in conn.execute("SELECT id, events FROM webhooks")]


def enqueue(conn: sqlite3.Connection, hooks: list[tuple[str, frozenset[str]]], *, seq: int,
            event_type: str, session_id: str, at: str, data_json: str) -> int:
    """Outbox rows for the endpoints that take ``event_type``; returns how many."""
    count = 0
    now = now_ms()
    payload = None
    for webhook_id, events in hooks:
        if event_type not in events:
            continue
        if payload is None:
            payload = (f'{{"type":{json.dumps(event_type)},"timestamp":{json.dumps(at)},'
                       f'"data":{data_json}}}')
        conn.execute(
            "INSERT INTO webhook_deliveries (msg_id, webhook_id, session_id, event_type, "
            "seq, payload, state, attempts, window_ms, next_ms, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            (f"msg_{seq}_{event_type}_{webhook_id}", webhook_id, session_id, event_type, seq,
             payload, now, now, now),
        )
        count += 1
    return count


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(*row)


def due(conn: sqlite3.Connection, now: int, busy: set[tuple[str, str]],
        limit: int = 100) -> list[Delivery]:
    """Pending deliveries due now, each the oldest pending one of its (endpoint, session):
    a session's deliveries go out one after the other, in order."""
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE state = 'pending' "
        "AND next_ms <= ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e "
        "WHERE e.webhook_id = d.webhook_id AND e.session_id = d.session_id "
        "AND e.state = 'pending' AND e.id < d.id) ORDER BY id LIMIT ?",
        (now, limit + len(busy)),
    ).fetchall()
    found = [_delivery(r) for r in rows]
    return [d for d in found if (d.webhook_id, d.session_id) not in busy][:limit]


def next_due_ms(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        "SELECT MIN(next_ms) FROM webhook_deliveries WHERE state = 'pending'"
    ).fetchone()
    return None if row is None else row[0]


def secret_of(conn: sqlite3.Connection, webhook_id: str) -> tuple[str, str] | None:
    row = conn.execute("SELECT url, secret FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def record(conn: sqlite3.Connection, delivery_id: int, *, state: str, next_ms: int,
           status: int | None, error: str | None) -> None:
    conn.execute(
        "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_ms = ?, "
        "last_status = ?, last_error = ?, delivered_ms = CASE WHEN ? = 'delivered' "
        "THEN ? ELSE delivered_ms END WHERE id = ? AND state = 'pending'",
        (state, next_ms, status, error, state, now_ms(), delivery_id),
    )


def deliveries(conn: sqlite3.Connection, webhook_id: str, state: str | None = None,
               limit: int = 100) -> list[Delivery]:
    where, args = "webhook_id = ?", [webhook_id]
    if state is not None:
        where += " AND state = ?"
        args.append(state)
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where} "
        "ORDER BY id DESC LIMIT ?", (*args, limit),
    ).fetchall()
    return [_delivery(r) for r in rows]


def replay(conn: sqlite3.Connection, webhook_id: str, delivery_ids: list[int] | None) -> int:
    """Send dead deliveries again (all of the endpoint's, or the ones named), with a fresh
    retry window; the message id stays, so a receiver that got it after all can tell."""
    now = now_ms()
    where, args = "webhook_id = ? AND state = 'dead'", [webhook_id]
    args_ids: list[Any] = args
    if delivery_ids:
        where += f" AND id IN ({','.join('?' * len(delivery_ids))})"
        args_ids.extend(delivery_ids)
    return conn.execute(
        f"UPDATE webhook_deliveries SET state = 'pending', window_ms = ?, next_ms = ? "
        f"WHERE {where}", (now, now, *args),
    ).rowcount
