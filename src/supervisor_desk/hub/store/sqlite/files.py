"""Files and transcription jobs in SQLite (the ``files`` and ``transcriptions`` tables,
schema 4): the :class:`~supervisor_desk.hub.store.interface.FileStore` of the SQLite backend.

On a connection of its own (writes are rare: one per upload, one per job's progress). One
SQLite file is one hub process, so a job's lease is this object's memory: every unfinished
job is claimed once, by the first ``claim_jobs`` after the hub started.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supervisor_desk.hub.files import StoredBlob
from supervisor_desk.hub.store.file_rows import (
    FILE_COLUMNS,
    JOB_COLUMNS,
    file_info,
    job_assignments,
)
from supervisor_desk.hub.store.interface import JobRecord
from supervisor_desk.hub.store.sqlite.faults import translated
from supervisor_desk.models.wire import FileInfo


class SqliteFiles:
    """The ``files`` and ``transcriptions`` tables on a connection of their own."""

    def __init__(self, db_path: Path) -> None:
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        self._claimed: set[str] = set()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock, translated():
            return self._conn.execute(sql, args)

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock, translated():
            return self._conn.execute(sql, args).fetchall()

    # Files

    def add(self, session_id: str, blob: StoredBlob, name: str) -> tuple[FileInfo, bool]:
        cursor = self._execute(
            f"INSERT OR IGNORE INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, blob.sha256, name, blob.mime, blob.size, int(time.time() * 1000)))
        created = cursor.rowcount == 1
        info = self.get(session_id, blob.sha256)
        assert info is not None
        return info, created

    def get(self, session_id: str, file_id: str) -> FileInfo | None:
        rows = self._rows(f"SELECT {FILE_COLUMNS} FROM files WHERE session_id = ? AND id = ?",
                          (session_id, file_id))
        return file_info(rows[0]) if rows else None

    def is_used(self, sha256: str) -> bool:
        return bool(self._rows("SELECT 1 FROM files WHERE id = ? LIMIT 1", (sha256,)))

    def of_session(self, session_id: str) -> list[FileInfo]:
        rows = self._rows(f"SELECT {FILE_COLUMNS} FROM files WHERE session_id = ? "
                          "ORDER BY created_ms, id", (session_id,))
        return [file_info(row) for row in rows]

    # Transcription jobs

    def create_job(self, session_id: str, file_id: str, params: str, *, owner: str,
                   lease_ms: int) -> None:
        now = int(time.time() * 1000)
        self._execute(
            "INSERT INTO transcriptions (session_id, file_id, state, percent, segments, "
            "params, error, created_ms, updated_ms) VALUES (?, ?, 'queued', 0, 0, ?, NULL, ?, ?)",
            (session_id, file_id, params, now, now))
        self._claimed.add(session_id)

    def update_job(self, session_id: str, **fields: Any) -> None:
        names = job_assignments(fields, "?")
        self._execute(f"UPDATE transcriptions SET {names}, updated_ms = ? WHERE session_id = ?",
                      (*fields.values(), int(time.time() * 1000), session_id))

    def job(self, session_id: str) -> JobRecord | None:
        rows = self._rows(f"SELECT {JOB_COLUMNS} FROM transcriptions WHERE session_id = ?",
                          (session_id,))
        return JobRecord(*rows[0]) if rows else None

    def claim_jobs(self, owner: str, lease_ms: int, limit: int = 16) -> list[str]:
        rows = self._rows("SELECT session_id FROM transcriptions "
                          "WHERE state IN ('queued', 'running') ORDER BY created_ms")
        fresh = [row[0] for row in rows if row[0] not in self._claimed][:limit]
        self._claimed.update(fresh)
        return fresh

    def renew_jobs(self, owner: str, session_ids: Sequence[str], lease_ms: int) -> list[str]:
        return [s for s in session_ids if s in self._claimed]
