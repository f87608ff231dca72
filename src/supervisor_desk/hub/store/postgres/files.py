"""Files and transcription jobs in PostgreSQL (migration 4): the
:class:`~supervisor_desk.hub.store.interface.FileStore` of the PostgreSQL backend, the same
rows as ``store/sqlite/files.py``, shared by every replica (the blobs are in the shared
``--files-dir``).

A job is leased to the replica that runs it (``owner``, ``lease_ms``): created leased to the
replica that received the upload, renewed while it runs. ``claim_jobs`` takes unfinished jobs
whose lease ran out (their replica died) with ``FOR UPDATE SKIP LOCKED``, so two replicas
looking at once never take the same job.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import psycopg

from supervisor_desk.hub.files import StoredBlob
from supervisor_desk.hub.store.file_rows import (
    FILE_COLUMNS,
    JOB_COLUMNS,
    file_info,
    job_assignments,
)
from supervisor_desk.hub.store.interface import JobRecord
from supervisor_desk.hub.store.postgres.faults import translated
from supervisor_desk.hub.store.webhooks import now_ms
from supervisor_desk.models.wire import FileInfo


class PgFiles:
    """The ``files`` and ``transcriptions`` tables on a connection of their own (reopened
    after the database dropped it); calls are serialised on a lock."""

    def __init__(self, dsn: str, connect_timeout: int = 10) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        with translated():
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock, translated():
            if self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(self._dsn, autocommit=True,
                                             connect_timeout=self._timeout)
            cursor = self._conn.execute(sql.encode(), args)
            return cursor.fetchall() if cursor.description else [cursor.rowcount]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # Files

    def add(self, session_id: str, blob: StoredBlob, name: str) -> tuple[FileInfo, bool]:
        inserted = self._rows(
            f"INSERT INTO files ({FILE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (session_id, blob.sha256, name, blob.mime, blob.size, now_ms()))
        info = self.get(session_id, blob.sha256)
        assert info is not None
        return info, inserted == [1]

    def get(self, session_id: str, file_id: str) -> FileInfo | None:
        rows = self._rows(
            f"SELECT {FILE_COLUMNS} FROM files WHERE session_id = %s AND id = %s",
            (session_id, file_id))
        return file_info(rows[0]) if rows else None

    def is_used(self, sha256: str) -> bool:
        return bool(self._rows("SELECT 1 FROM files WHERE id = %s LIMIT 1", (sha256,)))

    def of_session(self, session_id: str) -> list[FileInfo]:
        rows = self._rows(f"SELECT {FILE_COLUMNS} FROM files WHERE session_id = %s "
                          "ORDER BY created_ms, id", (session_id,))
        return [file_info(row) for row in rows]

    # Transcription jobs

    def create_job(self, session_id: str, file_id: str, params: str, *, owner: str,
                   lease_ms: int) -> None:
        now = now_ms()
        self._rows(
            "INSERT INTO transcriptions (session_id, file_id, state, percent, segments, "
            "params, error, created_ms, updated_ms, owner, lease_ms) "
            "VALUES (%s, %s, 'queued', 0, 0, %s, NULL, %s, %s, %s, %s)",
            (session_id, file_id, params, now, now, owner, now + lease_ms))

    def update_job(self, session_id: str, **fields: Any) -> None:
        names = job_assignments(fields, "%s")
        self._rows(f"UPDATE transcriptions SET {names}, updated_ms = %s WHERE session_id = %s",
                   (*fields.values(), now_ms(), session_id))

    def job(self, session_id: str) -> JobRecord | None:
        rows = self._rows(
            f"SELECT {JOB_COLUMNS} FROM transcriptions WHERE session_id = %s", (session_id,))
        return JobRecord(*rows[0]) if rows else None

    def claim_jobs(self, owner: str, lease_ms: int, limit: int = 16) -> list[str]:
        now = now_ms()
        rows = self._rows(
            "WITH free AS (SELECT session_id FROM transcriptions "
            "WHERE state IN ('queued', 'running') AND lease_ms < %s "
            "ORDER BY created_ms LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE transcriptions t SET owner = %s, lease_ms = %s FROM free "
            "WHERE t.session_id = free.session_id RETURNING t.session_id, t.created_ms",
            (now, limit, owner, now + lease_ms))
        return [row[0] for row in sorted(rows, key=lambda row: (row[1], row[0]))]

    def renew_jobs(self, owner: str, session_ids: Sequence[str], lease_ms: int) -> list[str]:
        if not session_ids:
            return []
        rows = self._rows(
            "UPDATE transcriptions SET lease_ms = %s WHERE owner = %s AND session_id = ANY(%s) "
            "AND state IN ('queued', 'running') RETURNING session_id",
            (now_ms() + lease_ms, owner, list(session_ids)))
        return [row[0] for row in rows]
