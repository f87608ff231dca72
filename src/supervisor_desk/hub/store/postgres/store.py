"""The hub's store on PostgreSQL: the same contract as the SQLite file, shared by replicas.

Several hub processes (replicas) use one database. What keeps them one hub:
- **One event log.** A writing transaction first takes a transaction advisory lock per
  session it touches (in one sorted order, so two writers never deadlock), reads those
  sessions, runs the reducer and writes sessions, messages and logs; only then does it lock
  the counter row (``event_counter``, ``SELECT … FOR UPDATE``), give its events their seqs
  (the reducer counted from 0), insert them and write the counter back. Writers of different
  sessions reduce side by side on every replica and queue only for the short end of the
  transaction; seqs follow commit order, and a rolled back batch returns its seqs with it (no
  hole). An event id that another session's writer stored meanwhile is found under the
  counter lock and the batch is redone with the counter held throughout. The epoch is a row
  of ``meta``.
- **One feed.** The writing transaction ends with ``pg_notify('hub_events', last seq)``, which
  PostgreSQL delivers at commit. Each replica listens on one connection
  (:mod:`~supervisor_desk.hub.store.postgres.listen`) and reads the events it has not published
  yet by seq range, the path a resuming client takes; its own commits are published straight
  away when they follow what it published last. Either way :attr:`on_commit` sees every event
  once, in seq order, with no gap; a missed notification or a dropped LISTEN connection is
  caught up from the counter.
- **Shared accounts.** Users and tokens live in the database: a token revoked through one
  replica stops working on all (open feeds re-check theirs every two seconds).

Connections: one writer connection (the hub calls writes from one thread), a pool for reads,
one for LISTEN. psycopg's errors never leave this module: a lost or refused connection is
:class:`StoreUnavailable` (503), a full disk :class:`StoreFull`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import select
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import psycopg_pool

from supervisor_desk.hub import passwords
from supervisor_desk.hub.store import accounts, reducer
from supervisor_desk.hub.store.dialect import POSTGRES
from supervisor_desk.hub.store.interface import (
    CommitListener,
    ExportRow,
    IngestOutcome,
    ParsedEvent,
    Principal,
    StoreUnavailable,
)
from supervisor_desk.hub.store.postgres import analytics as analytics_sql
from supervisor_desk.hub.store.postgres import query
from supervisor_desk.hub.store.postgres import webhooks as webhook_sql
from supervisor_desk.hub.store.postgres.faults import translated
from supervisor_desk.hub.store.postgres.files import PgFiles
from supervisor_desk.hub.store.postgres.limits import PgIngestBuckets, PgLoginThrottle
from supervisor_desk.hub.store.postgres.schema import migrate
from supervisor_desk.hub.store.reducer import SESSION_COLUMNS, DuplicateMessage, session_columns
from supervisor_desk.hub.store.tokens import new_token
from supervisor_desk.hub.store.webhooks import Delivery, Webhook
from supervisor_desk.models.analytics import AnalyticsReport, TimeRange
from supervisor_desk.models.filters import SessionFilter, SortSpec
from supervisor_desk.models.wire import ROLES

if TYPE_CHECKING:
    from supervisor_desk.hub.service import HubService

log = logging.getLogger(__name__)
T = TypeVar("T")

NOTIFY_CHANNEL = "hub_events"
_POOL_WAIT_S = 3.0
# First key of the advisory locks that make a role single across replicas (the simulator).
SINGLE_WRITER_LOCKS = 0x5D_4D17
# First key of the transaction advisory locks of sessions (the second: a hash of the id).
SESSION_LOCKS = 0x5D_4D18
SESSION_LOCK_KEYS = 1024
_REPLAY_ROWS = 2000

# A batch writes each table with one statement over arrays (``unnest``), not a statement per
# row: the rows' values go as one binary array per column (no text quoting in Python), and
# PostgreSQL parses, plans and runs one statement instead of a hundred.
_SESSION_TYPES = {"started_ms": "bigint", "queued_ms": "bigint", "accepted_ms": "bigint",
                  "ended_ms": "bigint", "last_ms": "bigint", "message_count": "int",
                  "has_attachments": "int", "version": "int"}
_SESSION_ARRAYS = ", ".join(f"%b::{_SESSION_TYPES.get(c, 'text')}[]" for c in SESSION_COLUMNS)
_INSERT_SESSIONS = (
    f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) SELECT * FROM unnest({_SESSION_ARRAYS})"
).encode()
_UPDATE_SESSIONS = (
    "UPDATE sessions SET "
    + ", ".join(f"{c} = u.{c}" for c in SESSION_COLUMNS[1:])
    + f" FROM unnest({_SESSION_ARRAYS}) AS u ({', '.join(SESSION_COLUMNS)})"
    + " WHERE sessions.id = u.id"
).encode()
# A message's words (letters and digits only) joined by spaces: one text per row.
_INSERT_MESSAGES = (
    b"INSERT INTO messages (session_id, seq, id, doc, words) "
    b"SELECT s, q, i, d, array_to_tsvector(string_to_array(w, ' ')) "
    b"FROM unnest(%b::text[], %b::int[], %b::text[], %b::text[], %b::text[]) AS u (s, q, i, d, w)"
)
_INSERT_LOGS = (b"INSERT INTO logs (session_id, kind, doc) "
                b"SELECT * FROM unnest(%b::text[], %b::text[], %b::text[])")
_APPEND_EVENTS = (b"WITH appended AS (INSERT INTO events (seq, id, session_id, body, content_hash) "
                  b"SELECT * FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::text[], "
                  b"%b::bytea[])) "
                  b"UPDATE event_counter SET seq = %s WHERE id = 1 RETURNING pg_notify(%s, %s)")


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows as one list per column (the arrays ``unnest`` turns back into rows)."""
    return [list(column) for column in zip(*rows, strict=True)]


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class PgBatch:
    """One write transaction as the reducer's ``WriteBatch``. Reads are batched (the batch's
    sessions in one query, a session's message ids once) and every write waits for
    :meth:`flush_documents` (sessions, messages, logs) or :meth:`write_events` (events and
    webhook deliveries): one statement per table over arrays of the rows' values, so a batch
    costs a handful of statements and round trips, not one per event.

    ``seq`` counts from ``start``, not from the log's counter: the events' seqs are only known
    under the counter lock, taken after the reducer ran, and :meth:`write_events` adds that
    base. ``pending`` holds the ids and hashes of events of earlier batches of the same
    transaction, not inserted yet."""

    def __init__(self, conn: psycopg.Connection, start: int = 0,
                 pending: dict[str, bytes | None] | None = None,
                 hooks: list[tuple[str, frozenset[str]]] | None = None) -> None:
        self.conn = conn
        self.seq = start
        self._pending = pending if pending is not None else {}
        self.sessions: dict[str, dict[str, Any] | None] = {}
        self.dirty: set[str] = set()
        self.created: set[str] = set()
        self.new_events: list[tuple[int, str]] = []
        self._event_rows: list[tuple[Any, ...]] = []
        self._log_rows: list[tuple[str, str, str]] = []
        self._outbox: list[tuple[int, str, str, str, str]] = []
        # The webhook endpoints, read once per transaction (handed from batch to batch).
        self.hooks = hooks
        self._messages: dict[tuple[str, str], list[Any]] = {}
        self._ids_by_session: dict[str, set[str]] = {}

    def known_events(self, ids: Sequence[str]) -> dict[str, bytes | None]:
        rows = self.conn.execute(
            "SELECT id, content_hash FROM events WHERE id = ANY(%s)", (list(ids),)).fetchall()
        known = {row[0]: (bytes(row[1]) if row[1] is not None else None) for row in rows}
        if self._pending:
            known.update((i, self._pending[i]) for i in ids if i in self._pending)
        return known

    def event_hashes(self) -> dict[str, bytes | None]:
        """The ids and content hashes of the events this batch appends."""
        return {row[1]: row[4] for row in self._event_rows}

    def prefetch_sessions(self, session_ids: Sequence[str]) -> None:
        """Load the documents of a batch's sessions in one round trip (absent ones: None)."""
        wanted = [s for s in dict.fromkeys(session_ids) if s not in self.sessions]
        if not wanted:
            return
        found: dict[str, str] = dict(self.conn.execute(
            "SELECT id, doc FROM sessions WHERE id = ANY(%s)", (wanted,)).fetchall())
        for session_id in wanted:
            doc = found.get(session_id)
            self.sessions[session_id] = json.loads(doc) if doc is not None else None

    def session(self, session_id: str) -> dict[str, Any] | None:
        if session_id not in self.sessions:
            self.prefetch_sessions([session_id])
        return self.sessions[session_id]

    def session_started(self, doc: dict[str, Any]) -> None:
        self.sessions[doc["id"]] = doc
        self.dirty.add(doc["id"])
        self.created.add(doc["id"])

    def session_changed(self, session_id: str) -> None:
        self.dirty.add(session_id)

    def _message_ids(self, session_id: str) -> set[str]:
        """Ids of the session's messages: stored ones (read once per batch; none for a
        session started in this batch) and this batch's."""
        ids = self._ids_by_session.get(session_id)
        if ids is None:
            ids = set() if session_id in self.created else {row[0] for row in self.conn.execute(
                "SELECT id FROM messages WHERE session_id = %s", (session_id,))}
            self._ids_by_session[session_id] = ids
        return ids

    def add_message(self, session_id: str, seq: int, message_id: str, message_json: str,
                    text: str | None) -> None:
        ids = self._message_ids(session_id)
        if message_id in ids:
            raise DuplicateMessage(message_id)
        ids.add(message_id)
        # Written at flush, in one executemany with the batch's other messages.
        words = query.words_vector(text)
        self._messages[(session_id, message_id)] = [
            session_id, seq, message_id, message_json, " ".join(words) if words else None]

    def message(self, session_id: str, message_id: str) -> str | None:
        pending = self._messages.get((session_id, message_id))
        if pending is not None:
            return str(pending[3])
        row = self.conn.execute(
            "SELECT doc FROM messages WHERE session_id = %s AND id = %s",
            (session_id, message_id)).fetchone()
        return row[0] if row else None

    def replace_message(self, session_id: str, message_id: str, message_json: str) -> None:
        pending = self._messages.get((session_id, message_id))
        if pending is not None:
            pending[3] = message_json
            return
        self.conn.execute(
            "UPDATE messages SET doc = %s WHERE session_id = %s AND id = %s",
            (message_json, session_id, message_id))

    def add_logs(self, session_id: str, kind: str, entries_json: Sequence[str]) -> None:
        self._log_rows.extend((session_id, kind, entry) for entry in entries_json)

    def add_event(self, seq: int, event_id: str, session_id: str, body: str,
                  digest: bytes | None) -> None:
        self._event_rows.append((seq, event_id, session_id, body, digest))
        self.new_events.append((seq, body))

    def outbox(self, seq: int, kind: str, session_id: str, at: str, data_json: str) -> None:
        if self.hooks is None:
            self.hooks = webhook_sql.subscriptions(self.conn)
        if self.hooks:
            # The deliveries name the seq: built by write_events, once the seq is known.
            self._outbox.append((seq, kind, session_id, at, data_json))

    def flush_documents(self) -> None:
        """Write the sessions, messages and logs changed so far (no counter lock needed: the
        caller holds the sessions' locks)."""
        cursor = self.conn.cursor()
        created = [session_columns(self.sessions[s] or {}) for s in self.dirty
                   if s in self.created]
        changed = [session_columns(self.sessions[s] or {}) for s in self.dirty
                   if s not in self.created]
        if created:
            cursor.execute(_INSERT_SESSIONS, _columns(created))
        if changed:
            cursor.execute(_UPDATE_SESSIONS, _columns(changed))
        if self._messages:
            cursor.execute(_INSERT_MESSAGES, _columns(list(self._messages.values())))
        if self._log_rows:
            cursor.execute(_INSERT_LOGS, _columns(self._log_rows))
        self.dirty.clear()
        self.created.clear()
        self._log_rows.clear()
        self._messages.clear()

    def write_events(self, base: int, rows: list[tuple[Any, ...]]
                     ) -> tuple[list[tuple[int, str]], int]:
        """Add the appended events to ``rows`` with ``base`` added to their seqs (the caller
        inserts the rows of every batch with :func:`_append_events`) and write their webhook
        deliveries (called under the counter lock); returns the events as ``(seq, body)``
        and how many deliveries were written."""
        cursor = self.conn.cursor()
        rows.extend((seq + base, *rest) for seq, *rest in self._event_rows)
        outbox_rows: list[tuple[Any, ...]] = []
        for seq, kind, session_id, at, data_json in self._outbox:
            outbox_rows.extend(webhook_sql.outbox_rows(
                self.hooks or [], seq=seq + base, event_type=kind, session_id=session_id,
                at=at, data_json=data_json))
        if outbox_rows:
            webhook_sql.insert_outbox(cursor, outbox_rows)
        written = [(seq + base, body) for seq, body in self.new_events]
        self._event_rows.clear()
        self._outbox.clear()
        self.new_events.clear()
        return written, len(outbox_rows)


class PostgresStore:
    """The :class:`~supervisor_desk.hub.store.interface.HubStore` on a PostgreSQL database.

    ``files_dir`` is where this replica keeps local files (the blob store beside it); with
    several replicas it is a shared folder (see docs/deploy.md).
    """

    def __init__(self, dsn: str, *, files_dir: Path | str | None = None,
                 on_commit: CommitListener | None = None, pool_size: int = 8,
                 listen: bool = True, connect_timeout: int = 10) -> None:
        self.dsn = dsn
        # The blob folder (hub/files.py): one folder shared by every replica; the files'
        # rows and the transcription jobs are in the database (store/postgres/files.py).
        self._path = Path(files_dir) if files_dir else Path.cwd() / "hub-files"
        self.on_outbox: Callable[[], None] | None = None
        self._write_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._closed = False
        self._connect_timeout = connect_timeout
        self._on_commit: CommitListener | None = None
        self._w: psycopg.Connection | None = None
        self._claims: list[psycopg.Connection] = []
        with translated():
            with psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout) as conn:
                migrate(conn)
                row = conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
                counter = conn.execute("SELECT seq FROM event_counter").fetchone()
            assert row is not None and counter is not None
            self._epoch: str = row[0]
            self._published: int = int(counter[0])
            self._pool = psycopg_pool.ConnectionPool(
                # A read waits at most this long for a connection: while the database is
                # away the API answers 503 in seconds instead of hanging.
                dsn, min_size=1, max_size=pool_size, open=True, timeout=_POOL_WAIT_S,
                kwargs={"autocommit": True, "connect_timeout": connect_timeout},
                check=_check_pooled, name="hub-read")
        self._listener: Any = None
        self._listen = listen
        self.on_commit = on_commit

    # ----------------------------------------------------------------------------------------
    # Identity, lifecycle, publishing

    @property
    def path(self) -> Path:
        return self._path

    @property
    def blob_dir(self) -> Path:
        return self._path / "blobs"

    def open_files(self) -> PgFiles:
        self._check_open()
        return PgFiles(self.dsn, self._connect_timeout)

    @property
    def epoch(self) -> str:
        return self._epoch

    @property
    def last_seq(self) -> int:
        """The newest seq this replica has published (handed to :attr:`on_commit`)."""
        return self._published

    @property
    def on_commit(self) -> CommitListener | None:
        return self._on_commit

    @on_commit.setter
    def on_commit(self, listener: CommitListener | None) -> None:
        with self._publish_lock:
            self._on_commit = listener
        if listener is not None and self._listen and self._listener is None and not self._closed:
            from supervisor_desk.hub.store.postgres.listen import EventListener

            self._listener = EventListener(self)
            self._listener.start()

    def claim_single_writer(self, role: str) -> bool:
        """Hold ``role`` (e.g. ``simulator``) for this process's life, if no other replica
        holds it: a session advisory lock on a connection kept open until :meth:`close` (or
        until this process dies, when PostgreSQL frees it)."""
        with translated():
            conn = psycopg.connect(self.dsn, autocommit=True,
                                   connect_timeout=self._connect_timeout)
            row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                               (SINGLE_WRITER_LOCKS, role)).fetchone()
        if not row or not row[0]:
            conn.close()
            return False
        self._claims.append(conn)
        return True

    def share_limits(self, service: HubService) -> None:
        """Count the service's sign-in failures and ingest buckets in this database, so the
        limits hold across every replica."""
        service.throttle = PgLoginThrottle(self._reading)
        service.ingest_limit.share(PgIngestBuckets(self._reading))

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
        for claim in self._claims:
            with contextlib.suppress(Exception):
                claim.close()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        with contextlib.suppress(Exception):
            self._pool.close()
        if self._w is not None:
            with contextlib.suppress(Exception):
                self._w.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("unavailable", "the hub is shutting down; retry in a moment")

    def catch_up(self, upto: int | None = None,
                 conn: psycopg.Connection | None = None) -> int:
        """Publish every committed event not yet published, in seq order, at least up to
        ``upto`` (default: the counter); returns the last published seq. Called by the
        listener, with a connection of its own (``conn``; else one of the read pool).

        It reads every committed event past the last published one, not only up to ``upto``:
        seqs are given out under the counter row's lock, held until commit, so what is
        committed is always a gap-free prefix of the log. Notifications queued behind the one
        that caused the read then find their events published already and cost no query."""
        if conn is None:
            with self._reading() as pooled:
                return self.catch_up(upto, pooled)
        with self._publish_lock, translated():
            if upto is None:
                row = conn.execute("SELECT seq FROM event_counter").fetchone()
                upto = int(row[0]) if row else 0
            while self._published < upto:
                rows = [(int(seq), body) for seq, body in conn.execute(
                    "SELECT seq, body FROM events WHERE seq > %s ORDER BY seq LIMIT %s",
                    (self._published, _REPLAY_ROWS))]
                if not rows:
                    break
                self._deliver(rows)
            return self._published

    def wake_listeners(self) -> None:
        """Notify without a seq: every listener looks at the counter (best effort)."""
        with contextlib.suppress(Exception), self._pool.connection(timeout=1) as conn:
            conn.execute("SELECT pg_notify(%s, 'wake')", (NOTIFY_CHANNEL,))

    def _publish_own(self, events: list[tuple[int, str]]) -> None:
        """After a local commit: publish its events (reading any other replica's commit
        before them first, so the order stays seq order)."""
        if not events:
            return
        with self._publish_lock:
            if events[0][0] == self._published + 1:
                self._deliver(events)
                return
        # Someone else committed in between: read the range (ours included) from the log.
        with contextlib.suppress(StoreUnavailable):
            self.catch_up(events[-1][0])

    def _deliver(self, events: list[tuple[int, str]]) -> None:
        fresh = [e for e in events if e[0] > self._published]
        if not fresh:
            return
        self._published = fresh[-1][0]
        listener = self._on_commit
        if listener is not None:
            listener(fresh)

    # ----------------------------------------------------------------------------------------
    # Connections

    @contextlib.contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        self._check_open()
        with translated(), self._pool.connection() as conn:
            yield conn

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection]:
        """A read-only REPEATABLE READ transaction: every statement sees one moment."""
        with self._reading() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    def _writer(self) -> psycopg.Connection:
        conn = self._w
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._w = None
            conn = psycopg.connect(self.dsn, autocommit=True,
                                   connect_timeout=self._connect_timeout)
            self._w = conn
        return conn

    # ----------------------------------------------------------------------------------------
    # Reads

    def live_snapshot(self) -> tuple[int, list[str]]:
        with self._snapshot() as conn:
            row = conn.execute("SELECT seq FROM event_counter").fetchone()
            docs = [r[0] for r in conn.execute(
                "SELECT doc FROM sessions WHERE status IN ('queued', 'active') "
                "ORDER BY started_ms, id")]
        return (int(row[0]) if row else 0), docs

    def session_page(
        self, flt: SessionFilter, sort: SortSpec, offset: int, limit: int, now_ms: int
    ) -> tuple[int, list[str]]:
        with self._snapshot() as conn:
            return query.page(conn, flt, sort, offset, limit, now_ms)

    def metrics(self, flt: SessionFilter, now_ms: int) -> dict[str, Any]:
        with self._snapshot() as conn:
            return query.metrics(conn, flt, now_ms)

    def export_rows(
        self, flt: SessionFilter, sort: SortSpec, now_ms: int, chunk: int = 200
    ) -> Iterator[list[ExportRow]]:
        # A connection of its own for the stream's whole read snapshot.
        with translated():
            self._check_open()
            conn = psycopg.connect(self.dsn, connect_timeout=self._connect_timeout)
        try:
            with translated():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            rows = query.export_rows(conn, flt, sort, now_ms, chunk)
            try:
                while True:
                    with translated():
                        found = next(rows, None)
                    if found is None:
                        return
                    yield found
            finally:
                rows.close()  # type: ignore[attr-defined]
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
            conn.close()

    def analytics_report(
        self, flt: SessionFilter, time_range: TimeRange, now_ms: int, sla_seconds: int
    ) -> AnalyticsReport:
        with self._snapshot() as conn:
            return analytics_sql.analytics(conn, flt, time_range, now_ms, sla_seconds)

    def first_seq(self) -> int:
        with self._reading() as conn:
            row = conn.execute("SELECT min(seq) FROM events").fetchone()
        return int(row[0]) if row and row[0] is not None else self._published + 1

    def events_between(self, after: int, upto: int, limit: int = 2000) -> list[tuple[int, str]]:
        with self._reading() as conn:
            return [(int(s), b) for s, b in conn.execute(
                "SELECT seq, body FROM events WHERE seq > %s AND seq <= %s ORDER BY seq "
                "LIMIT %s", (after, upto, limit))]

    def session_doc(self, session_id: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute("SELECT doc FROM sessions WHERE id = %s", (session_id,)).fetchone()
        return row[0] if row else None

    def session_detail(self, session_id: str) -> tuple[str, list[str]] | None:
        with self._snapshot() as conn:
            row = conn.execute("SELECT doc FROM sessions WHERE id = %s", (session_id,)).fetchone()
            if row is None:
                return None
            messages = [r[0] for r in conn.execute(
                "SELECT doc FROM messages WHERE session_id = %s ORDER BY seq", (session_id,))]
        return row[0], messages

    def session_logs(self, session_id: str, kind: str) -> list[str] | None:
        with self._snapshot() as conn:
            if conn.execute("SELECT 1 FROM sessions WHERE id = %s", (session_id,)).fetchone() \
                    is None:
                return None
            return [r[0] for r in conn.execute(
                "SELECT doc FROM logs WHERE session_id = %s AND kind = %s ORDER BY row_id",
                (session_id, kind))]

    def agents(self) -> list[tuple[str, str]]:
        # SQLite's NOCASE folds ASCII letters only: the same order here.
        with self._reading() as conn:
            rows = [(r[0], r[1]) for r in conn.execute(
                "SELECT DISTINCT ON (agent_id) agent_id, agent_name FROM sessions "
                "ORDER BY agent_id, started_ms DESC")]
        return sorted(rows, key=lambda r: (_nocase(r[1]), r[0]))

    def operators(self) -> list[tuple[str, str]]:
        with self._reading() as conn:
            rows = [(r[0], r[1]) for r in conn.execute(
                "SELECT operator_id, max(operator_name) FROM sessions "
                "WHERE operator_id IS NOT NULL GROUP BY operator_id")]
        return sorted(rows, key=lambda r: (_nocase(r[1] or ""), r[0]))

    # ----------------------------------------------------------------------------------------
    # Accounts

    def principal(self, token: str, now: datetime | None = None) -> Principal | None:
        with self._reading() as conn:
            return accounts.principal(conn, POSTGRES, token, now)

    def check_password(self, name: str, password: str) -> tuple[str, str, str] | None:
        with self._reading() as conn:
            row = accounts.password_row(conn, POSTGRES, name)
        if row is None:
            passwords.verify_absent(password)
            return None
        user_id, user_name, role, salt, stored = row
        ok, upgraded = accounts.sign_in(password, salt, stored)
        if not ok:
            return None
        if upgraded is not None:
            self._write(lambda conn: accounts.store_rehash(conn, POSTGRES, user_id, stored,
                                                           *upgraded))
        return user_id, user_name, role

    def add_user(self, name: str, role: str, password: str) -> str:
        accounts.check_new_user(name, role, password)
        salt, digest = passwords.hash_password(password)
        return self._write(lambda conn: accounts.save_user(conn, POSTGRES, name, role, salt,
                                                           digest))

    def create_token(
        self, label: str, role: str, *, user_id: str | None = None,
        ttl: timedelta | None = None,
    ) -> tuple[str, datetime | None]:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        token = new_token()
        now = datetime.now(UTC)
        expires = now + ttl if ttl else None
        self._write(lambda conn: accounts.insert_token(conn, POSTGRES, token, label, role,
                                                       user_id, now, expires))
        return token, expires

    def revoke_token(self, token_hash: str) -> None:
        self._write(lambda conn: accounts.delete_token(conn, POSTGRES, token_hash))

    def revoke_tokens(self, *, user: str | None = None, label: str | None = None) -> int | None:
        return self._write(lambda conn: accounts.delete_tokens(conn, POSTGRES, user=user,
                                                               label=label))

    # ----------------------------------------------------------------------------------------
    # Writes

    def _write(self, work: Callable[[psycopg.Connection], T]) -> T:
        with self._write_lock, translated():
            self._check_open()
            conn = self._writer()
            with conn.transaction():
                return work(conn)

    def _transaction(self, session_id: str, work: Callable[[PgBatch], T]) -> T:
        """``work`` on ``session_id`` in one write transaction that may append events
        (handover, edits): the session's lock, then the counter's, for the whole of it."""
        with self._write_lock, translated():
            self._check_open()
            conn = self._writer()
            with conn.transaction():
                _lock_sessions(conn, [session_id])
                base = self._lock_counter(conn)
                batch = PgBatch(conn)
                result = work(batch)
                batch.flush_documents()
                rows: list[tuple[Any, ...]] = []
                new_events, outboxed = batch.write_events(base, rows)
                _append_events(conn, rows, base + batch.seq)
        self._publish_own(new_events)
        if outboxed:
            self._outbox_written()
        return result

    @staticmethod
    def _lock_counter(conn: psycopg.Connection) -> int:
        # Writers of every replica queue here, in commit order: the seqs follow it.
        row = conn.execute("SELECT seq FROM event_counter WHERE id = 1 FOR UPDATE").fetchone()
        assert row is not None
        return int(row[0])

    def ingest(self, events: Sequence[ParsedEvent]) -> IngestOutcome:
        (result,) = self.ingest_many([events])
        if isinstance(result, Exception):
            raise result
        return result

    def ingest_many(
        self, batches: Sequence[Sequence[ParsedEvent]]
    ) -> list[IngestOutcome | Exception]:
        """Several batches in one durable commit, each atomic (a savepoint)."""
        with self._write_lock, translated():
            self._check_open()
            try:
                results, new_events, outboxed = self._ingest_transaction(batches, serial=False)
            except _EventIdTaken:
                results, new_events, outboxed = self._ingest_transaction(batches, serial=True)
        self._publish_own(new_events)
        if outboxed:
            self._outbox_written()
        return results

    def _ingest_transaction(
        self, batches: Sequence[Sequence[ParsedEvent]], *, serial: bool
    ) -> tuple[list[IngestOutcome | Exception], list[tuple[int, str]], int]:
        """The batches in one transaction: the sessions' locks, the reducer and the documents'
        writes, then the counter's lock, the events and the commit. ``serial`` takes the
        counter's lock before the reducer runs (the way back when an event id was taken
        meanwhile: then no other writer can store one)."""
        conn = self._writer()
        done: list[tuple[PgBatch, IngestOutcome]] = []
        results: list[IngestOutcome | Exception] = []
        pending: dict[str, bytes | None] = {}
        hooks: list[tuple[str, frozenset[str]]] | None = None
        with conn.transaction():
            _lock_sessions(conn, [event.session_id for events in batches
                                  for event, _ in events])
            base = self._lock_counter(conn) if serial else None
            seq = 0
            for events in batches:
                batch = PgBatch(conn, seq, pending, hooks)
                try:
                    with conn.transaction():  # a savepoint: this batch alone
                        batch.prefetch_sessions([event.session_id for event, _ in events])
                        outcome = reducer.ingest_batch(batch, events)
                        batch.flush_documents()
                except psycopg.Error:
                    raise  # the connection or the database: nobody's batch is stored
                except Exception as failed:
                    results.append(failed)
                    continue
                seq = batch.seq
                hooks = batch.hooks
                pending.update(batch.event_hashes())
                done.append((batch, outcome))
                results.append(outcome)
            if base is None:
                base = self._lock_counter(conn)
                if pending and conn.execute(
                        "SELECT 1 FROM events WHERE id = ANY(%s) LIMIT 1",
                        (list(pending),)).fetchone():
                    # Stored by a writer of other sessions since the reducer looked: redo
                    # (this transaction rolls back) with the counter held throughout.
                    raise _EventIdTaken
            new_events: list[tuple[int, str]] = []
            rows: list[tuple[Any, ...]] = []
            outboxed = 0
            for batch, _outcome in done:
                written, delivered = batch.write_events(base, rows)
                new_events.extend(written)
                outboxed += delivered
            _append_events(conn, rows, base + seq)
        rebased = iter(dataclasses.replace(outcome, last_seq=outcome.last_seq + base)
                       for _batch, outcome in done)
        return ([next(rebased) if isinstance(r, IngestOutcome) else r for r in results],
                new_events, outboxed)

    def _outbox_written(self) -> None:
        listener = self.on_outbox
        if listener is not None:
            listener()

    def handover(
        self, session_id: str, operator: dict[str, str] | None, by: dict[str, str]
    ) -> str:
        return self._transaction(
            session_id, lambda batch: reducer.handover(batch, session_id, operator, by))

    def update_contact(self, session_id: str, changes: dict[str, str], by: dict[str, str]
                       ) -> str:
        return self._transaction(
            session_id, lambda batch: reducer.update_contact(batch, session_id, changes, by))

    # ----------------------------------------------------------------------------------------
    # Webhook endpoints

    def add_webhook(self, url: str, events: Sequence[str] | None,
                    secret: str | None = None) -> Webhook:
        return self._write(lambda conn: webhook_sql.add(conn, url, tuple(events or ()), secret))

    def webhooks(self) -> list[Webhook]:
        with self._reading() as conn:
            return webhook_sql.listing(conn)

    def webhook(self, webhook_id: str) -> Webhook | None:
        with self._reading() as conn:
            return webhook_sql.get(conn, webhook_id)

    def remove_webhook(self, webhook_id: str) -> bool:
        return self._write(lambda conn: webhook_sql.remove(conn, webhook_id))

    def webhook_deliveries(self, webhook_id: str, state: str | None = None,
                           limit: int = 100) -> list[Delivery]:
        with self._reading() as conn:
            return webhook_sql.deliveries(conn, webhook_id, state, limit)

    def replay_webhook(self, webhook_id: str, delivery_ids: Sequence[int] | None = None) -> int:
        count = self._write(
            lambda conn: webhook_sql.replay(conn, webhook_id, list(delivery_ids or ())))
        if count:
            self._outbox_written()
        return count

    def open_outbox(self) -> webhook_sql.PgOutbox:
        with translated():
            return webhook_sql.PgOutbox(self.dsn)


class _EventIdTaken(Exception):  # noqa: N818 - internal signal: redo the transaction serially
    pass


def _append_events(conn: psycopg.Connection, rows: list[tuple[Any, ...]], last_seq: int) -> None:
    """Insert the transaction's events, move the counter to ``last_seq`` and notify every
    listener (PostgreSQL delivers it when, and only if, the transaction commits): one
    statement, one round trip, while the counter row is held."""
    if rows:
        conn.execute(_APPEND_EVENTS, [*_columns(rows), last_seq, NOTIFY_CHANNEL, str(last_seq)])


def _lock_sessions(conn: psycopg.Connection, session_ids: Sequence[str]) -> None:
    """Take the transaction's advisory lock of each session, in one order for every writer
    (sorted keys) so two writers never wait for each other in a cycle; held until commit."""
    keys = sorted({_session_key(s) for s in session_ids})
    if keys:
        conn.execute("SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int[]) AS k",
                     (SESSION_LOCKS, keys))


def _session_key(session_id: str) -> int:
    # One of SESSION_LOCK_KEYS stable keys: a batch of a thousand sessions holds at most that
    # many locks (PostgreSQL's lock table is sized in tens per connection); two sessions that
    # share a key only wait for each other.
    digest = hashlib.blake2b(session_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % SESSION_LOCK_KEYS


def _check_pooled(conn: psycopg.Connection) -> None:
    """The read pool's check of a connection it hands out. A connection whose server went away
    (restart, crash, a killed backend) has something to read: the server's last message or
    the end of the stream; an idle healthy one has nothing. Only then is the round trip of
    psycopg's full check (``SELECT 1``) paid, not at every checkout: every ingest request
    takes two (its token and its rate bucket)."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    probe = select.poll()
    probe.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if probe.poll(0) or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        psycopg_pool.ConnectionPool.check_connection(conn)


def _nocase(text: str) -> str:
    """SQLite's NOCASE: ASCII letters folded, nothing else."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
