"""Webhook endpoints and their delivery outbox in PostgreSQL (same rows and rules as
``store/sqlite/webhooks.py``): deliveries are written in the transaction of the event they
tell of; the dispatcher reads and updates them through :class:`PgOutbox`.

With several replicas each runs a dispatcher; ``due`` claims rows with ``FOR UPDATE SKIP
LOCKED`` inside a short transaction that pushes their ``next_ms`` a lease ahead, so two
replicas do not send the same delivery at once (a crash after the lease only delays it).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg

from supervisor_desk.hub.store.postgres.faults import translated
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
# A claimed delivery is not offered to another replica's dispatcher for this long.
CLAIM_LEASE_MS = 60_000


def add(conn: psycopg.Connection, url: str, events: list[str] | tuple[str, ...] | None,
        secret: str | None = None) -> Webhook:
    hook = Webhook(new_webhook_id(), check_url(url), check_secret(secret),
                   check_events(events), now_ms())
    conn.execute(
        "INSERT INTO webhooks (id, url, secret, events, created_ms) VALUES (%s, %s, %s, %s, %s)",
        (hook.id, hook.url, hook.secret, json.dumps(list(hook.events)), hook.created_ms))
    return hook


def listing(conn: psycopg.Connection) -> list[Webhook]:
    rows = conn.execute(
        "SELECT id, url, secret, events, created_ms FROM webhooks ORDER BY created_ms, id"
    ).fetchall()
    return [Webhook(r[0], r[1], r[2], tuple(json.loads(r[3])), int(r[4])) for r in rows]


def get(conn: psycopg.Connection, webhook_id: str) -> Webhook | None:
    return next((h for h in listing(conn) if h.id == webhook_id), None)


def remove(conn: psycopg.Connection, webhook_id: str) -> bool:
    found = conn.execute("DELETE FROM webhooks WHERE id = %s", (webhook_id,)).rowcount
    conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = %s", (webhook_id,))
    return bool(found)


def subscriptions(conn: psycopg.Connection) -> list[tuple[str, frozenset[str]]]:
    return [(r[0], frozenset(json.loads(r[1])))
            for r in conn.execute("SELECT id, events FROM webhooks")]


def outbox_rows(hooks: list[tuple[str, frozenset[str]]], *, seq: int, event_type: str,
                session_id: str, at: str, data_json: str) -> list[tuple[Any, ...]]:
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


def insert_outbox(cursor: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    cursor.executemany(
        "INSERT INTO webhook_deliveries (msg_id, webhook_id, session_id, event_type, seq, "
        "payload, state, attempts, window_ms, next_ms, created_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s)", rows)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    return Delivery(*row)


def deliveries(conn: psycopg.Connection, webhook_id: str, state: str | None = None,
               limit: int = 100) -> list[Delivery]:
    where, args = "webhook_id = %s", [webhook_id]
    if state is not None:
        where += " AND state = %s"
        args.append(state)
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where} "
        "ORDER BY id DESC LIMIT %s".encode(), (*args, limit)).fetchall()
    return [_delivery(r) for r in rows]


def replay(conn: psycopg.Connection, webhook_id: str, delivery_ids: list[int] | None) -> int:
    now = now_ms()
    if delivery_ids:
        cursor = conn.execute(
            "UPDATE webhook_deliveries SET state = 'pending', window_ms = %s, next_ms = %s "
            "WHERE webhook_id = %s AND state = 'dead' AND id = ANY(%s)",
            (now, now, webhook_id, delivery_ids))
    else:
        cursor = conn.execute(
            "UPDATE webhook_deliveries SET state = 'pending', window_ms = %s, next_ms = %s "
            "WHERE webhook_id = %s AND state = 'dead'", (now, now, webhook_id))
    return int(cursor.rowcount)


class PgOutbox:
    """The dispatcher's connection to the outbox; calls are serialised on a lock."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        self._lock = threading.Lock()

    @property
    def _live(self) -> psycopg.Connection:
        """The connection, opened again if the database dropped it (a restart)."""
        if self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
        return self._conn

    def due(self, now_ms: int, busy: set[tuple[str, str]], limit: int = 100) -> list[Delivery]:
        with self._lock, translated(), self._live.transaction():
            rows = self._conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d "
                "WHERE state = 'pending' AND next_ms <= %s AND NOT EXISTS ("
                "SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id "
                "AND e.session_id = d.session_id AND e.state = 'pending' AND e.id < d.id) "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED".encode(),
                (now_ms, limit + len(busy))).fetchall()
            found = [_delivery(r) for r in rows]
            chosen = [d for d in found if (d.webhook_id, d.session_id) not in busy][:limit]
            if chosen:
                self._conn.execute(
                    "UPDATE webhook_deliveries SET next_ms = %s WHERE id = ANY(%s)",
                    (now_ms + CLAIM_LEASE_MS, [d.id for d in chosen]))
        return chosen

    def next_due_ms(self) -> int | None:
        with self._lock, translated():
            row = self._live.execute(
                "SELECT min(next_ms) FROM webhook_deliveries WHERE state = 'pending'"
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def target(self, webhook_id: str) -> tuple[str, str] | None:
        with self._lock, translated():
            row = self._live.execute(
                "SELECT url, secret FROM webhooks WHERE id = %s", (webhook_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def record(self, delivery_id: int, *, state: str, next_ms: int, status: int | None,
               error: str | None) -> None:
        with self._lock, translated():
            self._live.execute(
                "UPDATE webhook_deliveries SET state = %s, attempts = attempts + 1, "
                "next_ms = %s, last_status = %s, last_error = %s, delivered_ms = CASE WHEN "
                "%s = 'delivered' THEN %s ELSE delivered_ms END "
                "WHERE id = %s AND state = 'pending'",
                (state, next_ms, status, error, state, now_ms(), delivery_id))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
