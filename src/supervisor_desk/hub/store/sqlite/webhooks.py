"""Webhook endpoints and their delivery outbox in SQLite (tables of schema 5).

The outbox row of a delivery is written in the same transaction as the event it tells of
(:func:`enqueue`, called by the write batch while it appends to the event log), so an event the
hub answered for is never lost to a crash before its webhook went out, and an event rolled
back never goes out. The dispatcher reads and updates the rows through :class:`SqliteOutbox`,
on a connection of its own. The SQL is ``store/webhook_sql.py``'s, shared with PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from supervisor_desk.hub.store import webhook_sql as shared
from supervisor_desk.hub.store.dialect import SQLITE
from supervisor_desk.hub.store.sqlite.faults import faults_translated
from supervisor_desk.hub.store.webhook_sql import (
    DELIVERY_COLUMNS,
    DUE_WHERE,
    listing,
    subscriptions,
)
from supervisor_desk.hub.store.webhooks import Delivery, Webhook

__all__ = ["SqliteOutbox", "add", "deliveries", "enqueue", "get", "listing", "remove", "replay",
           "subscriptions"]


def add(conn: sqlite3.Connection, url: str, events: list[str] | tuple[str, ...] | None,
        secret: str | None = None) -> Webhook:
    return shared.add(conn, SQLITE, url, events, secret)


def get(conn: sqlite3.Connection, webhook_id: str) -> Webhook | None:
    return shared.get(conn, webhook_id)


def remove(conn: sqlite3.Connection, webhook_id: str) -> bool:
    return shared.remove(conn, SQLITE, webhook_id)


def enqueue(conn: sqlite3.Connection, hooks: list[tuple[str, frozenset[str]]], *, seq: int,
            event_type: str, session_id: str, at: str, data_json: str) -> int:
    """Outbox rows for the endpoints that take ``event_type``; returns how many."""
    rows = shared.outbox_rows(hooks, seq=seq, event_type=event_type, session_id=session_id,
                              at=at, data_json=data_json)
    if rows:
        conn.executemany(shared.INSERT_OUTBOX, rows)
    return len(rows)


def deliveries(conn: sqlite3.Connection, webhook_id: str, state: str | None = None,
               limit: int = 100) -> list[Delivery]:
    return shared.deliveries(conn, SQLITE, webhook_id, state, limit)


def replay(conn: sqlite3.Connection, webhook_id: str, delivery_ids: list[int] | None) -> int:
    return shared.replay(conn, SQLITE, webhook_id, delivery_ids)


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
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE {DUE_WHERE} "
                "ORDER BY id LIMIT ?", (now_ms, limit + len(busy))).fetchall()
        found = [Delivery(*r) for r in rows]
        return [d for d in found if (d.webhook_id, d.session_id) not in busy][:limit]

    @faults_translated
    def next_due_ms(self) -> int | None:
        with self._lock:
            row = self._conn.execute(shared.NEXT_DUE).fetchone()
        return None if row is None else row[0]

    @faults_translated
    def target(self, webhook_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._conn.execute(shared.TARGET, (webhook_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    @faults_translated
    def record(self, delivery_id: int, *, state: str, next_ms: int, status: int | None,
               error: str | None) -> None:
        with self._lock:
            self._conn.execute(shared.RECORD, shared.record_params(
                delivery_id, state, next_ms, status, error))

    @faults_translated
    def close(self) -> None:
        with self._lock:
            self._conn.close()
