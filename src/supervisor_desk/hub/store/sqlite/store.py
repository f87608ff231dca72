"""The hub's store in one SQLite file: sessions, messages, logs, the event log, users, tokens.

Writes go through one connection under one lock (the hub calls them from a single writer
thread), so ``seq`` is gap-free and every state change is committed in the same transaction as
its event-log entry. Reads use one connection per reader thread; WAL gives each read
transaction a consistent snapshot while the writer goes on.

Durability: WAL with ``synchronous=FULL`` syncs the log on every commit, so an ingest answered
200 survives ``kill -9`` and power loss.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from supervisor_desk.hub import passwords
from supervisor_desk.hub.store import accounts, reducer
from supervisor_desk.hub.store.dialect import SQLITE
from supervisor_desk.hub.store.interface import (
    CommitListener,
    ExportRow,
    IngestOutcome,
    ParsedEvent,
    Principal,
    StoreUnavailable,
)
from supervisor_desk.hub.store.reducer import SESSION_COLUMNS, DuplicateMessage, session_columns
from supervisor_desk.hub.store.sqlite import analytics as analytics_sql
from supervisor_desk.hub.store.sqlite import query
from supervisor_desk.hub.store.sqlite import webhooks as webhook_sql
from supervisor_desk.hub.store.sqlite.faults import faults_translated, store_fault, translated
from supervisor_desk.hub.store.sqlite.files import SqliteFiles
from supervisor_desk.hub.store.sqlite.schema import migrate
from supervisor_desk.hub.store.sqlite.webhooks import SqliteOutbox
from supervisor_desk.hub.store.tokens import new_token
from supervisor_desk.hub.store.webhooks import Delivery, Webhook
from supervisor_desk.models.analytics import AnalyticsReport, TimeRange
from supervisor_desk.models.filters import SessionFilter, SortSpec
from supervisor_desk.models.wire import ROLES

T = TypeVar("T")

_UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{c} = ?" for c in SESSION_COLUMNS[1:])
    + " WHERE id = ?"
)


def _private_file(path: Path) -> None:
    """Make ``path`` a file only its owner can read (0600), in a 0700 directory if we create one.

    The database holds transcripts, contact details and password hashes. SQLite gives the
    -wal and -shm files the mode of the database file, so those follow. An existing directory
    (the current one, /var/lib/...) keeps its mode: it is not ours to change.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o600))
    for item in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        # Missing, or someone else's file (a read-only copy): SQLite says what it can do.
        with contextlib.suppress(OSError):
            if item.stat().st_mode & 0o077:
                item.chmod(0o600)  # a file from an older hub: tighten it


class NeedsCarefulRun(Exception):  # noqa: N818 - a signal inside the store
    """A buffered insert hit a constraint at :meth:`SqliteBatch.flush`: run the batch again,
    statement by statement, so the event at fault is named."""


_INSERT_MESSAGE = "INSERT INTO messages (rowid, session_id, seq, id, doc) VALUES (?, ?, ?, ?, ?)"
_INSERT_SESSION_ROW = (
    f"INSERT INTO sessions (rowid, {', '.join(SESSION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (len(SESSION_COLUMNS) + 1))})"
)


@dataclass(frozen=True, slots=True)
class NextIds:
    """What the next write gives out: the event seq after ``seq`` and the first free rowids
    of messages and sessions (one writer: the store's own counters stay exact)."""

    seq: int
    message: int
    session: int


class SqliteBatch:
    """One write transaction as the reducer's :class:`~supervisor_desk.hub.store.reducer.
    WriteBatch`.

    Fast (the default): rows are buffered and written at :meth:`flush` with one
    ``executemany`` per table — messages, their full-text rows, events, logs, sessions — and
    message rowids are given out here (the store has the only writer), so a message's FTS and
    session-map rows need no ``lastrowid`` round trip. A message id reused within the batch is
    found in the buffer; one reused from an earlier batch only shows as a UNIQUE violation at
    flush, which raises :class:`NeedsCarefulRun`: the store rolls the batch back and runs it
    again ``careful``, inserting each message at once, so the refusal names its event.
    """

    def __init__(self, conn: sqlite3.Connection, start: NextIds, *,
                 careful: bool = False) -> None:
        self.conn = conn
        self.seq = start.seq
        self.next_rowid = start.message
        self.next_session_rowid = start.session
        self.session_rowids: dict[str, int] = {}
        self.careful = careful
        self.sessions: dict[str, dict[str, Any] | None] = {}
        self.dirty: set[str] = set()
        self.created: set[str] = set()
        self.new_events: list[tuple[int, str]] = []
        self.hooks: list[tuple[str, frozenset[str]]] | None = None  # read once per batch
        self.outboxed = 0  # webhook deliveries written in this transaction
        self._messages: list[tuple[int, str, int, str, str]] = []
        self._buffered: dict[tuple[str, str], int] = {}  # (session, message id) -> index
        self._texts: list[tuple[int, str]] = []
        self._text_sessions: list[tuple[int, int]] = []
        self._logs: list[tuple[str, str, str]] = []
        self._events: list[tuple[int, str, str, str, bytes | None]] = []

    def known_events(self, ids: Sequence[str]) -> dict[str, bytes | None]:
        known: dict[str, bytes | None] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            known.update(
                self.conn.execute(
                    "SELECT id, content_hash FROM events "
                    f"WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return known

    def session(self, session_id: str) -> dict[str, Any] | None:
        if session_id not in self.sessions:
            row = self.conn.execute(
                "SELECT rowid, doc FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None:
                self.sessions[session_id] = None
            else:
                self.session_rowids[session_id] = row[0]
                self.sessions[session_id] = json.loads(row[1])
        return self.sessions[session_id]

    def session_started(self, doc: dict[str, Any]) -> None:
        self.session_rowids[doc["id"]] = self.next_session_rowid
        self.next_session_rowid += 1
        self.sessions[doc["id"]] = doc
        self.dirty.add(doc["id"])
        self.created.add(doc["id"])

    def session_changed(self, session_id: str) -> None:
        self.dirty.add(session_id)

    def add_message(self, session_id: str, seq: int, message_id: str, message_json: str,
                    text: str | None) -> None:
        key = (session_id, message_id)
        if key in self._buffered:
            raise DuplicateMessage(message_id)
        if self.careful:
            try:
                # UNIQUE (session_id, id) finds a reused message id without a lookup.
                rowid = self.conn.execute(
                    "INSERT INTO messages (session_id, seq, id, doc) VALUES (?, ?, ?, ?)",
                    (session_id, seq, message_id, message_json),
                ).lastrowid
            except sqlite3.IntegrityError:
                raise DuplicateMessage(message_id) from None
            assert rowid is not None
            self.next_rowid = max(self.next_rowid, rowid + 1)
        else:
            rowid = self.next_rowid
            self.next_rowid += 1
            self._buffered[key] = len(self._messages)
            self._messages.append((rowid, session_id, seq, message_id, message_json))
        if text:
            self._texts.append((rowid, text))
            self._text_sessions.append((rowid, self.session_rowids[session_id]))

    def message(self, session_id: str, message_id: str) -> str | None:
        index = self._buffered.get((session_id, message_id))
        if index is not None:
            return self._messages[index][4]
        row = self.conn.execute(
            "SELECT doc FROM messages WHERE session_id = ? AND id = ?", (session_id, message_id)
        ).fetchone()
        return row[0] if row else None

    def replace_message(self, session_id: str, message_id: str, message_json: str) -> None:
        index = self._buffered.get((session_id, message_id))
        if index is not None:
            rowid, sid, seq, mid, _ = self._messages[index]
            self._messages[index] = (rowid, sid, seq, mid, message_json)
            return
        self.conn.execute(
            "UPDATE messages SET doc = ? WHERE session_id = ? AND id = ?",
            (message_json, session_id, message_id),
        )

    def add_logs(self, session_id: str, kind: str, entries_json: Sequence[str]) -> None:
        self._logs.extend((session_id, kind, entry) for entry in entries_json)

    def add_event(self, seq: int, event_id: str, session_id: str, body: str,
                  digest: bytes | None) -> None:
        self._events.append((seq, event_id, session_id, body, digest))
        self.new_events.append((seq, body))

    def outbox(self, seq: int, kind: str, session_id: str, at: str, data_json: str) -> None:
        if self.hooks is None:
            self.hooks = webhook_sql.subscriptions(self.conn)
        if self.hooks:
            self.outboxed += webhook_sql.enqueue(
                self.conn, self.hooks, seq=seq, event_type=kind, session_id=session_id,
                at=at, data_json=data_json)

    def next_ids(self) -> NextIds:
        return NextIds(self.seq, self.next_rowid, self.next_session_rowid)

    def flush(self) -> None:
        """Write what the batch buffered: one ``executemany`` per table."""
        conn = self.conn
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for session_id in self.dirty:
            doc = self.sessions[session_id]
            assert doc is not None
            row = session_columns(doc)
            if session_id in self.created:
                inserts.append((self.session_rowids[session_id], *row))
            else:
                updates.append((*row[1:], row[0]))
        if inserts:
            conn.executemany(_INSERT_SESSION_ROW, inserts)
        if updates:
            conn.executemany(_UPDATE_SESSION, updates)
        if self._messages:
            try:
                conn.executemany(_INSERT_MESSAGE, self._messages)
            except sqlite3.IntegrityError:
                raise NeedsCarefulRun from None
        if self._texts:
            conn.executemany("INSERT INTO message_fts (rowid, text) VALUES (?, ?)", self._texts)
            conn.executemany(
                "INSERT INTO message_session_rows (rowid, session_rowid) VALUES (?, ?)",
                self._text_sessions)
        if self._logs:
            conn.executemany("INSERT INTO logs (session_id, kind, doc) VALUES (?, ?, ?)",
                             self._logs)
        if self._events:
            conn.executemany(
                "INSERT INTO events (seq, id, session_id, body, content_hash) "
                "VALUES (?, ?, ?, ?, ?)", self._events)
        self.dirty.clear()
        self.created.clear()
        self._messages.clear()
        self._buffered.clear()
        self._texts.clear()
        self._text_sessions.clear()
        self._logs.clear()
        self._events.clear()


class SqliteStore:
    """The :class:`~supervisor_desk.hub.store.interface.HubStore` on a SQLite file.
    Thread-safe: writes serialize on a lock, reads use a connection per thread."""

    def __init__(self, path: Path | str, *, on_commit: CommitListener | None = None) -> None:
        self._path = Path(path)
        self.on_commit = on_commit
        self.on_outbox: Callable[[], None] | None = None
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        # A second reader for the analytics report's other half (its thread starts on first
        # use): the machine's second core steps through SQLite beside the request's thread.
        self._analytics_helper = ThreadPoolExecutor(1, thread_name_prefix="hub-analytics")
        _private_file(self._path)
        with translated():
            self._w = self._connect(cache_kib=65_536)
            self._w.execute("PRAGMA journal_mode=WAL")
            self._w.execute("PRAGMA synchronous=FULL")
            migrate(self._w)
            self._epoch: str = self._w.execute(
                "SELECT value FROM meta WHERE key='epoch'").fetchone()[0]
            self._last_seq: int = self._w.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events"
            ).fetchone()[0]
            self._next = NextIds(self._last_seq, *self._first_free_rowids())
        self._closed = False

    def _first_free_rowids(self) -> tuple[int, int]:
        """The message and session rowids after the highest stored (batches give rowids out
        themselves)."""
        row = self._w.execute(
            "SELECT (SELECT COALESCE(MAX(rowid), 0) + 1 FROM messages), "
            "(SELECT COALESCE(MAX(rowid), 0) + 1 FROM sessions)").fetchone()
        return int(row[0]), int(row[1])

    def _connect(self, cache_kib: int = 16_384) -> sqlite3.Connection:
        # Transactions are explicit (BEGIN IMMEDIATE / read snapshots), hence autocommit mode.
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        # Page cache per connection, bounded: the hub's memory must not grow with the data.
        conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        return conn

    @property
    def path(self) -> Path:
        return self._path

    @property
    def blob_dir(self) -> Path:
        return self._path.with_name(self._path.name + ".files")

    def open_files(self) -> SqliteFiles:
        return SqliteFiles(self._path)

    @property
    def epoch(self) -> str:
        return self._epoch

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._analytics_helper.shutdown(wait=True, cancel_futures=True)
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            self._w.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("unavailable", "the hub is shutting down; retry in a moment")

    # ----------------------------------------------------------------------------------------
    # Reads

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (created on first use)."""
        self._check_open()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @faults_translated
    def live_snapshot(self) -> tuple[int, list[str]]:
        conn = self.reader()
        conn.execute("BEGIN")
        try:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            docs = [
                row[0]
                for row in conn.execute(
                    "SELECT doc FROM sessions WHERE status IN ('queued', 'active') "
                    "ORDER BY started_ms, id"
                )
            ]
        finally:
            conn.execute("COMMIT")
        return seq, docs

    @faults_translated
    def session_page(
        self, flt: SessionFilter, sort: SortSpec, offset: int, limit: int, now_ms: int
    ) -> tuple[int, list[str]]:
        return query.page(self.reader(), flt, sort, offset, limit, now_ms)

    @faults_translated
    def metrics(self, flt: SessionFilter, now_ms: int) -> dict[str, Any]:
        return query.metrics(self.reader(), flt, now_ms)

    def export_rows(
        self, flt: SessionFilter, sort: SortSpec, now_ms: int, chunk: int = 200
    ) -> Iterator[list[ExportRow]]:
        # A private connection: the export's read snapshot lasts as long as the download.
        with translated():
            self._check_open()
            conn = self._connect(cache_kib=4_096)  # a stream reads each page once
        try:
            conn.execute("PRAGMA query_only=ON")
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
            conn.close()

    @faults_translated
    def analytics_report(
        self, flt: SessionFilter, time_range: TimeRange, now_ms: int, sla_seconds: int
    ) -> AnalyticsReport:
        return analytics_sql.analytics(self.reader(), flt, time_range, now_ms, sla_seconds,
                                       self._beside_reader)

    def _beside_reader(self, job: Callable[[sqlite3.Connection], T]) -> Future[T] | None:
        """``job`` on the analytics helper's thread with its read connection (``None`` once
        the store is closing)."""
        try:
            return self._analytics_helper.submit(lambda: job(self.reader()))
        except RuntimeError:  # shut down
            return None

    @faults_translated
    def first_seq(self) -> int:
        row = self.reader().execute("SELECT MIN(seq) FROM events").fetchone()
        return row[0] or (self._last_seq + 1)

    @faults_translated
    def events_between(self, after: int, upto: int, limit: int = 2000) -> list[tuple[int, str]]:
        return list(
            self.reader().execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, upto, limit),
            )
        )

    @faults_translated
    def session_doc(self, session_id: str) -> str | None:
        row = self.reader().execute(
            "SELECT doc FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return row[0] if row else None

    @faults_translated
    def session_detail(self, session_id: str) -> tuple[str, list[str]] | None:
        conn = self.reader()
        conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT doc FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return None
            messages = [
                r[0]
                for r in conn.execute(
                    "SELECT doc FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
                )
            ]
        finally:
            conn.execute("COMMIT")
        return row[0], messages

    @faults_translated
    def session_logs(self, session_id: str, kind: str) -> list[str] | None:
        conn = self.reader()
        conn.execute("BEGIN")
        try:
            found = conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if found is None:
                return None
            return [
                r[0]
                for r in conn.execute(
                    "SELECT doc FROM logs WHERE session_id = ? AND kind = ? ORDER BY rowid",
                    (session_id, kind),
                )
            ]
        finally:
            conn.execute("COMMIT")

    @faults_translated
    def agents(self) -> list[tuple[str, str]]:
        # The latest name wins when an agent was renamed.
        return list(
            self.reader().execute(
                "SELECT agent_id, agent_name FROM sessions s WHERE started_ms = "
                "(SELECT MAX(started_ms) FROM sessions t WHERE t.agent_id = s.agent_id) "
                "GROUP BY agent_id ORDER BY agent_name COLLATE NOCASE, agent_id"
            )
        )

    @faults_translated
    def operators(self) -> list[tuple[str, str]]:
        return list(
            self.reader().execute(
                "SELECT operator_id, MAX(operator_name) FROM sessions "
                "WHERE operator_id IS NOT NULL GROUP BY operator_id "
                "ORDER BY MAX(operator_name) COLLATE NOCASE, operator_id"
            )
        )

    # ----------------------------------------------------------------------------------------
    # Accounts

    @faults_translated
    def principal(self, token: str, now: datetime | None = None) -> Principal | None:
        return accounts.principal(self.reader(), SQLITE, token, now)

    @faults_translated
    def check_password(self, name: str, password: str) -> tuple[str, str, str] | None:
        row = accounts.password_row(self.reader(), SQLITE, name)
        if row is None:
            passwords.verify_absent(password)  # equalize timing with a real check
            return None
        user_id, user_name, role, salt, stored = row
        ok, upgraded = accounts.sign_in(password, salt, stored)
        if not ok:
            return None
        if upgraded is not None:  # an older hash (scrypt, other parameters): store today's
            self._write(lambda conn: accounts.store_rehash(conn, SQLITE, user_id, stored,
                                                           *upgraded))
        return user_id, user_name, role

    def add_user(self, name: str, role: str, password: str) -> str:
        accounts.check_new_user(name, role, password)
        salt, digest = passwords.hash_password(password)
        return self._write(lambda conn: accounts.save_user(conn, SQLITE, name, role, salt,
                                                           digest))

    def create_token(
        self,
        label: str,
        role: str,
        *,
        user_id: str | None = None,
        ttl: timedelta | None = None,
    ) -> tuple[str, datetime | None]:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        token = new_token()
        now = datetime.now(UTC)
        expires = now + ttl if ttl else None
        self._write(lambda conn: accounts.insert_token(conn, SQLITE, token, label, role,
                                                       user_id, now, expires))
        return token, expires

    def revoke_token(self, token_hash: str) -> None:
        self._write(lambda conn: accounts.delete_token(conn, SQLITE, token_hash))

    def revoke_tokens(self, *, user: str | None = None, label: str | None = None) -> int | None:
        return self._write(lambda conn: accounts.delete_tokens(conn, SQLITE, user=user,
                                                               label=label))

    # ----------------------------------------------------------------------------------------
    # Writes

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._write_lock, translated():
            self._check_open()
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some faults (a full disk): a second
                # ROLLBACK would raise and hide the real error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    def _transaction(self, work: Callable[[SqliteBatch], T]) -> T:
        """``work`` in one write transaction that may append events (handover, edits)."""
        with self._write_lock, translated():
            self._check_open()
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            # Rare writes (a hand-over, an edit): statement by statement, no retry needed.
            batch = SqliteBatch(conn, self._next, careful=True)
            try:
                result = work(batch)
                batch.flush()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._commit_ids(batch.next_ids())
            if batch.new_events and self.on_commit is not None:
                # Still under the lock: listeners see commits in seq order.
                self.on_commit(batch.new_events)
            if batch.outboxed:
                self._outbox_written()
            return result

    def _commit_ids(self, next_ids: NextIds) -> None:
        self._next = next_ids
        self._last_seq = next_ids.seq

    def ingest(self, events: Sequence[ParsedEvent]) -> IngestOutcome:
        (result,) = self.ingest_many([events])
        if isinstance(result, Exception):
            raise result
        return result

    def ingest_many(
        self, batches: Sequence[Sequence[ParsedEvent]]
    ) -> list[IngestOutcome | Exception]:
        """Several batches in one durable commit (group commit), each one atomic.

        One fsync serves every platform that posted meanwhile, which is what lets concurrent
        posters scale on a disk where the sync dominates.
        """
        with self._write_lock, translated():
            self._check_open()
            conn = self._w
            results: list[IngestOutcome | Exception] = []
            new_events: list[tuple[int, str]] = []
            outboxed = 0
            next_ids = self._next
            conn.execute("BEGIN IMMEDIATE")
            try:
                for events in batches:
                    conn.execute("SAVEPOINT batch")
                    try:
                        batch, outcome = self._apply_batch(conn, next_ids, events)
                    except Exception as failed:
                        if not conn.in_transaction:
                            raise  # the whole transaction is gone: nobody's batch is stored
                        conn.execute("ROLLBACK TO batch")
                        conn.execute("RELEASE batch")
                        results.append(store_fault(failed) or failed)
                        continue
                    conn.execute("RELEASE batch")
                    next_ids = batch.next_ids()
                    new_events.extend(batch.new_events)
                    outboxed += batch.outboxed
                    results.append(outcome)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # not after SQLite rolled back itself (disk full)
                    conn.execute("ROLLBACK")
                raise
            self._commit_ids(next_ids)
            if new_events and self.on_commit is not None:
                # Still under the lock: listeners see commits in seq order.
                self.on_commit(new_events)
            if outboxed:
                self._outbox_written()
            return results

    @staticmethod
    def _apply_batch(conn: sqlite3.Connection, start: NextIds,
                     events: Sequence[ParsedEvent]) -> tuple[SqliteBatch, IngestOutcome]:
        """One ingest batch inside its savepoint: buffered, or again statement by statement
        when the buffered rows broke a constraint (a message id reused from before)."""
        batch = SqliteBatch(conn, start)
        try:
            outcome = reducer.ingest_batch(batch, events)
            batch.flush()
        except NeedsCarefulRun:
            conn.execute("ROLLBACK TO batch")
            batch = SqliteBatch(conn, start, careful=True)
            outcome = reducer.ingest_batch(batch, events)
            batch.flush()
        return batch, outcome

    def _outbox_written(self) -> None:
        listener = self.on_outbox
        if listener is not None:
            listener()

    def handover(
        self, session_id: str, operator: dict[str, str] | None, by: dict[str, str]
    ) -> str:
        return self._transaction(lambda batch: reducer.handover(batch, session_id, operator, by))

    def update_contact(
        self, session_id: str, changes: dict[str, str], by: dict[str, str]
    ) -> str:
        return self._transaction(
            lambda batch: reducer.update_contact(batch, session_id, changes, by))

    # ----------------------------------------------------------------------------------------
    # Webhook endpoints (the outbox itself is written by SqliteBatch.outbox)

    def add_webhook(self, url: str, events: Sequence[str] | None,
                    secret: str | None = None) -> Webhook:
        return self._write(lambda conn: webhook_sql.add(conn, url, tuple(events or ()), secret))

    @faults_translated
    def webhooks(self) -> list[Webhook]:
        return webhook_sql.listing(self.reader())

    @faults_translated
    def webhook(self, webhook_id: str) -> Webhook | None:
        return webhook_sql.get(self.reader(), webhook_id)

    def remove_webhook(self, webhook_id: str) -> bool:
        return self._write(lambda conn: webhook_sql.remove(conn, webhook_id))

    @faults_translated
    def webhook_deliveries(self, webhook_id: str, state: str | None = None,
                           limit: int = 100) -> list[Delivery]:
        return webhook_sql.deliveries(self.reader(), webhook_id, state, limit)

    def replay_webhook(self, webhook_id: str, delivery_ids: Sequence[int] | None = None) -> int:
        count = self._write(
            lambda conn: webhook_sql.replay(conn, webhook_id, list(delivery_ids or ())))
        if count:
            self._outbox_written()
        return count

    def open_outbox(self) -> SqliteOutbox:
        with translated():
            return SqliteOutbox(self._path)
