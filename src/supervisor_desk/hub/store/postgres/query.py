"""SessionFilter / SortSpec -> SQL over the ``sessions`` table (PostgreSQL dialect): lists,
metric counts and the export stream. Same meaning as ``store/sqlite/query.py``, word for word.

Every value travels as a bound parameter; only column names and operators chosen here from
fixed tables are spliced into the text, so hostile filter values cannot change the query.
NULLs sort first ascending and last descending, as SQLite sorts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from supervisor_desk.hub.store.filter_sql import column_clauses
from supervisor_desk.models.filters import (
    SessionFilter,
    SortSpec,
    normalize_words,
)
from supervisor_desk.models.metrics import assemble_metrics, recent_cutoff_ms

# The session's team, read from its JSON doc: spelt exactly as the index on it (schema.py).
TEAM_EXPRESSION = "(doc::jsonb ->> 'team')"


def like_escape(text: str) -> str:
    """``text`` matched literally by LIKE (``\\`` is LIKE's default escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def words_vector(text: str | None) -> list[str] | None:
    """The words a message is found by (``array_to_tsvector`` input), ``None`` for no text."""
    if not text:
        return None
    return list(dict.fromkeys(normalize_words(text)))


def ts_query(text: str) -> str:
    """Every word of ``text`` as a quoted lexeme, all required (one message holds them all).
    ``normalize_words`` yields letters and digits only, so quoting needs no escapes."""
    words = normalize_words(text)
    return " & ".join(f"'{word}'" for word in words) if words else "''"


def where(flt: SessionFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.q is not None:
        needle = like_escape(flt.q.lower())
        clauses.append("(id_lower LIKE %s OR search LIKE %s)")
        params += [needle + "%", "%" + needle + "%"]
    if flt.text is not None:
        clauses.append("id IN (SELECT m.session_id FROM messages m WHERE m.words @@ %s::tsquery)")
        params.append(ts_query(flt.text))
    if flt.user is not None:
        clauses.append("user_search LIKE %s")
        params.append("%" + like_escape(flt.user.lower()) + "%")
    if flt.country is not None:
        clauses.append("country_code = %s")
        params.append(flt.country.upper())
    if flt.ip is not None:
        clauses.append("ip = %s")
        params.append(flt.ip)
    for column, values in (
        ("agent_id", flt.agent),
        ("channel", flt.channel),
        ("status", flt.status),
        ("operator_id", flt.operator),
    ):
        if values:
            clauses.append(f"{column} = ANY(%s)")
            params.append(list(values))
    if flt.team:
        # Served by the expression index sessions_team (schema migration 3).
        clauses.append(f"{TEAM_EXPRESSION} = ANY(%s)")
        params.append(list(flt.team))
    more, more_params = column_clauses(flt, "%s")
    clauses += more
    params += more_params
    return (" AND ".join(clauses) or "TRUE"), params


def order_by(sort: SortSpec, now_ms: int) -> tuple[str, list[Any]]:
    # Nullable keys spell SQLite's NULL order, which their indexes are declared in (a
    # backward scan gives DESC NULLS LAST); NOT NULL keys say nothing, so their plain
    # indexes match too.
    direction = "DESC NULLS LAST" if sort.descending else "ASC NULLS FIRST"
    plain = "DESC" if sort.descending else "ASC"
    params: list[Any] = []
    match sort.key:
        case "started_at":
            expr, direction = "started_ms", plain
        case "last_message_at":
            expr = "last_ms"
        case "ended_at":
            expr = "ended_ms"
        case "message_count":
            expr, direction = "message_count", plain
        case "wait":
            expr = "(COALESCE(accepted_ms, ended_ms, %s::bigint) - queued_ms)"
            params.append(now_ms)
        case _:
            expr = "(COALESCE(ended_ms, %s::bigint) - started_ms)"
            params.append(now_ms)
    return f"{expr} {direction}, id {plain}", params


def page_sql(flt: SessionFilter, sort: SortSpec, offset: int, limit: int, now_ms: int
             ) -> tuple[str, list[Any]]:
    """The list query itself (for ``EXPLAIN`` too)."""
    clause, params = where(flt)
    order, order_params = order_by(sort, now_ms)
    return (f"SELECT doc FROM sessions WHERE {clause} ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, *order_params, limit, offset])


def page(
    conn: psycopg.Connection,
    flt: SessionFilter,
    sort: SortSpec,
    offset: int,
    limit: int,
    now_ms: int,
) -> tuple[int, list[str]]:
    """Page and total from one snapshot (the caller's REPEATABLE READ transaction)."""
    clause, params = where(flt)
    sql, page_params = page_sql(flt, sort, offset, limit, now_ms)
    docs = [row[0] for row in conn.execute(sql.encode(), page_params)]
    if offset == 0 and len(docs) < limit:
        return len(docs), docs
    row = conn.execute(f"SELECT count(*) FROM sessions WHERE {clause}".encode(), params).fetchone()
    return int(row[0]) if row else 0, docs


def metrics(conn: psycopg.Connection, flt: SessionFilter, now_ms: int) -> dict[str, Any]:
    """Counts in SQL; what they mean (live, top channel, longest wait) is models/metrics.py."""
    clause, params = where(flt)
    row = conn.execute(
        ("SELECT count(*), "
         "COALESCE(sum((started_ms >= %s)::int), 0), "
         "min(CASE WHEN status = 'queued' THEN COALESCE(queued_ms, started_ms) END) "
         f"FROM sessions WHERE {clause}").encode(),
        [recent_cutoff_ms(now_ms), *params],
    ).fetchone()
    assert row is not None
    total, recent, oldest_waiting_since = row
    by_channel: dict[str, int] = dict(conn.execute(
        f"SELECT channel, count(*) FROM sessions WHERE {clause} GROUP BY channel".encode(),
        params).fetchall())
    by_status: dict[str, int] = dict(conn.execute(
        f"SELECT status, count(*) FROM sessions WHERE {clause} GROUP BY status".encode(),
        params).fetchall())
    return assemble_metrics(
        total=int(total), recent_24h=int(recent), by_channel=by_channel, by_status=by_status,
        oldest_waiting_since_ms=oldest_waiting_since, now_ms=now_ms,
    ).model_dump(mode="json")


def export_rows(
    conn: psycopg.Connection, flt: SessionFilter, sort: SortSpec, now_ms: int, chunk: int = 200
) -> Iterator[list[tuple[str, list[str], list[str], list[str]]]]:
    """Chunks of ``(session, messages, system logs, trace logs)`` JSON; the caller holds
    ``conn`` in one REPEATABLE READ transaction for the whole stream."""
    clause, params = where(flt)
    order, order_params = order_by(sort, now_ms)
    with conn.cursor(name="export_sessions") as cursor:
        cursor.execute(
            f"SELECT id, doc FROM sessions WHERE {clause} ORDER BY {order}".encode(),
            [*params, *order_params])
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                break
            ids = [row[0] for row in rows]
            messages: dict[str, list[str]] = {i: [] for i in ids}
            for session_id, doc in conn.execute(
                "SELECT session_id, doc FROM messages WHERE session_id = ANY(%s) "
                "ORDER BY session_id, seq", (ids,)):
                messages[session_id].append(doc)
            logs: dict[tuple[str, str], list[str]] = {}
            for session_id, kind, doc in conn.execute(
                "SELECT session_id, kind, doc FROM logs WHERE session_id = ANY(%s) "
                "ORDER BY row_id", (ids,)):
                logs.setdefault((session_id, kind), []).append(doc)
            yield [
                (doc, messages[sid], logs.get((sid, "system"), []), logs.get((sid, "trace"), []))
                for sid, doc in rows
            ]
