"""SessionFilter / SortSpec -> SQL over the ``sessions`` table (SQLite dialect): lists, metric
counts and the export stream.

Every value travels as a bound parameter; only column names and operators chosen here from
fixed tables are spliced into the text, so hostile filter values cannot change the query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from supervisor_desk.hub.store.filter_sql import column_clauses
from supervisor_desk.models.filters import (
    SessionFilter,
    SortSpec,
    normalize_words,
)
from supervisor_desk.models.metrics import assemble_metrics, recent_cutoff_ms

# Every filterable column is in this index (schema migration 2): scanning it is a scan of a
# narrow copy of the table.
_NARROW = "INDEXED BY sessions_narrow"


def fts_query(text: str) -> str:
    """All words of ``text`` as FTS5 phrases (implicit AND): every word in one message."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in normalize_words(text))


def where(flt: SessionFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.text is not None:
        # First: a test of the rowid every index ends with, before any column that needs the
        # session row (schema migration 7).
        clauses.append(
            "rowid IN (SELECT m.session_rowid FROM message_session_rows m WHERE m.rowid IN "
            "(SELECT rowid FROM message_fts WHERE message_fts MATCH ?))"
        )
        params.append(fts_query(flt.text))
    if flt.q is not None:
        needle = flt.q.lower()
        clauses.append("(substr(id_lower, 1, ?) = ? OR instr(search, ?) > 0)")
        params += [len(needle), needle, needle]
    if flt.user is not None:
        clauses.append("instr(user_search, ?) > 0")
        params.append(flt.user.lower())
    if flt.country is not None:
        clauses.append("country_code = ?")
        params.append(flt.country.upper())
    if flt.ip is not None:
        clauses.append("ip = ?")
        params.append(flt.ip)
    for column, values in (
        ("agent_id", flt.agent),
        ("channel", flt.channel),
        ("status", flt.status),
        ("operator_id", flt.operator),
        ("team", flt.team),
    ):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += list(values)
    more, more_params = column_clauses(flt, "?")
    clauses += more
    params += more_params
    return (" AND ".join(clauses) or "1"), params


def order_by(sort: SortSpec, now_ms: int) -> tuple[str, list[Any]]:
    direction = "DESC" if sort.descending else "ASC"
    params: list[Any] = []
    match sort.key:
        case "started_at":
            expr = "started_ms"
        case "last_message_at":
            expr = "last_ms"
        case "ended_at":
            expr = "ended_ms"
        case "message_count":
            expr = "message_count"
        case "wait":
            expr = "(COALESCE(accepted_ms, ended_ms, ?) - queued_ms)"
            params.append(now_ms)
        case _:
            expr = "(COALESCE(ended_ms, ?) - started_ms)"
            params.append(now_ms)
    return f"{expr} {direction}, id {direction}", params


def _list_index(flt: SessionFilter) -> str:
    """The index a list or count walks: a team's sessions (schema migration 12; ``team`` is
    a column of the JSON doc, which the narrow copy does not hold) when the filter names
    teams, else the narrow copy of every session."""
    if flt.team:
        return "INDEXED BY sessions_team_analytics"
    return _NARROW


def _text_index(flt: SessionFilter) -> str:
    """The index a full-text list walks: a team's, an agent's or a channel's sessions (in
    start order) when the filter names some, else the narrow copy of every session. Either way
    the match is a test of the index's rowid (see :func:`where`), so only matching sessions
    are read."""
    if flt.team:
        return _list_index(flt)
    if flt.agent:
        return "INDEXED BY sessions_agent"
    if flt.channel:
        return "INDEXED BY sessions_channel"
    return _NARROW


def page(
    conn: sqlite3.Connection,
    flt: SessionFilter,
    sort: SortSpec,
    offset: int,
    limit: int,
    now_ms: int,
) -> tuple[int, list[str]]:
    clause, params = where(flt)
    order, order_params = order_by(sort, now_ms)
    conn.execute("BEGIN")
    try:
        # Filter, count and order on the narrow covering index; read the wide JSON docs of
        # the one page only.
        if flt.text is not None:
            # One pass gives the page and the total (the window sees every match before
            # LIMIT), so the full-text match runs once, not twice.
            rows = conn.execute(
                f"SELECT rowid, COUNT(*) OVER () FROM sessions {_text_index(flt)} "
                f"WHERE {clause} "
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, *order_params, limit, offset],
            ).fetchall()
            rowids = [row[0] for row in rows]
            # No row: nothing matches at all, unless the page starts past the end.
            total = rows[0][1] if rows else (0 if offset == 0 else -1)
        else:
            # Cheap filters: count on the index, and let an ordered scan stop at the page.
            rowids = [
                row[0]
                for row in conn.execute(
                    f"SELECT rowid FROM sessions {_list_index(flt)} WHERE {clause} "
                    f"ORDER BY {order} LIMIT ? OFFSET ?",
                    [*params, *order_params, limit, offset],
                )
            ]
            total = -1
        if total < 0:
            index = _list_index(flt) if flt.text is None else _text_index(flt)
            total = conn.execute(
                f"SELECT COUNT(*) FROM sessions {index} WHERE {clause}", params
            ).fetchone()[0]
        found = dict(
            conn.execute(
                f"SELECT rowid, doc FROM sessions WHERE rowid IN ({','.join('?' * len(rowids))})",
                rowids,
            ).fetchall()
        ) if rowids else {}
    finally:
        conn.execute("COMMIT")
    return total, [found[r] for r in rowids]


def metrics(conn: sqlite3.Connection, flt: SessionFilter, now_ms: int) -> dict[str, Any]:
    """Counts in SQL; what they mean (live, top channel, longest wait) is models/metrics.py."""
    clause, params = where(flt)
    index = _list_index(flt)
    conn.execute("BEGIN")
    try:
        total, recent, oldest_waiting_since = conn.execute(
            "SELECT COUNT(*), "
            "COALESCE(SUM(started_ms >= ?), 0), "
            "MIN(CASE WHEN status = 'queued' THEN COALESCE(queued_ms, started_ms) END) "
            f"FROM sessions {index} WHERE {clause}",
            [recent_cutoff_ms(now_ms), *params],
        ).fetchone()
        by_channel = dict(
            conn.execute(
                f"SELECT channel, COUNT(*) FROM sessions {index} WHERE {clause} GROUP BY channel",
                params,
            ).fetchall()
        )
        by_status = dict(
            conn.execute(
                f"SELECT status, COUNT(*) FROM sessions {index} WHERE {clause} GROUP BY status",
                params,
            ).fetchall()
        )
    finally:
        conn.execute("COMMIT")
    return assemble_metrics(
        total=total, recent_24h=recent, by_channel=by_channel, by_status=by_status,
        oldest_waiting_since_ms=oldest_waiting_since, now_ms=now_ms,
    ).model_dump(mode="json")


def export_rows(
    conn: sqlite3.Connection, flt: SessionFilter, sort: SortSpec, now_ms: int, chunk: int = 200
) -> Iterator[list[tuple[str, list[str], list[str], list[str]]]]:
    """Chunks of ``(session, messages, system logs, trace logs)`` JSON, in one read snapshot.

    The caller owns ``conn`` (a private connection) and iterates from one thread at a time;
    only one chunk is in memory at once.
    """
    clause, params = where(flt)
    order, order_params = order_by(sort, now_ms)
    conn.execute("BEGIN")
    try:
        cursor = conn.execute(
            f"SELECT id, doc FROM sessions WHERE {clause} ORDER BY {order}",
            [*params, *order_params],
        )
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                break
            ids = [row[0] for row in rows]
            marks = ",".join("?" * len(ids))
            messages: dict[str, list[str]] = {i: [] for i in ids}
            for session_id, doc in conn.execute(
                f"SELECT session_id, doc FROM messages WHERE session_id IN ({marks}) "
                "ORDER BY session_id, seq",
                ids,
            ):
                messages[session_id].append(doc)
            logs: dict[tuple[str, str], list[str]] = {}
            for session_id, kind, doc in conn.execute(
                f"SELECT session_id, kind, doc FROM logs WHERE session_id IN ({marks}) "
                "ORDER BY rowid",
                ids,
            ):
                logs.setdefault((session_id, kind), []).append(doc)
            yield [
                (doc, messages[sid], logs.get((sid, "system"), []), logs.get((sid, "trace"), []))
                for sid, doc in rows
            ]
    finally:
        conn.execute("COMMIT")
