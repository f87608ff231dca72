"""The ``files`` table (schema 4) in SQLite: which session holds which blob under which name.

On a connection of its own (writes are rare: one per upload); the transcription jobs
(``hub/transcribe/jobs.py``) share the connection and its lock for their own table.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from supervisor_desk.hub.files import StoredBlob
from supervisor_desk.models.wire import FileInfo, format_timestamp


class FileRecords:
    """The ``files`` table on a connection of its own (writes are rare: one per upload)."""

    def __init__(self, db_path: Path) -> None:
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(self, session_id: str, blob: StoredBlob, name: str) -> tuple[FileInfo, bool]:
        """Record the blob as a file of the session; ``(info, created)``."""
        with self._lock:
            now = int(time.time() * 1000)
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO files (session_id, id, name, mime, size, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, blob.sha256, name, blob.mime, blob.size, now),
            )
            created = cursor.rowcount == 1
        info = self.get(session_id, blob.sha256)
        assert info is not None
        return info, created

    def get(self, session_id: str, file_id: str) -> FileInfo | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT session_id, id, name, mime, size, created_ms FROM files "
                "WHERE session_id = ? AND id = ?", (session_id, file_id),
            ).fetchone()
        return _info(row) if row else None

    def is_used(self, sha256: str) -> bool:
        """Whether any session holds this blob (an unused one may be deleted)."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM files WHERE id = ? LIMIT 1", (sha256,))
            return row.fetchone() is not None

    def of_session(self, session_id: str) -> list[FileInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT session_id, id, name, mime, size, created_ms FROM files "
                "WHERE session_id = ? ORDER BY created_ms, id", (session_id,),
            ).fetchall()
        return [_info(row) for row in rows]


def _info(row: tuple[str, str, str, str, int, int]) -> FileInfo:
    session_id, file_id, name, mime, size, created_ms = row
    return FileInfo(
        id=file_id, session_id=session_id, name=name, mime=mime, size=size,
        url=f"hub:{file_id}",
        created_at=format_timestamp(datetime.fromtimestamp(created_ms / 1000, UTC)),
    )
