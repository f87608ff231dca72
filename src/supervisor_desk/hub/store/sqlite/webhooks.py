"""Webhook endpoints and their delivery outbox in SQLite (tables of schema 5).

The outbox row of a delivery is written in the same transaction as the event it tells of
(:func:`enqueue`, called by the write batch while it appends to the event log), so an event the
hub answered for is never lost to a crash before its webhook went out, and an event rolled
back never goes out. The dispatcher reads and updates the rows through :class:`SqliteOutbox`,
on a connection of its own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from supervisor_desk.hub.store.sqlite.faults import faults_translated
from supervisor_desk.hub.store.webhooks import (
    Delivery,
    Webhook,
    check_events,
    check_secret,
    check_url,
    delivery_message_id,
    delivery_payload,
    new_webhook_id,
    now_ms,
)

_DELIVERY_COLUMNS = (
    "id, msg_id, webhook_id, session_id, event_type, payload, state, attempts, window_ms, "
    "next_ms, created_ms, last_status, last_error, delivered_ms"
)


# ------------------------------------------------------------------------------------------
# Endpoints


def add(conn: sqlite3.Connection, url: str, events: list[str] | tuple[str, ...] | None,
        secret: str | None = None) -> Webhook:
    hook = Webhook(new_webhook_id(), check_url(url), check_secret(secret),
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
            payload = delivery_payload(event_type, at, data_json)
        conn.execute(
            "INSERT INTO webhook_deliveries (msg_id, webhook_id, session_id, event_type, "
            "seq, payload, state, attempts, window_ms, next_ms, created_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            (delivery_message_id(seq, event_type, webhook_id), webhook_id, session_id,
             event_type, seq, payload, now, now, now),
        )
        count += 1
    return count


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(*row)


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


class SqliteOutbox:
    """The dispatcher's connection to the outbox (:class:`~supervisor_desk.hub.store.interface.
    WebhookOutbox`); calls are serialised on a lock."""

    def __init__(self, db_path: Path) -> None:
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.execute("PRAGMA busy_timeout=30000")
        # A lost "delivered" mark only means one more delivery (at-least-once): no fsync each.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()

    @faults_translated
    def due(self, now_ms: int, busy: set[tuple[str, str]], limit: int = 100) -> list[Delivery]:
        """Pending deliveries due now, each the oldest pending one of its (endpoint, session):
        a session's deliveries go out one after the other, in order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE state = 'pending' "
                "AND next_ms <= ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e "
                "WHERE e.webhook_id = d.webhook_id AND e.session_id = d.session_id "
                "AND e.state = 'pending' AND e.id < d.id) ORDER BY id LIMIT ?",
                (now_ms, limit + len(busy)),
            ).fetchall()
        found = [_delivery(r) for r in rows]
        return [d for d in found if (d.webhook_id, d.session_id) not in busy][:limit]

    @faults_translated
    def next_due_ms(self) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(next_ms) FROM webhook_deliveries WHERE state = 'pending'"
            ).fetchone()
        return None if row is None else row[0]

    @faults_translated
    def target(self, webhook_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT url, secret FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    @faults_translated
    def record(self, delivery_id: int, *, state: str, next_ms: int, status: int | None,
               error: str | None) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_ms = ?, "
                "last_status = ?, last_error = ?, delivered_ms = CASE WHEN ? = 'delivered' "
                "THEN ? ELSE delivered_ms END WHERE id = ? AND state = 'pending'",
                (state, next_ms, status, error, state, now_ms(), delivery_id),
            )

    @faults_translated
    def close(self) -> None:
        with self._lock:
            self._conn.close()
