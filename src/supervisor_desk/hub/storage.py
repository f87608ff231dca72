"""SQLite storage of the hub: sessions, messages, logs, the event log, users and tokens.

All SQL of the hub lives here and in :mod:`supervisor_desk.hub.query`; route handlers call
methods. Writes go through one connection under one lock (the hub calls them from a single
writer thread), so ``seq`` is gap-free and every state change is committed in the same
transaction as its event-log entry. Reads use one connection per reader thread; WAL gives each
read transaction a consistent snapshot while the writer goes on.

Durability: WAL with ``synchronous=FULL`` syncs the log on every commit, so an ingest answered
200 survives ``kill -9`` and power loss.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from supervisor_desk.hub import query, webhooks_store
from supervisor_desk.hub.schema import migrate
from supervisor_desk.models.filters import SessionFilter, SortSpec, search_text, user_search_text
from supervisor_desk.models.filters import to_ms as exact_ms
from supervisor_desk.models.wire import (
    ROLES,
    EventData,
    IngestEvent,
    LogAppendedData,
    MessageBody,
    MessageUpdatedData,
    SessionEndedData,
    SessionStartedData,
    SessionSummary,
    SessionUpdatedData,
    format_timestamp,
)

CommitListener = Callable[[list[tuple[int, str]]], None]

# scrypt parameters: ~50 ms and 16 MiB per hash on this class of machine.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
TOKEN_PREFIX = "sdh_"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_ms(text: str | None) -> int | None:
    if text is None:
        return None
    return exact_ms(datetime.fromisoformat(text))


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


def now_utc() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StorageError(Exception):
    """Base of the errors the storage reports to the API layer."""


class IngestRejectedError(StorageError):
    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(details[0]["message"] if details else "rejected")
        self.details = details


class EventIdConflictError(IngestRejectedError):
    """An event id already stored for an event with different content (a platform bug)."""


class NotFoundError(StorageError):
    pass


class ConflictError(StorageError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Reject(Exception):  # noqa: N818 - internal signal, turned into IngestRejectedError
    def __init__(self, loc: Sequence[str | int], message: str, kind: str) -> None:
        super().__init__(message)
        self.loc = list(loc)
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user (``user_id`` set) or an API token."""

    token_hash: str
    role: str
    name: str
    user_id: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    last_seq: int


@dataclass
class _Batch:
    """State of one write transaction: sessions touched so far and events appended."""

    conn: sqlite3.Connection
    seq: int
    sessions: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)
    new_events: list[tuple[int, str]] = field(default_factory=list)
    hooks: list[tuple[str, frozenset[str]]] | None = None  # webhook subscriptions, read once
    outboxed: int = 0  # webhook deliveries written in this transaction

    def outbox(self, kind: str, session_id: str, at: str, data_json: str) -> None:
        """Queue the webhook deliveries of one event, in this transaction (the outbox)."""
        if self.hooks is None:
            self.hooks = webhooks_store.subscriptions(self.conn)
        if self.hooks:
            self.outboxed += webhooks_store.enqueue(
                self.conn, self.hooks, seq=self.seq, event_type=kind, session_id=session_id,
                at=at, data_json=data_json)

    def session(self, session_id: str) -> dict[str, Any] | None:
        if session_id not in self.sessions:
            row = self.conn.execute(
                "SELECT doc FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            self.sessions[session_id] = json.loads(row[0]) if row else None
        return self.sessions[session_id]

    def append(
        self, event_id: str, kind: str, session_id: str, at: str, data: Any,
        data_json: str | None = None, digest: bytes | None = None,
    ) -> int:
        """Append to the event log; ``data_json`` is ``data`` already serialized, if at hand;
        ``digest`` is the content hash of an ingested event (see :func:`event_content`)."""
        self.seq += 1
        head = dumps({"id": event_id, "type": kind, "session_id": session_id, "at": at})
        body = f'{head[:-1]},"data":{data_json if data_json is not None else dumps(data)}}}'
        self.conn.execute(
            "INSERT INTO events (seq, id, session_id, body, content_hash) VALUES (?, ?, ?, ?, ?)",
            (self.seq, event_id, session_id, body, digest),
        )
        self.new_events.append((self.seq, body))
        self.outbox(kind, session_id, at, body)
        return self.seq

    def flush(self) -> None:
        for session_id in self.dirty:
            doc = self.sessions[session_id]
            assert doc is not None
            row = session_row(doc)
            if session_id in self.created:
                self.conn.execute(_INSERT_SESSION, row)
            else:
                self.conn.execute(_UPDATE_SESSION, (*row[1:], row[0]))
        self.dirty.clear()
        self.created.clear()


_SESSION_COLUMNS = (
    "id", "id_lower", "doc", "agent_id", "agent_name", "channel", "status", "responsible_kind",
    "operator_id", "operator_name", "user_search", "search", "country_code", "ip",
    "started_ms", "queued_ms", "accepted_ms", "ended_ms", "last_ms", "message_count",
    "has_attachments", "version",
)
_INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_SESSION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_SESSION_COLUMNS))})"
)
_UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{c} = ?" for c in _SESSION_COLUMNS[1:])
    + " WHERE id = ?"
)


def session_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    location = doc.get("location") or {}
    responsible = doc["responsible"]
    operator = responsible.get("operator") or {}
    country = location.get("country_code")
    user = doc["user"]
    return (
        doc["id"],
        doc["id"].lower(),
        dumps(doc),
        doc["agent"]["id"],
        doc["agent"]["name"],
        doc["channel"],
        doc["status"],
        responsible["kind"],
        operator.get("id"),
        operator.get("name"),
        user_search_text(user["id"], user.get("name")),
        search_text(
            doc["agent"]["name"], user["id"], user.get("name"), user.get("external_id"),
            doc.get("metadata", {}).values(), doc.get("parameters", {}).values(),
        ),
        country.upper() if country else None,
        location.get("ip"),
        to_ms(doc["started_at"]),
        to_ms(doc.get("queued_at")),
        to_ms(doc.get("accepted_at")),
        to_ms(doc.get("ended_at")),
        to_ms(doc.get("last_message_at")),
        doc["message_count"],
        1 if doc["has_attachments"] else 0,
        doc["version"],
    )


class Storage:
    """The hub's SQLite database. Thread-safe: writes serialize on a lock, reads per thread."""

    def __init__(self, path: Path | str, *, on_commit: CommitListener | None = None) -> None:
        self.path = Path(path)
        self.on_commit = on_commit
        # Called after a commit that queued webhook deliveries (wakes the dispatcher).
        self.on_outbox: Callable[[], None] | None = None
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        _private_file(self.path)
        self._w = self._connect(cache_kib=65_536)
        self._w.execute("PRAGMA journal_mode=WAL")
        self._w.execute("PRAGMA synchronous=FULL")
        migrate(self._w)
        self.epoch: str = self._w.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()[0]
        self._last_seq: int = self._w.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events"
        ).fetchone()[0]
        self._closed = False

    def _connect(self, cache_kib: int = 16_384) -> sqlite3.Connection:
        # Transactions are explicit (BEGIN IMMEDIATE / read snapshots), hence autocommit mode.
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        # Page cache per connection, bounded: the hub's memory must not grow with the data.
        conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        return conn

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            self._w.close()

    # ----------------------------------------------------------------------------------------
    # Reads

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (created on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def open_snapshot(self) -> sqlite3.Connection:
        """A private connection for a long read (export); the caller closes it."""
        conn = self._connect(cache_kib=4_096)  # a stream reads each page once
        conn.execute("PRAGMA query_only=ON")
        return conn

    def live_snapshot(self) -> tuple[int, list[str]]:
        """``(seq, [session JSON])`` of every queued or active session, consistent at ``seq``."""
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

    def session_page(
        self, flt: SessionFilter, sort: SortSpec, offset: int, limit: int, now_ms: int
    ) -> tuple[int, list[str]]:
        return query.page(self.reader(), flt, sort, offset, limit, now_ms)

    def metrics(self, flt: SessionFilter, now_ms: int) -> dict[str, Any]:
        return query.metrics(self.reader(), flt, now_ms)

    def first_seq(self) -> int:
        row = self.reader().execute("SELECT MIN(seq) FROM events").fetchone()
        return row[0] or (self._last_seq + 1)

    def events_between(self, after: int, upto: int, limit: int = 2000) -> list[tuple[int, str]]:
        return list(
            self.reader().execute(
                "SELECT seq, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, upto, limit),
            )
        )

    def session_doc(self, session_id: str) -> str | None:
        row = self.reader().execute(
            "SELECT doc FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return row[0] if row else None

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

    def agents(self) -> list[tuple[str, str]]:
        # The latest name wins when an agent was renamed.
        return list(
            self.reader().execute(
                "SELECT agent_id, agent_name FROM sessions s WHERE started_ms = "
                "(SELECT MAX(started_ms) FROM sessions t WHERE t.agent_id = s.agent_id) "
                "GROUP BY agent_id ORDER BY agent_name COLLATE NOCASE, agent_id"
            )
        )

    def operators(self) -> list[tuple[str, str]]:
        return list(
            self.reader().execute(
                "SELECT operator_id, MAX(operator_name) FROM sessions "
                "WHERE operator_id IS NOT NULL GROUP BY operator_id "
                "ORDER BY MAX(operator_name) COLLATE NOCASE, operator_id"
            )
        )

    # ----------------------------------------------------------------------------------------
    # Auth

    def principal(self, token: str, now: datetime | None = None) -> Principal | None:
        token_hash = hash_token(token)
        row = self.reader().execute(
            "SELECT t.role, t.label, t.user_id, t.expires_ms, u.name FROM tokens t "
            "LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None:
            return None
        role, label, user_id, expires_ms, user_name = row
        moment = now or now_utc()
        if expires_ms is not None and expires_ms <= moment.timestamp() * 1000:
            return None
        expires = datetime.fromtimestamp(expires_ms / 1000, UTC) if expires_ms else None
        return Principal(token_hash, role, user_name or label, user_id, expires)

    def check_password(self, name: str, password: str) -> tuple[str, str, str] | None:
        """``(user_id, name, role)`` if the password is right; same cost for unknown users."""
        row = self.reader().execute(
            "SELECT id, name, role, salt, hash FROM users WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            hash_password(password, b"\0" * 16)  # equalize timing with a real check
            return None
        user_id, user_name, role, salt, stored = row
        if not hmac.compare_digest(hash_password(password, salt), stored):
            return None
        return user_id, user_name, role

    def add_user(self, name: str, role: str, password: str) -> str:
        if role not in ("viewer", "supervisor", "admin"):
            raise ValueError(f"a user's role is viewer, supervisor or admin, not {role!r}")
        if not name or len(name) > 200:
            raise ValueError("a user name has 1 to 200 characters")
        if not password:
            raise ValueError("the password is empty")
        salt = secrets.token_bytes(16)
        digest = hash_password(password, salt)
        with self._write_lock:
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
                if row:
                    # Re-adding a user resets its role and password; old sessions are revoked.
                    user_id = str(row[0])
                    conn.execute(
                        "UPDATE users SET role = ?, salt = ?, hash = ? WHERE id = ?",
                        (role, salt, digest, user_id),
                    )
                    conn.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
                else:
                    user_id = "u_" + uuid.uuid4().hex[:12]
                    conn.execute(
                        "INSERT INTO users (id, name, role, salt, hash, created_ms) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (user_id, name, role, salt, digest, int(now_utc().timestamp() * 1000)),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return user_id

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
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = now_utc()
        expires = now + ttl if ttl else None
        with self._write_lock:
            self._w.execute(
                "INSERT INTO tokens (hash, label, role, user_id, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    hash_token(token),
                    label,
                    role,
                    user_id,
                    int(now.timestamp() * 1000),
                    int(expires.timestamp() * 1000) if expires else None,
                ),
            )
        return token, expires

    def revoke_token(self, token_hash: str) -> None:
        with self._write_lock:
            self._w.execute("DELETE FROM tokens WHERE hash = ?", (token_hash,))
            # Expired login tokens are garbage; drop them while we are here.
            self._w.execute(
                "DELETE FROM tokens WHERE expires_ms IS NOT NULL AND expires_ms < ?",
                (int(now_utc().timestamp() * 1000),),
            )

    def revoke_tokens(self, *, user: str | None = None, label: str | None = None) -> int | None:
        """Revoke every token of the user named ``user`` (``None`` if no such user) or every
        API token labelled ``label``; returns how many were revoked."""
        with self._write_lock:
            if user is not None:
                row = self._w.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
                if row is None:
                    return None
                cursor = self._w.execute("DELETE FROM tokens WHERE user_id = ?", (row[0],))
            else:
                cursor = self._w.execute(
                    "DELETE FROM tokens WHERE label = ? AND user_id IS NULL", (label,)
                )
            return int(cursor.rowcount)

    # ----------------------------------------------------------------------------------------
    # Writes that produce events

    def _transaction(self, work: Callable[[_Batch], Any]) -> Any:
        with self._write_lock:
            if self._closed:
                raise StorageError("storage is closed")
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            batch = _Batch(conn, self._last_seq)
            try:
                result = work(batch)
                batch.flush()
                conn.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some faults (a full disk): a second
                # ROLLBACK would raise and hide the real error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._last_seq = batch.seq
            if batch.new_events and self.on_commit is not None:
                # Still under the lock: listeners see commits in seq order.
                self.on_commit(batch.new_events)
            if batch.outboxed:
                self._outbox_written()
            return result

    def ingest(self, events: Sequence[tuple[IngestEvent, EventData]]) -> IngestOutcome:
        """Apply a validated batch atomically; :class:`IngestRejectedError` names the event."""
        (result,) = self.ingest_many([events])
        if isinstance(result, Exception):
            raise result
        return result

    def ingest_many(
        self, batches: Sequence[Sequence[tuple[IngestEvent, EventData]]]
    ) -> list[IngestOutcome | Exception]:
        """Apply several batches in one durable commit (group commit), each one atomic.

        A batch that fails (refused with :class:`IngestRejectedError`, or any other error
        while it is applied) is rolled back to its savepoint alone and its error is its result;
        the others commit. One fsync serves every platform that posted meanwhile, which is what
        lets concurrent posters scale on a disk where the sync dominates. Only a fault of the
        whole transaction (SQLite rolled it back: a full disk) raises, for every batch.
        """
        with self._write_lock:
            if self._closed:
                raise StorageError("storage is closed")
            conn = self._w
            results: list[IngestOutcome | Exception] = []
            new_events: list[tuple[int, str]] = []
            outboxed = 0
            seq = self._last_seq
            conn.execute("BEGIN IMMEDIATE")
            try:
                for events in batches:
                    batch = _Batch(conn, seq)
                    conn.execute("SAVEPOINT batch")
                    try:
                        outcome = _ingest_batch(batch, events)
                        batch.flush()
                    except Exception as failed:
                        if not conn.in_transaction:
                            raise  # the whole transaction is gone: nobody's batch is stored
                        conn.execute("ROLLBACK TO batch")
                        conn.execute("RELEASE batch")
                        results.append(failed)
                        continue
                    conn.execute("RELEASE batch")
                    seq = batch.seq
                    new_events.extend(batch.new_events)
                    outboxed += batch.outboxed
                    results.append(outcome)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # not after SQLite rolled back itself (disk full)
                    conn.execute("ROLLBACK")
                raise
            self._last_seq = seq
            if new_events and self.on_commit is not None:
                # Still under the lock: listeners see commits in seq order.
                self.on_commit(new_events)
            if outboxed:
                self._outbox_written()
            return results

    def _outbox_written(self) -> None:
        listener = self.on_outbox
        if listener is not None:
            listener()

    def handover(
        self, session_id: str, operator: dict[str, str] | None, by: dict[str, str]
    ) -> str:
        """Give a live AI session to ``operator``, or to the next available one (Unassigned);
        returns the session JSON after the change.

        One transaction writes the "Transfer to human agent" marker, the new Responsible, a
        system log line naming who handed it over (each an event of the feed) and the
        platform's webhook.
        """

        def work(batch: _Batch) -> str:
            doc = batch.session(session_id)
            if doc is None:
                raise NotFoundError(f"no session {session_id!r}")
            if doc["status"] not in ("queued", "active"):
                raise ConflictError("session_finished", "the session has already ended")
            if doc["responsible"]["kind"] != "ai":
                raise ConflictError(
                    "already_human", "a human operator already handles or is about to take it"
                )
            at = format_timestamp(now_utc())
            marker = MessageBody.model_validate(
                {
                    "id": "hub-" + uuid.uuid4().hex,
                    "at": at,
                    "author": {"role": "system", "name": None},
                    "kind": "marker",
                    "text": "Transfer to human agent",
                }
            )
            _message_created(batch, doc, "hub-" + uuid.uuid4().hex, at, marker)
            if operator is None:
                doc["responsible"] = {"kind": "unassigned", "operator": None}
                to = "the next available operator"
            else:
                doc["responsible"] = {"kind": "human", "operator": dict(operator)}
                to = operator["name"]
                if doc["status"] == "queued":
                    doc["status"] = "active"
                    if doc.get("accepted_at") is None:
                        doc["accepted_at"] = at
            doc["version"] += 1
            batch.dirty.add(session_id)
            batch.append("hub-" + uuid.uuid4().hex, "session.updated", session_id, at, doc)
            entry = {"at": at, "level": "info", "text": f"Handed over to {to} by {by['name']}"}
            batch.conn.execute(
                "INSERT INTO logs (session_id, kind, doc) VALUES (?, ?, ?)",
                (session_id, "system", dumps(entry)),
            )
            batch.append(
                "hub-" + uuid.uuid4().hex, "log.appended", session_id, at,
                {"kind": "system", "entries": [entry]},
            )
            # The platform must hear it (its AI stops replying): a webhook of its own.
            # ``operator`` is null when the next available operator is to take it.
            batch.outbox(webhooks_store.HANDOVER, session_id, at, dumps({
                "session_id": session_id, "operator": operator, "session": doc}))
            return dumps(doc)

        result: str = self._transaction(work)
        return result

    # ----------------------------------------------------------------------------------------
    # Webhook endpoints (the outbox itself is written by _Batch.outbox)

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._write_lock:
            if self._closed:
                raise StorageError("storage is closed")
            conn = self._w
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    def add_webhook(self, url: str, events: Sequence[str] | None,
                    secret: str | None = None) -> webhooks_store.Webhook:
        hook: webhooks_store.Webhook = self._write(
            lambda conn: webhooks_store.add(conn, url, tuple(events or ()), secret))
        return hook

    def webhooks(self) -> list[webhooks_store.Webhook]:
        return webhooks_store.listing(self.reader())

    def webhook(self, webhook_id: str) -> webhooks_store.Webhook | None:
        return webhooks_store.get(self.reader(), webhook_id)

    def remove_webhook(self, webhook_id: str) -> bool:
        removed: bool = self._write(lambda conn: webhooks_store.remove(conn, webhook_id))
        return removed

    def webhook_deliveries(self, webhook_id: str, state: str | None = None,
                           limit: int = 100) -> list[webhooks_store.Delivery]:
        return webhooks_store.deliveries(self.reader(), webhook_id, state, limit)

    def replay_webhook(self, webhook_id: str, delivery_ids: Sequence[int] | None = None) -> int:
        count: int = self._write(
            lambda conn: webhooks_store.replay(conn, webhook_id, list(delivery_ids or ())))
        if count:
            self._outbox_written()
        return count


    def update_contact(
        self, session_id: str, changes: dict[str, str], by: dict[str, str]
    ) -> str:
        """Correct a session's contact fields (a supervisor's edit); returns the session JSON.

        Only fields whose value changes are written; each edit is a ``session.updated`` and a
        system log line saying who changed what (the audit trail), in one transaction.
        """

        def work(batch: _Batch) -> str:
            doc = batch.session(session_id)
            if doc is None:
                raise NotFoundError(f"no session {session_id!r}")
            contact: dict[str, Any] = dict(doc.get("contact") or {})
            described: list[str] = []
            for key, value in changes.items():
                new = value.strip() or None
                old = contact.get(key)
                if new != old:
                    contact[key] = new
                    described.append(f"{key} {_shown(old)} → {_shown(new)}")
            if not described:
                return dumps(doc)
            doc["contact"] = contact
            doc["version"] += 1
            at = format_timestamp(now_utc())
            batch.dirty.add(session_id)
            batch.append("hub-" + uuid.uuid4().hex, "session.updated", session_id, at, doc)
            entry = {
                "at": at,
                "level": "info",
                "text": f"Contact edited by {by['name']}: " + "; ".join(described),
            }
            batch.conn.execute(
                "INSERT INTO logs (session_id, kind, doc) VALUES (?, ?, ?)",
                (session_id, "system", dumps(entry)),
            )
            batch.append(
                "hub-" + uuid.uuid4().hex, "log.appended", session_id, at,
                {"kind": "system", "entries": [entry]},
            )
            return dumps(doc)

        result: str = self._transaction(work)
        return result


def _shown(value: str | None) -> str:
    return "(empty)" if value is None else json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Applying events


@dataclass(slots=True)
class _Content:
    """An ingested event's ``data`` in canonical JSON, and the hash that tells a resend of the
    event from a reused id. Where the JSON is also the stored form (messages, logs), applying
    the event reuses it instead of serializing twice."""

    json: str
    digest: bytes
    entries: list[dict[str, Any]] | None = None  # log.appended: the typed entries, as dicts


def event_content(event: IngestEvent, at: str, data: EventData) -> _Content:
    """Canonical: the parsed event (times in UTC, keys in model order), so a resend that
    differs only in spelling (key order, spaces, time zone) has the same hash."""
    entries = None
    if isinstance(data, MessageBody):
        text = data.model_dump_json()
    elif isinstance(data, LogAppendedData):
        entries = [entry.model_dump(mode="json") for entry in data.typed_entries()]
        text = dumps({"kind": data.kind, "entries": entries})
    else:
        # Sent or not matters here: a session.updated field sent as null clears it.
        text = data.model_dump_json(exclude_unset=True)
    digest = hashlib.blake2b(
        f"{event.type}\n{event.session_id}\n{at}\n{text}".encode(), digest_size=16
    ).digest()
    return _Content(text, digest, entries)


def _ingest_batch(
    batch: _Batch, events: Sequence[tuple[IngestEvent, EventData]]
) -> IngestOutcome:
    ids = [event.id for event, _ in events]
    known: dict[str, bytes | None] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        known.update(
            batch.conn.execute(
                "SELECT id, content_hash FROM events "
                f"WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        )
    duplicates = 0
    for index, (event, data) in enumerate(events):
        at = fast_timestamp(event.at)
        content = event_content(event, at, data)
        if event.id in known:
            stored = known[event.id]
            # Events stored before hashes were kept (NULL) cannot be compared: a duplicate.
            if stored is not None and stored != content.digest:
                raise EventIdConflictError([{
                    "index": index,
                    "event_id": event.id,
                    "loc": ["events", index, "id"],
                    "field": f"events.{index}.id",
                    "message": f"event id {event.id!r} was already used for an event with "
                    "different content; an event id is an idempotency key, a new event "
                    "needs a new id",
                    "type": "event_id_conflict",
                }])
            duplicates += 1
            continue
        known[event.id] = content.digest
        try:
            _apply(batch, event, data, at, content)
        except _Reject as reject:
            raise IngestRejectedError(
                [
                    {
                        "index": index,
                        "event_id": event.id,
                        "loc": ["events", index, *reject.loc],
                        "message": reject.message,
                        "type": reject.kind,
                    }
                ]
            ) from None
    return IngestOutcome(len(events) - duplicates, duplicates, batch.seq)


def fast_timestamp(value: datetime) -> str:
    """:func:`format_timestamp`'s spelling (ms, ``Z``) via the C ``isoformat``: hot path."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _apply(
    batch: _Batch, event: IngestEvent, data: EventData, at: str, content: _Content
) -> None:
    digest = content.digest
    sid = event.session_id
    if isinstance(data, SessionStartedData):
        if batch.session(sid) is not None:
            raise _Reject(
                ["session_id"], f"session {sid!r} was already started", "session_exists"
            )
        fields = data.model_dump(mode="json")
        fields["started_at"] = fields["started_at"] or at
        new_doc = SessionSummary.model_validate(
            {**fields, "id": sid, "message_count": 0, "version": 1}
        ).model_dump(mode="json")
        batch.sessions[sid] = new_doc
        batch.dirty.add(sid)
        batch.created.add(sid)
        batch.append(event.id, event.type, sid, at, new_doc, digest=digest)
        return

    doc = batch.session(sid)
    if doc is None:
        raise _Reject(
            ["session_id"],
            f"unknown session {sid!r} (send session.started first)",
            "unknown_session",
        )
    if doc["status"] not in ("queued", "active"):
        raise _Reject(
            ["session_id"], f"session {sid!r} has ended; it cannot change", "session_ended"
        )

    if isinstance(data, SessionUpdatedData):
        _session_updated(doc, data, at)
        doc["version"] += 1
        batch.dirty.add(sid)
        batch.append(event.id, event.type, sid, at, doc, digest=digest)
    elif isinstance(data, MessageBody):
        _message_created(batch, doc, event.id, at, data, content)
    elif isinstance(data, MessageUpdatedData):
        row = batch.conn.execute(
            "SELECT rowid, doc FROM messages WHERE session_id = ? AND id = ?", (sid, data.id)
        ).fetchone()
        if row is None:
            raise _Reject(
                ["data", "id"], f"unknown message {data.id!r} in this session", "unknown_message"
            )
        message = json.loads(row[1])
        dumped = data.model_dump(mode="json")
        for key in ("reaction", "delivery"):
            if key in data.model_fields_set:
                message[key] = dumped[key]
        batch.conn.execute("UPDATE messages SET doc = ? WHERE rowid = ?", (dumps(message), row[0]))
        batch.append(event.id, event.type, sid, at, message, digest=digest)
    elif isinstance(data, SessionEndedData):
        doc["status"] = data.status
        doc["end_reason"] = data.end_reason
        doc["ended_at"] = fast_timestamp(data.ended_at) if data.ended_at else at
        doc["version"] += 1
        batch.dirty.add(sid)
        batch.append(event.id, event.type, sid, at, doc, digest=digest)
    elif isinstance(data, LogAppendedData):
        entries = content.entries or []
        batch.conn.executemany(
            "INSERT INTO logs (session_id, kind, doc) VALUES (?, ?, ?)",
            [(sid, data.kind, dumps(entry)) for entry in entries],
        )
        batch.append(event.id, event.type, sid, at, None, content.json, digest)
    else:  # pragma: no cover - the wire models make this unreachable
        raise _Reject(["type"], f"unsupported event type {event.type!r}", "unknown_type")


_ASSIGNED = ("team", "stage", "contact", "queued_at", "accepted_at")


def _session_updated(doc: dict[str, Any], data: SessionUpdatedData, at: str) -> None:
    sent = data.model_fields_set
    dumped = data.model_dump(mode="json")
    for key in _ASSIGNED:
        if key in sent:
            doc[key] = dumped[key]
    for key in ("responsible", "user"):
        if key in sent and dumped[key] is not None:
            doc[key] = dumped[key]
    if "location" in sent:
        doc["location"] = dumped["location"] or {
            "ip": None, "country_code": None, "country": None, "city": None
        }
    if "status" in sent and data.status is not None:
        if doc["status"] == "queued" and data.status == "active" and doc.get("accepted_at") is None:
            doc["accepted_at"] = at
        doc["status"] = data.status
    for key in ("parameters", "results", "metadata"):
        changes = dumped.get(key) if key in sent else None
        if changes:
            merged = dict(doc.get(key) or {})
            for name, value in changes.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            doc[key] = merged


def _message_created(
    batch: _Batch, doc: dict[str, Any], event_id: str, at: str, data: MessageBody,
    content: _Content | None = None,
) -> None:
    sid = doc["id"]
    seq = doc["message_count"] + 1
    # pydantic's own JSON encoder, spliced behind session_id/seq: a dict round trip through
    # model_dump + json.dumps was a fifth of the ingest CPU (py-spy).
    body = content.json if content is not None else data.model_dump_json()
    message_json = f'{{"session_id":{dumps(sid)},"seq":{seq},{body[1:]}'
    try:
        # UNIQUE (session_id, id) finds a reused message id without a lookup per message.
        cursor = batch.conn.execute(
            "INSERT INTO messages (session_id, seq, id, doc) VALUES (?, ?, ?, ?)",
            (sid, seq, data.id, message_json),
        )
    except sqlite3.IntegrityError:
        raise _Reject(
            ["data", "id"], f"message {data.id!r} already exists in this session",
            "message_exists",
        ) from None
    if data.text:
        batch.conn.execute(
            "INSERT INTO message_fts (rowid, text) VALUES (?, ?)", (cursor.lastrowid, data.text)
        )
        batch.conn.execute(
            "INSERT INTO message_sessions (rowid, session_id) VALUES (?, ?)",
            (cursor.lastrowid, sid),
        )
    doc["message_count"] = seq
    message_at = format_timestamp(data.at)
    last = doc.get("last_message_at")
    if last is None or to_ms(message_at) > (to_ms(last) or 0):  # type: ignore[operator]
        doc["last_message_at"] = message_at
    if data.attachments:
        doc["has_attachments"] = True
    doc["version"] += 1
    batch.dirty.add(sid)
    batch.append(event_id, "message.created", sid, at, None, message_json,
                 content.digest if content is not None else None)


def iter_chunks(cursor: sqlite3.Cursor, size: int) -> Iterator[list[Any]]:
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            return
        yield rows
