"""What the hub asks of its database, whatever the database is: the store's contract.

The routes, the feed, the webhook dispatcher and :class:`~supervisor_desk.hub.service.HubService`
speak only of these Protocols, their data types and their errors; a backend (SQLite in
:mod:`supervisor_desk.hub.store.sqlite`, PostgreSQL beside it) implements them. The rules that
turn events into session documents are not the backend's: every backend runs the same reducer
(:mod:`supervisor_desk.hub.store.reducer`) over its own :class:`~supervisor_desk.hub.store.reducer.
WriteBatch`, so both backends store the same documents, byte for byte.

Threads. The hub calls every write method from ONE writer thread and the read methods from a
small pool of reader threads (several at once); the methods block. A backend may assume
writes never overlap, but reads run beside writes and beside each other.

Text, not objects. Session documents, messages, log entries and event bodies cross this
boundary as JSON text (compact, ``ensure_ascii=False``), exactly as they go on the wire: a
backend stores the text it was given and hands it back unchanged; the routes splice it into
answers without parsing it.

Errors. A backend raises only the errors below (or a plain bug). A fault of the database
itself becomes :class:`StoreUnavailable` (503, "retry later": down, locked, read-only, shutting
down) or :class:`StoreFull` (503, disk or quota full); nothing of the failed call may be
stored. The backend's own exception types (``sqlite3.Error``, ``psycopg.Error``) never leave it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from supervisor_desk.hub.files import StoredBlob
from supervisor_desk.hub.store.webhooks import Delivery, Webhook
from supervisor_desk.models.analytics import AnalyticsReport, TimeRange
from supervisor_desk.models.filters import SessionFilter, SortSpec
from supervisor_desk.models.wire import EventData, FileInfo


class EventEnvelope(Protocol):
    """What the store reads of an ingested event besides its ``data``: an
    :class:`~supervisor_desk.models.wire.IngestEvent`, or the typed event the ingest fast path
    validated (no copy into an ``IngestEvent`` per event)."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def session_id(self) -> str: ...

    @property
    def at(self) -> datetime: ...


# One validated event of an ingest batch: its envelope and its typed ``data``.
ParsedEvent = tuple[EventEnvelope, EventData]
# ``[(seq, event JSON), ...]`` of one commit, in seq order.
CommitListener = Callable[[list[tuple[int, str]]], None]
# One exported session: ``(session JSON, [message JSON], [system log JSON], [trace log JSON])``.
ExportRow = tuple[str, list[str], list[str], list[str]]


# --------------------------------------------------------------------------------------------
# Errors


class StoreError(Exception):
    """Base of every error a store reports to the API layer."""


class StoreUnavailable(StoreError):  # noqa: N818 - the interface's own names (issue 18)
    """The database cannot serve this call now (503 with Retry-After); nothing was stored.

    ``code`` is the API's error code: ``storage_unavailable`` (down, I/O error, read-only,
    connection lost, transaction aborted), ``storage_busy`` (locked by someone else, lock
    timeout) or ``unavailable`` (the store is closed: the hub is shutting down).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StoreFull(StoreUnavailable):
    """The disk (or the database's quota) is full; code ``storage_full``."""

    def __init__(self, message: str = "the hub's disk is full; nothing of this request was "
                 "stored, retry later") -> None:
        super().__init__("storage_full", message)


class StoreConflict(StoreError):  # noqa: N818
    """The request contradicts the stored state (409): ``code`` says how, e.g.
    ``session_finished`` or ``already_human`` for a hand-over."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NotFoundError(StoreError):
    """The session (or other thing) named does not exist (404)."""


class IngestRejectedError(StoreError):
    """An ingest batch refused as a whole (422); nothing of it was stored.

    ``details`` lists each fault: ``{"index", "event_id", "loc", "message", "type"}`` with
    ``loc`` starting ``["events", index, ...]`` (the protocol's 422 shape).
    """

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(details[0]["message"] if details else "rejected")
        self.details = details


class EventIdConflictError(IngestRejectedError):
    """An event id already stored for an event with different content (a platform bug)."""


# --------------------------------------------------------------------------------------------
# Data


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


# --------------------------------------------------------------------------------------------
# The contract, by concern


class EventStore(Protocol):
    """The event log (``seq`` order, gap-free) and the writes that append to it."""

    @property
    def epoch(self) -> str:
        """The log's identity: a random hex string created with the database, never changed.
        A feed client that resumes with another epoch reloads its snapshot."""
        ...

    @property
    def last_seq(self) -> int:
        """The seq of the newest committed event (0 when the log is empty)."""
        ...

    on_commit: CommitListener | None
    """Called after each commit that appended events, with those events, in seq order, before
    the next commit's call (the feed publishes from it; it must not block)."""

    def ingest(self, events: Sequence[ParsedEvent]) -> IngestOutcome:
        """Apply one validated batch atomically; :class:`IngestRejectedError` names the event
        that made the whole batch fail. Events whose id is already stored with the same
        content are counted as ``duplicates`` and skipped (idempotent resend); the same id
        with other content is :class:`EventIdConflictError`."""
        ...

    def ingest_many(
        self, batches: Sequence[Sequence[ParsedEvent]]
    ) -> list[IngestOutcome | Exception]:
        """Several batches in ONE durable commit (group commit), each atomic on its own: a
        batch that fails is rolled back alone (a savepoint) and its exception is its result;
        the others commit with consecutive seqs (no hole). Only a fault of the whole
        transaction raises (for every batch). Durable means: when this returns, a power cut
        loses none of it."""
        ...

    def first_seq(self) -> int:
        """The oldest seq still in the log (``last_seq + 1`` when the log is empty)."""
        ...

    def events_between(self, after: int, upto: int, limit: int = 2000) -> list[tuple[int, str]]:
        """``(seq, event JSON)`` with ``after < seq <= upto``, in seq order, at most ``limit``."""
        ...

    def live_snapshot(self) -> tuple[int, list[str]]:
        """``(seq, [session JSON])`` of every queued or active session ordered by
        ``(started_at, id)``, consistent at ``seq`` (one read snapshot)."""
        ...

    def handover(
        self, session_id: str, operator: dict[str, str] | None, by: dict[str, str]
    ) -> str:
        """Give a live AI session to ``operator`` (``{"id", "name"}``) or to the next available
        one (``None``); returns the session JSON after the change. :class:`NotFoundError`,
        :class:`StoreConflict` (``session_finished``, ``already_human``). Runs the reducer's
        :func:`~supervisor_desk.hub.store.reducer.handover` in one write transaction."""
        ...

    def update_contact(
        self, session_id: str, changes: dict[str, str], by: dict[str, str]
    ) -> str:
        """A supervisor's edit of contact fields; returns the session JSON. Runs the reducer's
        :func:`~supervisor_desk.hub.store.reducer.update_contact` in one write transaction."""
        ...


class SessionStore(Protocol):
    """Reads of sessions for the REST API: lists with filters, detail, logs, export."""

    def session_page(
        self, flt: SessionFilter, sort: SortSpec, offset: int, limit: int, now_ms: int
    ) -> tuple[int, list[str]]:
        """``(total matching, [session JSON of the page])``: the History list. Filter and sort
        semantics are ``models/filters.py``'s (the offline index and the desktop agree with
        it; the differential tests compare ids in order); ties on the sort key go by ``id`` in
        the same direction; ``now_ms`` is the clock for durations of live sessions."""
        ...

    def metrics(self, flt: SessionFilter, now_ms: int) -> dict[str, Any]:
        """The metric cards of the sessions matching ``flt``: ``models.metrics.assemble_metrics``
        of counts (total, started in the last 24 h, by channel, by status, oldest queued)."""
        ...

    def session_doc(self, session_id: str) -> str | None:
        ...

    def session_detail(self, session_id: str) -> tuple[str, list[str]] | None:
        """``(session JSON, [message JSON in seq order])`` from one snapshot, or ``None``."""
        ...

    def session_logs(self, session_id: str, kind: str) -> list[str] | None:
        """Log entries (``kind`` is ``system`` or ``trace``) in the order they were stored;
        ``None`` when the session does not exist."""
        ...

    def export_rows(
        self, flt: SessionFilter, sort: SortSpec, now_ms: int, chunk: int = 200
    ) -> Iterator[list[ExportRow]]:
        """Chunks of matching sessions with their messages and logs, in ``sort`` order, all
        from ONE read snapshot (a long export sees no half-applied write). A generator: it
        opens what it needs on its first ``next`` and releases it when exhausted or closed;
        one thread at a time iterates it (not always the same thread)."""
        ...

    def agents(self) -> list[tuple[str, str]]:
        """``(agent id, latest name)`` of every agent, by name (case-insensitive) then id."""
        ...

    def operators(self) -> list[tuple[str, str]]:
        """``(operator id, name)`` of every operator that ever held a session, by name."""
        ...

    def analytics_report(
        self, flt: SessionFilter, time_range: TimeRange, now_ms: int, sla_seconds: int
    ) -> AnalyticsReport:
        """The Analytics page's report of the sessions matching ``flt`` over ``time_range``:
        every figure as ``models.analytics`` defines it (the SQLite backend groups and ranks
        in SQL and hands the aggregates to ``models.analytics.report_from_aggregates``)."""
        ...


class AccountStore(Protocol):
    """Users, their passwords, and bearer tokens (stored only as SHA-256 hashes)."""

    def principal(self, token: str, now: datetime | None = None) -> Principal | None:
        """Who ``token`` is, or ``None`` if unknown, revoked or expired at ``now``."""
        ...

    def check_password(self, name: str, password: str) -> tuple[str, str, str] | None:
        """``(user_id, name, role)`` if the password is right; the same cost for an unknown
        user (``hub.passwords``) so timing does not tell which names exist."""
        ...

    def add_user(self, name: str, role: str, password: str) -> str:
        """Create the user, or reset the role and password of an existing one (revoking its
        tokens); returns the user id. ``ValueError`` for a bad role, name or password."""
        ...

    def create_token(
        self, label: str, role: str, *, user_id: str | None = None, ttl: timedelta | None = None
    ) -> tuple[str, datetime | None]:
        """A new token (``sdh_`` + random) and its expiry; only its hash is stored."""
        ...

    def revoke_token(self, token_hash: str) -> None:
        ...

    def revoke_tokens(self, *, user: str | None = None, label: str | None = None) -> int | None:
        """Revoke every token of the user named ``user`` (``None`` if no such user) or every
        API token labelled ``label``; returns how many were revoked."""
        ...


class WebhookOutbox(Protocol):
    """The dispatcher's private view of the delivery outbox (its own connection; thread-safe
    enough for one dispatcher thread plus its senders, which it serialises)."""

    def due(self, now_ms: int, busy: set[tuple[str, str]], limit: int = 100) -> list[Delivery]:
        """Pending deliveries due at ``now_ms``, each the oldest pending one of its (endpoint,
        session) and not in ``busy``; ordered by id."""
        ...

    def next_due_ms(self) -> int | None:
        ...

    def target(self, webhook_id: str) -> tuple[str, str] | None:
        """``(url, secret)`` of the endpoint, or ``None`` if it was removed."""
        ...

    def record(self, delivery_id: int, *, state: str, next_ms: int, status: int | None,
               error: str | None) -> None:
        """One attempt's result: ``state`` delivered/pending/dead (only a pending delivery
        changes); ``attempts`` grows by one. Need not be durable (at-least-once)."""
        ...

    def close(self) -> None:
        ...


class WebhookStore(Protocol):
    """Webhook endpoints. Deliveries are written by the write transactions themselves (one
    outbox row per event and subscribed endpoint, in the event's transaction)."""

    on_outbox: Callable[[], None] | None
    """Called after a commit that queued deliveries (wakes the dispatcher)."""

    def add_webhook(self, url: str, events: Sequence[str] | None,
                    secret: str | None = None) -> Webhook:
        """``WebhookError`` for a bad URL, event type or secret (``store.webhooks`` rules)."""
        ...

    def webhooks(self) -> list[Webhook]:
        ...

    def webhook(self, webhook_id: str) -> Webhook | None:
        ...

    def remove_webhook(self, webhook_id: str) -> bool:
        """Forget the endpoint and all its deliveries; whether it existed."""
        ...

    def webhook_deliveries(self, webhook_id: str, state: str | None = None,
                           limit: int = 100) -> list[Delivery]:
        """Newest first."""
        ...

    def replay_webhook(self, webhook_id: str, delivery_ids: Sequence[int] | None = None) -> int:
        """Dead deliveries (all, or the ones named) back to pending with a fresh retry
        window; returns how many."""
        ...

    def open_outbox(self) -> WebhookOutbox:
        ...


class FileRecordStore(Protocol):
    """Which session holds which blob (by SHA-256) under which name: the metadata of the
    files a session holds; the bytes are in a ``hub.files.BlobStore`` under
    :attr:`HubStore.blob_dir`, shared by every replica."""

    def add(self, session_id: str, blob: StoredBlob, name: str) -> tuple[FileInfo, bool]:
        """Record the blob as a file of the session (idempotent); ``(info, created)``."""
        ...

    def get(self, session_id: str, file_id: str) -> FileInfo | None:
        ...

    def is_used(self, sha256: str) -> bool:
        """Whether any session holds this blob (an unused one may be deleted)."""
        ...

    def of_session(self, session_id: str) -> list[FileInfo]:
        """Oldest first (then by id)."""
        ...


@dataclass(frozen=True)
class JobRecord:
    """A transcription job as stored: ``params`` is the job's parameters as JSON text."""

    session_id: str
    file_id: str
    state: str  # queued, running, done, failed, cancelled
    percent: int
    segments: int
    error: str | None
    params: str


# The job fields a worker may change.
JOB_FIELDS = frozenset({"state", "percent", "segments", "error"})


class JobStore(Protocol):
    """Transcription jobs of imported recordings, shared by every replica. A job is run by
    the replica holding its lease (``owner``, renewed while it runs); when a replica dies its
    leases run out and another one claims its unfinished jobs and resumes them."""

    def create_job(self, session_id: str, file_id: str, params: str, *, owner: str,
                   lease_ms: int) -> None:
        """A queued job, leased to ``owner`` (the replica that will run it) for ``lease_ms``."""
        ...

    def update_job(self, session_id: str, **fields: Any) -> None:
        """Change some of :data:`JOB_FIELDS` (``ValueError`` for another name)."""
        ...

    def job(self, session_id: str) -> JobRecord | None:
        ...

    def claim_jobs(self, owner: str, lease_ms: int, limit: int = 16) -> list[str]:
        """Unfinished jobs no live replica holds (never leased, or lease run out), now leased
        to ``owner``; oldest first. Two replicas never claim the same job at once."""
        ...

    def renew_jobs(self, owner: str, session_ids: Sequence[str], lease_ms: int) -> list[str]:
        """Extend ``owner``'s leases of these unfinished jobs; returns the ones it still
        holds (a lease that ran out and was claimed by another replica is lost)."""
        ...


class FileStore(FileRecordStore, JobStore, Protocol):
    """Files and transcription jobs, on a connection of their own (:meth:`HubStore.
    open_files`): SQLite ``store/sqlite/files.py``, PostgreSQL ``store/postgres/files.py``."""

    def close(self) -> None:
        ...


class HubStore(EventStore, SessionStore, AccountStore, WebhookStore, Protocol):
    """Everything the hub needs of its database."""

    @property
    def path(self) -> Path:
        """Where this hub's data lives on this machine (SQLite: the database file;
        PostgreSQL: the ``--files-dir`` folder)."""
        ...

    @property
    def blob_dir(self) -> Path:
        """The folder of the content-addressed blob store (``hub.files.LocalBlobStore``);
        with several replicas, one folder shared by all of them."""
        ...

    def open_files(self) -> FileStore:
        """File records and transcription jobs on a connection of their own (closed by the
        caller)."""
        ...

    def close(self) -> None:
        """Release every connection; later calls raise :class:`StoreUnavailable`
        (``unavailable``). Idempotent."""
        ...
