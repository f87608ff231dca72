"""Webhook endpoints and their delivery outbox in PostgreSQL (the rows, rules and SQL of
``store/webhook_sql.py``, shared with SQLite): deliveries are written in the transaction of the
event they tell of; the dispatcher reads and updates them through :class:`PgOutbox`.

With several replicas each runs a dispatcher; ``due`` claims rows with ``FOR UPDATE SKIP
LOCKED`` inside a short transaction that pushes their ``next_ms`` a lease ahead, so two
replicas do not send the same delivery at once (a crash after the lease only delays it).
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from supervisor_desk.hub.store import webhook_sql as shared
from supervisor_desk.hub.store.dialect import POSTGRES
from supervisor_desk.hub.store.postgres.faults import translated
from supervisor_desk.hub.store.webhook_sql import (
    DELIVERY_COLUMNS,
    DUE_WHERE,
    listing,
    outbox_rows,
    subscriptions,
)
from supervisor_desk.hub.store.webhooks import Delivery, Webhook

# A claimed delivery is not offered to another replica's dispatcher for this long.
CLAIM_LEASE_MS = 60_000
__all__ = ["PgOutbox", "add", "deliveries", "get", "insert_outbox", "listing", "outbox_rows",
           "remove", "replay", "subscriptions"]


def add(conn: psycopg.Connection, url: str, events: list[str] | tuple[str, ...] | None,
        secret: str | None = None) -> Webhook:
    return shared.add(conn, POSTGRES, url, events, secret)


def get(conn: psycopg.Connection, webhook_id: str) -> Webhook | None:
    return shared.get(conn, webhook_id)


def remove(conn: psycopg.Connection, webhook_id: str) -> bool:
    return shared.remove(conn, POSTGRES, webhook_id)


def insert_outbox(cursor: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    cursor.executemany(POSTGRES.sql(shared.INSERT_OUTBOX).encode(), rows)


def deliveries(conn: psycopg.Connection, webhook_id: str, state: str | None = None,
               limit: int = 100) -> list[Delivery]:
    return shared.deliveries(conn, POSTGRES, webhook_id, state, limit)


def replay(conn: psycopg.Connection, webhook_id: str, delivery_ids: list[int] | None) -> int:
    return shared.replay(conn, POSTGRES, webhook_id, delivery_ids)


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
            rows = POSTGRES.execute(
                self._conn, f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d "
                f"WHERE {DUE_WHERE} ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
                (now_ms, limit + len(busy))).fetchall()
            found = [Delivery(*r) for r in rows]
            chosen = [d for d in found if (d.webhook_id, d.session_id) not in busy][:limit]
            if chosen:
                self._conn.execute(
                    "UPDATE webhook_deliveries SET next_ms = %s WHERE id = ANY(%s)",
                    (now_ms + CLAIM_LEASE_MS, [d.id for d in chosen]))
        return chosen

    def next_due_ms(self) -> int | None:
        with self._lock, translated():
            row = self._live.execute(shared.NEXT_DUE).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def target(self, webhook_id: str) -> tuple[str, str] | None:
        with self._lock, translated():
            row = POSTGRES.execute(self._live, shared.TARGET, (webhook_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def record(self, delivery_id: int, *, state: str, next_ms: int, status: int | None,
               error: str | None) -> None:
        with self._lock, translated():
            POSTGRES.execute(self._live, shared.RECORD, shared.record_params(
                delivery_id, state, next_ms, status, error))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
