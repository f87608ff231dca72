"""What the SQLite and PostgreSQL file stores share: the columns of their ``files`` and
``transcriptions`` rows and how a row becomes a :class:`FileInfo`; only placeholders and the
leasing SQL differ (``store/sqlite/files.py``, ``store/postgres/files.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from supervisor_desk.hub.store.interface import JOB_FIELDS
from supervisor_desk.models.wire import FileInfo, format_timestamp

FILE_COLUMNS = "session_id, id, name, mime, size, created_ms"
JOB_COLUMNS = "session_id, file_id, state, percent, segments, error, params"


def job_assignments(fields: dict[str, Any], placeholder: str) -> str:
    """``state = ?, percent = ?`` of a job update (names checked: they go into the SQL)."""
    unknown = set(fields) - JOB_FIELDS
    if unknown or not fields:
        raise ValueError(f"not job fields: {sorted(unknown) or 'none given'}")
    return ", ".join(f"{key} = {placeholder}" for key in fields)


def file_info(row: Sequence[Any]) -> FileInfo:
    session_id, file_id, name, mime, size, created_ms = row
    return FileInfo(
        id=file_id, session_id=session_id, name=name, mime=mime, size=size,
        url=f"hub:{file_id}",
        created_at=format_timestamp(datetime.fromtimestamp(created_ms / 1000, UTC)),
    )
