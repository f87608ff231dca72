"""The Analytics report computed inside PostgreSQL: buckets, counts and percentiles in SQL.

The same definition as ``models/analytics.py`` (offline review) and ``store/sqlite/analytics.py``
(tests/hub/postgres/test_differential.py holds the three equal): the database hands back a
few hundred grouped rows, which :func:`models.analytics.report_from_aggregates` turns into the
report, as on SQLite.

One statement: the sessions that lived in the range and match the filter are read once into a
materialised CTE (those that started in the range along the covering index
``sessions_analytics``, those that started before it and had not ended by its start through
the end-time index), and every chart is a ``GROUP BY`` over it, the results stacked with
``UNION ALL`` in one row shape tagged by :class:`Part`. Percentiles are nearest-rank, picked
by ``row_number()`` against integer ranks (``percentile_disc`` compares floating fractions).
Who is active now reads the whole table's active sessions (its own branch).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import psycopg

from supervisor_desk.hub.store.postgres.query import where
from supervisor_desk.models.analytics import (
    MESSAGE_BINS,
    Aggregates,
    AnalyticsReport,
    Picks,
    TimeRange,
    report_from_aggregates,
)
from supervisor_desk.models.filters import SessionFilter


class Part(IntEnum):
    """Which chart a result row belongs to (the statement's first column)."""

    SESSIONS = 0
    LIVE_IN = 1
    LIVE_OUT = 2
    QUEUE_IN = 3
    QUEUE_OUT = 4
    SLA = 5
    WAITS = 6
    OUTCOMES = 7
    END_REASONS = 8
    STARTED = 9
    MESSAGE_BINS = 10
    AGENTS = 11
    TEAMS = 12
    DURATIONS = 13
    OPERATORS = 14
    ACTIVE = 15


_COLUMNS = (
    "channel, status, end_reason, agent_id, agent_name, team, responsible_kind, operator_id, "
    "operator_name, started_ms, queued_ms, accepted_ms, ended_ms, message_count"
)
# First bucket whose state (just before its end, or now) counts an instant: 0 before the
# range, -1 (none) after now or the range (models.analytics.first_counting_bucket).
_FIRST = ("CASE WHEN {c} > %(n)s OR {c} >= %(e)s THEN -1 WHEN {c} < %(s)s THEN 0 "
          "ELSE ({c} - %(s)s) / %(z)s END")
_BUCKET = "({c} - %(s)s) / %(z)s"
_IN_RANGE = "{c} >= %(s)s AND {c} < %(e)s"
_EXIT = "COALESCE(accepted_ms, ended_ms)"
_MESSAGE_BIN = "CASE " + " ".join(
    f"WHEN message_count <= {high} THEN {i}" for i, high in enumerate(MESSAGE_BINS)
) + f" ELSE {len(MESSAGE_BINS)} END"
# Nearest rank (1-based) of a percentile among n sorted values, in integers
# (models.analytics.percentile_rank).
_RANK = "(({p} * n + 99) / 100)"


def _picks(part: Part, group: str, value: str, where_clause: str, *, keyed: bool) -> str:
    """Count, p50, p90 and max of ``value`` per ``group`` (a bucket, or a key when ``keyed``)
    over the range's sessions."""
    b, k = ("NULL", "g") if keyed else ("g", "NULL")
    return (
        f"SELECT {int(part)}, {b}, {k}, n, max(v) FILTER (WHERE r = {_RANK.format(p=50)}), "
        f"max(v) FILTER (WHERE r = {_RANK.format(p=90)}), max(v), NULL "
        f"FROM (SELECT {group} AS g, {value} AS v, "
        f"row_number() OVER (PARTITION BY {group} ORDER BY {value}) AS r, "
        f"count(*) OVER (PARTITION BY {group}) AS n FROM m WHERE {where_clause}) ranked "
        "GROUP BY g, n"
    )


def _statement(clause: str) -> str:
    first = _FIRST.format
    started = _IN_RANGE.format(c="started_ms")
    queued_in = _IN_RANGE.format(c="queued_ms")
    ended_in = _IN_RANGE.format(c="ended_ms")
    wait = f"GREATEST(0, COALESCE({_EXIT}, %(n)s) - queued_ms)"
    latest = "(array_agg({name} ORDER BY started_ms DESC))[1]"
    branches = [
        # The row shape: part, bucket, key, four counts, a name.
        "SELECT 0 AS part, NULL::bigint AS b, NULL::text AS k, count(*)::bigint AS v1, "
        "NULL::bigint AS v2, NULL::bigint AS v3, NULL::bigint AS v4, NULL::text AS name "
        "FROM m",
        f"SELECT {int(Part.LIVE_IN)}, {first(c='started_ms')}, NULL, count(*), NULL, NULL, "
        "NULL, NULL FROM m GROUP BY 2",
        # The live level drops at a session's end (or its start, if it claims to have ended
        # before it started).
        f"SELECT {int(Part.LIVE_OUT)}, {first(c='GREATEST(ended_ms, started_ms)')}, NULL, "
        "count(*), NULL, NULL, NULL, NULL FROM m WHERE ended_ms IS NOT NULL GROUP BY 2",
        f"SELECT {int(Part.QUEUE_IN)}, {first(c='queued_ms')}, NULL, count(*), NULL, NULL, "
        "NULL, NULL FROM m WHERE queued_ms IS NOT NULL GROUP BY 2",
        f"SELECT {int(Part.QUEUE_OUT)}, {first(c=f'GREATEST({_EXIT}, queued_ms)')}, NULL, "
        f"count(*), NULL, NULL, NULL, NULL FROM m "
        f"WHERE queued_ms IS NOT NULL AND {_EXIT} IS NOT NULL GROUP BY 2",
        # Of the sessions queued in a bucket: accepted within the SLA, and settled (accepted,
        # ended, or already waiting longer than the SLA).
        f"SELECT {int(Part.SLA)}, {_BUCKET.format(c='queued_ms')}, NULL, "
        "sum((accepted_ms IS NOT NULL AND accepted_ms - queued_ms <= %(l)s)::int), "
        "sum((accepted_ms IS NOT NULL OR ended_ms IS NOT NULL "
        "OR %(n)s - queued_ms > %(l)s)::int), NULL, NULL, NULL "
        f"FROM m WHERE {queued_in} GROUP BY 2",
        _picks(Part.WAITS, _BUCKET.format(c="queued_ms"), wait, queued_in, keyed=False),
        f"SELECT {int(Part.OUTCOMES)}, {_BUCKET.format(c='ended_ms')}, status, count(*), "
        f"NULL, NULL, NULL, NULL FROM m WHERE {ended_in} GROUP BY 2, 3",
        f"SELECT {int(Part.END_REASONS)}, {_BUCKET.format(c='ended_ms')}, end_reason, "
        f"count(*), NULL, NULL, NULL, NULL FROM m "
        f"WHERE {ended_in} AND end_reason IS NOT NULL GROUP BY 2, 3",
        f"SELECT {int(Part.STARTED)}, {_BUCKET.format(c='started_ms')}, channel, count(*), "
        f"NULL, NULL, NULL, NULL FROM m WHERE {started} GROUP BY 2, 3",
        f"SELECT {int(Part.MESSAGE_BINS)}, {_MESSAGE_BIN}, NULL, count(*), NULL, NULL, NULL, "
        f"NULL FROM m WHERE {started} GROUP BY 2",
        f"SELECT {int(Part.AGENTS)}, NULL, agent_id, count(*), "
        "sum((responsible_kind = 'human')::int), NULL, max(started_ms), "
        f"{latest.format(name='agent_name')} FROM m WHERE {started} GROUP BY agent_id",
        f"SELECT {int(Part.TEAMS)}, NULL, team, count(*), "
        "sum((responsible_kind = 'human')::int), NULL, NULL, NULL "
        f"FROM m WHERE {started} AND team IS NOT NULL GROUP BY team",
        _picks(Part.DURATIONS, "agent_id", "GREATEST(0, ended_ms - started_ms)",
               f"{started} AND ended_ms IS NOT NULL", keyed=True),
        f"SELECT {int(Part.OPERATORS)}, NULL, operator_id, count(*), "
        "sum((ended_ms IS NOT NULL)::int), "
        "sum(CASE WHEN ended_ms IS NOT NULL "
        "THEN GREATEST(0, ended_ms - COALESCE(accepted_ms, started_ms)) ELSE 0 END)::bigint, "
        f"max(started_ms), {latest.format(name='operator_name')} "
        f"FROM m WHERE {started} AND operator_id IS NOT NULL GROUP BY operator_id",
        # Active now, whatever the range.
        f"SELECT {int(Part.ACTIVE)}, NULL, operator_id, count(*), NULL, NULL, "
        f"max(started_ms), {latest.format(name='operator_name')} FROM sessions "
        f"WHERE status = 'active' AND operator_id IS NOT NULL AND {clause} "
        "GROUP BY operator_id",
    ]
    # The matching sessions that lived in the range: those that started in it (along the
    # covering index in start order), and those that started before it and were still live
    # at its start (through the end-time index: few, unless the range is most of history).
    overlapping = (
        f"SELECT {_COLUMNS} FROM sessions WHERE started_ms >= %(s)s AND started_ms < %(e)s "
        f"AND (ended_ms IS NULL OR ended_ms >= %(s)s) AND {clause} "
        f"UNION ALL SELECT {_COLUMNS} FROM sessions WHERE started_ms < %(s)s "
        f"AND (ended_ms IS NULL OR ended_ms >= %(s)s) AND {clause}"
    )
    return f"WITH m AS MATERIALIZED ({overlapping}) " + " UNION ALL ".join(branches)


def _add(table: dict[Any, int], key: Any, count: int) -> None:
    table[key] = table.get(key, 0) + count


def _aggregates(rows: list[tuple[Any, ...]]) -> Aggregates:
    agg = Aggregates()
    for part, b, k, v1, v2, v3, v4, name in rows:
        match Part(part):
            case Part.SESSIONS:
                agg.sessions = v1
            case Part.LIVE_IN if b >= 0:
                _add(agg.live_in, b, v1)
            case Part.LIVE_OUT if b >= 0:
                _add(agg.live_out, b, v1)
            case Part.QUEUE_IN if b >= 0:
                _add(agg.queue_in, b, v1)
            case Part.QUEUE_OUT if b >= 0:
                _add(agg.queue_out, b, v1)
            case Part.SLA:
                agg.sla[b] = (v1, v2)
            case Part.WAITS:
                agg.waits[b] = Picks(v1, v2, v3, v4)
            case Part.OUTCOMES:
                agg.outcomes[(b, k)] = v1
            case Part.END_REASONS:
                agg.end_reasons[(b, k)] = v1
            case Part.STARTED:
                agg.started[(b, k)] = v1
            case Part.MESSAGE_BINS:
                agg.message_bins[b] = v1
            case Part.AGENTS:
                agg.handover_agent[k] = (v1, v2)
                agg.name(agg.agent_names, k, name, v4)
            case Part.TEAMS:
                agg.handover_team[k] = (v1, v2)
            case Part.DURATIONS:
                agg.durations[k] = Picks(v1, v2, v3, v4)
            case Part.OPERATORS:
                agg.handled[k] = v1
                if v2:
                    agg.handle_times[k] = (v2, v3)
                agg.name(agg.operator_names, k, name, v4)
            case Part.ACTIVE:
                agg.active_now[k] = v1
                agg.name(agg.operator_names, k, name, v4)
    return agg


def analytics(
    conn: psycopg.Connection,
    flt: SessionFilter,
    time_range: TimeRange,
    now_ms: int,
    sla_seconds: int,
) -> AnalyticsReport:
    """The report of the sessions matching ``flt`` (see ``models.analytics``), in one
    statement (so one snapshot)."""
    clause, positional = where(flt)
    # The filter's placeholders are positional (%s), the range's named: name the filter's too.
    parts = clause.split("%s")
    if len(parts) != len(positional) + 1:
        raise ValueError("the filter clause and its parameters do not match")
    params: dict[str, Any] = {
        "s": time_range.start_ms, "e": time_range.end_ms, "z": time_range.bucket_ms,
        "n": now_ms, "l": sla_seconds * 1000,
    }
    named = parts[0]
    for i, part in enumerate(parts[1:]):
        params[f"f{i}"] = positional[i]
        named += f"%(f{i})s" + part
    rows = conn.execute(_statement(named).encode(), params).fetchall()
    return report_from_aggregates(_aggregates(rows), time_range, now_ms, sla_seconds)
