"""Analytics facts in SQLite (the list, metrics and export SQL is in ``store/sqlite/query.py``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from supervisor_desk.hub.store.sqlite.query import where
from supervisor_desk.models.filters import SessionFilter

__all__ = ["analytics_facts", "where"]


# The columns of SessionFacts, in its field order; all in the sessions_analytics index.
_FACT_COLUMNS = (
    "id, channel, status, end_reason, agent_id, agent_name, team, responsible_kind, "
    "operator_id, operator_name, started_ms, queued_ms, accepted_ms, ended_ms, message_count"
)


def analytics_facts(
    conn: sqlite3.Connection, flt: SessionFilter, start_ms: int, end_ms: int
) -> list[tuple[Any, ...]]:
    """Rows for ``models.analytics.SessionFacts`` of the matching sessions that overlap
    ``[start_ms, end_ms)``, plus the active ones with an operator (for "active now")."""
    clause, params = where(flt)
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            f"SELECT {_FACT_COLUMNS} FROM sessions INDEXED BY sessions_analytics "
            f"WHERE started_ms < ? AND (ended_ms IS NULL OR ended_ms >= ?) AND {clause}",
            [end_ms, start_ms, *params],
        ).fetchall()
        rows += conn.execute(
            f"SELECT {_FACT_COLUMNS} FROM sessions WHERE status = 'active' "
            "AND operator_id IS NOT NULL AND started_ms >= ? AND " + clause,
            [end_ms, *params],
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    return rows
