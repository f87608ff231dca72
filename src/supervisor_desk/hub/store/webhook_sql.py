"""The webhook tables' SQL, once for both backends: endpoints, outbox rows, the dispatcher's
reads and writes, each statement given to a backend's connection through its ``Dialect``
(``store/dialect.py``: SQLite keeps ``?``, psycopg wants ``%s``). What really differs stays
in the backends (claiming due deliveries: SQLite has one dispatcher, PostgreSQL's replicas
claim with ``FOR UPDATE SKIP LOCKED``; how rows are batched)."""

from __future__ import annotations

import json
from typing import Any

from supervisor_desk.hub.store.dialect import Connection, Dialect
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

DELIVERY_COLUMNS = (
    "id, msg_id, webhook_id, session_id, event_type, payload, state, attempts, window_ms, "
    "next_ms, created_ms, last_status, last_error, delivered_ms"
)
# The oldest pending delivery of its (endpoint, session) that is due: a session's deliveries go
# out one after the other, in order.
DUE_WHERE = (
    "state = 'pending' AND next_ms <= ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e "
    "WHERE e.webhook_id = d.webhook_id AND e.session_id = d.session_id "
    "AND e.state = 'pending' AND e.id < d.id)"
)
INSERT_OUTBOX = (
    "INSERT INTO webhook_deliveries (msg_id, webhook_id, session_id, event_type, seq, payload, "
    "state, attempts, window_ms, next_ms, created_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)"
)
NEXT_DUE = "SELECT min(next_ms) FROM webhook_deliveries WHERE state = 'pending'"
TARGET = "SELECT url, secret FROM webhooks WHERE id = ?"
RECORD = (
    "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_ms = ?, "
    "last_status = ?, last_error = ?, delivered_ms = CASE WHEN ? = 'delivered' "
    "THEN ? ELSE delivered_ms END WHERE id = ? AND state = 'pending'"
)


def record_params(delivery_id: int, state: str, next_ms: int, status: int | None,
                  error: str | None) -> tuple[Any, ...]:
    """The parameters of :data:`RECORD`: one attempt's result."""
    return (state, next_ms, status, error, state, now_ms(), delivery_id)


def add(conn: Connection, dialect: Dialect, url: str,
        events: list[str] | tuple[str, ...] | None, secret: str | None = None) -> Webhook:
    hook = Webhook(new_webhook_id(), check_url(url), check_secret(secret),
                   check_events(events), now_ms())
    dialect.execute(
        conn, "INSERT INTO webhooks (id, url, secret, events, created_ms) VALUES (?, ?, ?, ?, ?)",
        (hook.id, hook.url, hook.secret, json.dumps(list(hook.events)), hook.created_ms))
    return hook


def listing(conn: Connection) -> list[Webhook]:
    rows = conn.execute(
        "SELECT id, url, secret, events, created_ms FROM webhooks ORDER BY created_ms, id"
    ).fetchall()
    return [Webhook(r[0], r[1], r[2], tuple(json.loads(r[3])), int(r[4])) for r in rows]


def get(conn: Connection, webhook_id: str) -> Webhook | None:
    return next((h for h in listing(conn) if h.id == webhook_id), None)


def remove(conn: Connection, dialect: Dialect, webhook_id: str) -> bool:
    """Forget an endpoint and every delivery of it (pending ones are not sent any more)."""
    found = dialect.execute(conn, "DELETE FROM webhooks WHERE id = ?", (webhook_id,)).rowcount
    dialect.execute(conn, "DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
    return bool(found)


def subscriptions(conn: Connection) -> list[tuple[str, frozenset[str]]]:
    """``(webhook id, event types)`` of every endpoint, read inside the writing transaction
    (so an endpoint added by the CLI while the hub runs takes the next event)."""
    return [(r[0], frozenset(json.loads(r[1])))
            for r in conn.execute("SELECT id, events FROM webhooks")]


def outbox_rows(hooks: list[tuple[str, frozenset[str]]], *, seq: int, event_type: str,
                session_id: str, at: str, data_json: str) -> list[tuple[Any, ...]]:
    """The :data:`INSERT_OUTBOX` rows of one event: one per endpoint that takes its type."""
    now = now_ms()
    payload: str | None = None
    rows: list[tuple[Any, ...]] = []
    for webhook_id, events in hooks:
        if event_type not in events:
            continue
        if payload is None:
            payload = delivery_payload(event_type, at, data_json)
        rows.append((delivery_message_id(seq, event_type, webhook_id), webhook_id, session_id,
                     event_type, seq, payload, now, now, now))
    return rows


def deliveries(conn: Connection, dialect: Dialect, webhook_id: str, state: str | None = None,
               limit: int = 100) -> list[Delivery]:
    where, args = "webhook_id = ?", [webhook_id]
    if state is not None:
        where += " AND state = ?"
        args.append(state)
    rows = dialect.execute(
        conn, f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where} "
        "ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [Delivery(*r) for r in rows]


def replay(conn: Connection, dialect: Dialect, webhook_id: str,
           delivery_ids: list[int] | None) -> int:
    """Send dead deliveries again (all of the endpoint's, or the ones named), with a fresh
    retry window; the message id stays, so a receiver that got it after all can tell."""
    now = now_ms()
    where, args = "webhook_id = ? AND state = 'dead'", [webhook_id]
    named: list[Any] = list(delivery_ids or ())
    if named:
        where += f" AND id IN ({', '.join('?' * len(named))})"
    return int(dialect.execute(
        conn, f"UPDATE webhook_deliveries SET state = 'pending', window_ms = ?, next_ms = ? "
        f"WHERE {where}", (now, now, *args, *named)).rowcount)
