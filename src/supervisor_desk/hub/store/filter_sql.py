"""The part of a session filter's WHERE clause both SQL backends spell the same way.

Plain comparisons on the sessions table's own columns (responsible kind, the time columns,
message counts, attachments, live); only the parameter marker differs (``?`` for SQLite, ``%s``
for psycopg). The rest (search, text, id lists) is per backend: it leans on each one's indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supervisor_desk.models.filters import SessionFilter, ceil_ms

COUNT_OPS = {"eq": "=", "ne": "!=", "gt": ">", "lt": "<", "ge": ">=", "le": "<="}
TIME_COLUMNS = {
    "started": "started_ms",
    "ended": "ended_ms",
    "last_message": "last_ms",
}


def column_clauses(flt: SessionFilter, mark: str) -> tuple[list[str], list[Any]]:
    """Clauses (AND-ed by the caller) and their parameters, with ``mark`` as the placeholder."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.responsible is not None:
        clauses.append(f"responsible_kind = {mark}")
        params.append(flt.responsible)
    for name, column in TIME_COLUMNS.items():
        after = getattr(flt, f"{name}_after")
        before = getattr(flt, f"{name}_before")
        if after is not None:
            clauses.append(f"{column} >= {mark}")
            params.append(ceil_ms(after))
        if before is not None:
            clauses.append(f"{column} < {mark}")
            params.append(ceil_ms(before))
    if flt.messages is not None:
        clauses.append(f"message_count {COUNT_OPS[flt.messages.op]} {mark}")
        params.append(flt.messages.n)
    if flt.messages_max is not None:
        clauses.append(f"message_count <= {mark}")
        params.append(flt.messages_max)
    if flt.has_attachments is not None:
        clauses.append(f"has_attachments = {mark}")
        params.append(1 if flt.has_attachments else 0)
    if flt.live is not None:
        clauses.append(
            "status IN ('queued', 'active')" if flt.live else "status NOT IN ('queued', 'active')"
        )
    return clauses, params


def named_clause(clause: str, positional: list[Any], mark: str,
                 name: Callable[[str], str]) -> tuple[str, dict[str, Any]]:
    """``clause`` with its positional ``mark`` placeholders renamed ``f0``, ``f1``… (spelled
    by ``name``: ``:f0`` for SQLite, ``%(f0)s`` for psycopg) and their values by name, so a
    statement can mix the filter's parameters with named ones of its own."""
    parts = clause.split(mark)
    if len(parts) != len(positional) + 1:
        raise ValueError("the filter clause and its parameters do not match")
    named = parts[0]
    params: dict[str, Any] = {}
    for i, part in enumerate(parts[1:]):
        params[f"f{i}"] = positional[i]
        named += name(f"f{i}") + part
    return named, params
