"""The Analytics report computed inside PostgreSQL: buckets, counts and percentiles in SQL.

The same definition as ``models/analytics.py`` (offline review) and ``store/sqlite/analytics.py``
(tests/hub/postgres/test_differential.py holds the three equal): the database hands back a
few hundred grouped rows, which :func:`models.analytics.report_from_aggregates` turns into the
report, as on SQLite.

One statement: the sessions that lived in the range and match the filter are read once into a
materialised CTE (those that started in the range along the covering index
``sessions_analytics``, those that started before it and had not ended by its start), and the
charts are eight hashed ``GROUP BY``s over it, charts that read the same rows sharing one
(starts per bucket, channel and message bin with the live level's rises; the ends with the
live level's drops, outcomes and reasons; the queue's levels with the waits' SLA; agents with
teams), stacked with ``UNION ALL`` in one row shape tagged by :class:`Part`. Percentiles are
nearest-rank: each group's values sorted into an array and read at integer ranks
(``percentile_disc`` compares floating fractions). Who is active now reads the whole table's
active sessions (its own branch).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import psycopg

from supervisor_desk.hub.store.filter_sql import named_clause
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

# Memory for the report's statement (per sort or hash; a report holds one range's rows).
WORK_MEM = "64MB"


class Part(IntEnum):
    """Which statement a result row comes from (its first column)."""

    BEFORE = 0
    STARTS = 1
    ENDS = 2
    QUEUE = 3
    WAITS = 4
    DURATIONS = 5
    AGENTS = 6
    OPERATORS = 7
    ACTIVE = 8


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
    over the range's sessions: each group's values sorted into an array, read at the ranks
    (one sort per group; window functions cost twice as much here)."""
    b, k = ("NULL", "g") if keyed else ("g", "NULL")
    return (
        f"SELECT {int(part)}, {b}, NULL, NULL, {k}, NULL, n, a[{_RANK.format(p=50)}], "
        f"a[{_RANK.format(p=90)}], a[n], NULL "
        "FROM (SELECT g, count(*)::int AS n, array_agg(v ORDER BY v) AS a "
        f"FROM (SELECT {group} AS g, {value} AS v FROM m WHERE {where_clause}) x GROUP BY g) y"
    )


def _statement(clause: str) -> str:
    first = _FIRST.format
    bucket = _BUCKET.format
    wait = f"GREATEST(0, COALESCE({_EXIT}, %(n)s) - queued_ms)"
    branches = [
        # The row shape: part, three buckets, two keys, four counts, a name.
        "SELECT 0 AS part, NULL::bigint AS b, NULL::bigint AS c, NULL::bigint AS d, "
        "NULL::text AS k, NULL::text AS j, count(*)::bigint AS v1, "
        "sum((started_ms <= %(n)s)::int)::bigint AS v2, NULL::bigint AS v3, "
        "NULL::bigint AS v4, NULL::text AS name FROM m WHERE started_ms < %(s)s",
        # Starts per bucket, channel and message bin, and how many of them by now (the live
        # level rises at a start).
        f"SELECT {int(Part.STARTS)}, {bucket(c='started_ms')}, {_MESSAGE_BIN}, NULL, channel, "
        "NULL, count(*), sum((started_ms <= %(n)s)::int), NULL, NULL, NULL "
        "FROM m WHERE started_ms >= %(s)s GROUP BY 2, 3, 5",
        # Ends: the bucket where the live level drops (its end, or its start if it claims to
        # have ended before it started), and the outcome's bucket, status and reason.
        f"SELECT {int(Part.ENDS)}, {first(c='GREATEST(ended_ms, started_ms)')}, "
        f"CASE WHEN {_IN_RANGE.format(c='ended_ms')} THEN {bucket(c='ended_ms')} END, NULL, "
        "status, end_reason, count(*), NULL, NULL, NULL, NULL "
        "FROM m WHERE ended_ms IS NOT NULL GROUP BY 2, 3, 5, 6",
        # The queue: in, out, and of the sessions queued in a bucket those accepted within
        # the SLA and those settled (accepted, ended, or already waiting longer than it).
        f"SELECT {int(Part.QUEUE)}, {first(c='queued_ms')}, "
        f"CASE WHEN {_EXIT} IS NOT NULL THEN {first(c=f'GREATEST({_EXIT}, queued_ms)')} END, "
        f"CASE WHEN {_IN_RANGE.format(c='queued_ms')} THEN {bucket(c='queued_ms')} END, "
        "NULL, NULL, count(*), "
        "sum((accepted_ms IS NOT NULL AND accepted_ms - queued_ms <= %(l)s)::int), "
        "sum((accepted_ms IS NOT NULL OR ended_ms IS NOT NULL "
        "OR %(n)s - queued_ms > %(l)s)::int), NULL, NULL "
        "FROM m WHERE queued_ms IS NOT NULL GROUP BY 2, 3, 4",
        _picks(Part.WAITS, bucket(c="queued_ms"), wait, _IN_RANGE.format(c="queued_ms"),
               keyed=False),
        _picks(Part.DURATIONS, "agent_id", "GREATEST(0, ended_ms - started_ms)",
               "started_ms >= %(s)s AND ended_ms IS NOT NULL", keyed=True),
        # Hand-over per agent and team (a handful of teams per agent), and each name an agent
        # had with its latest start (the report names a key after its latest session: a
        # name is a group of its own rather than a value sorted out of each group).
        f"SELECT {int(Part.AGENTS)}, NULL, NULL, NULL, agent_id, team, count(*), "
        "sum((responsible_kind = 'human')::int), NULL, max(started_ms), agent_name "
        "FROM m WHERE started_ms >= %(s)s GROUP BY 5, 6, 11",
        f"SELECT {int(Part.OPERATORS)}, NULL, NULL, NULL, operator_id, NULL, count(*), "
        "sum((ended_ms IS NOT NULL)::int), "
        "sum(CASE WHEN ended_ms IS NOT NULL "
        "THEN GREATEST(0, ended_ms - COALESCE(accepted_ms, started_ms)) ELSE 0 END)::bigint, "
        "max(started_ms), operator_name "
        "FROM m WHERE started_ms >= %(s)s AND operator_id IS NOT NULL GROUP BY 5, 11",
        # Active now, whatever the range.
        f"SELECT {int(Part.ACTIVE)}, NULL, NULL, NULL, operator_id, NULL, count(*), NULL, "
        "NULL, max(started_ms), operator_name FROM sessions "
        f"WHERE status = 'active' AND operator_id IS NOT NULL AND {clause} GROUP BY 5, 11",
    ]
    # The matching sessions that lived in the range: those that started in it (along the
    # covering index in start order), and those that started before it and were still live
    # at its start (few, unless the range is most of the history).
    overlapping = (
        f"SELECT {_COLUMNS} FROM sessions WHERE started_ms >= %(s)s AND started_ms < %(e)s "
        f"AND (ended_ms IS NULL OR ended_ms >= %(s)s) AND {clause} "
        f"UNION ALL SELECT {_COLUMNS} FROM sessions WHERE ended_ms IS NULL "
        f"AND started_ms < %(s)s AND {clause} "
        f"UNION ALL SELECT {_COLUMNS} FROM sessions WHERE ended_ms >= %(s)s "
        f"AND started_ms < %(s)s AND {clause}"
    )
    return f"WITH m AS MATERIALIZED ({overlapping}) " + " UNION ALL ".join(branches)


def _add(table: dict[Any, int], key: Any, count: int) -> None:
    table[key] = table.get(key, 0) + count


def _aggregates(rows: list[tuple[Any, ...]]) -> Aggregates:
    agg = Aggregates()
    for part, b, c, d, k, j, v1, v2, v3, v4, name in rows:
        match Part(part):
            case Part.BEFORE:
                agg.sessions += v1
                if v2:
                    _add(agg.live_in, 0, v2)
            case Part.STARTS:
                agg.sessions += v1
                _add(agg.started, (b, k), v1)
                _add(agg.message_bins, c, v1)
                if v2:
                    _add(agg.live_in, b, v2)
            case Part.ENDS:
                if b >= 0:
                    _add(agg.live_out, b, v1)
                if c is not None:
                    _add(agg.outcomes, (c, k), v1)
                    if j is not None:
                        _add(agg.end_reasons, (c, j), v1)
            case Part.QUEUE:
                if b >= 0:
                    _add(agg.queue_in, b, v1)
                if c is not None and c >= 0:
                    _add(agg.queue_out, c, v1)
                if d is not None:
                    hits, settled = agg.sla.get(d, (0, 0))
                    agg.sla[d] = (hits + v2, settled + v3)
            case Part.WAITS:
                agg.waits[b] = Picks(v1, v2, v3, v4)
            case Part.DURATIONS:
                agg.durations[k] = Picks(v1, v2, v3, v4)
            case Part.AGENTS:
                total, humans = agg.handover_agent.get(k, (0, 0))
                agg.handover_agent[k] = (total + v1, humans + v2)
                agg.name(agg.agent_names, k, name, v4)
                if j is not None:
                    total, humans = agg.handover_team.get(j, (0, 0))
                    agg.handover_team[j] = (total + v1, humans + v2)
            case Part.OPERATORS:
                _add(agg.handled, k, v1)
                if v2:
                    ended, total_ms = agg.handle_times.get(k, (0, 0))
                    agg.handle_times[k] = (ended + v2, total_ms + v3)
                agg.name(agg.operator_names, k, name, v4)
            case Part.ACTIVE:
                _add(agg.active_now, k, v1)
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
    # The filter's placeholders are positional (%s), the range's named: name the filter's too.
    named, params = named_clause(*where(flt), "%s", lambda key: f"%({key})s")
    params.update({
        "s": time_range.start_ms, "e": time_range.end_ms, "z": time_range.bucket_ms,
        "n": now_ms, "l": sla_seconds * 1000,
    })
    # The range's rows (100,000 sessions: ~12 MB materialised) and the sorts of the percentile
    # groups stay in memory for this statement (the server's default of 4 MB wrote the
    # materialised rows to a temporary file, read back by each of the eight charts); LOCAL:
    # only this read-only transaction (the store's snapshot), not the pooled connection.
    conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    # Never prepared: a generic plan cannot know how much of the history the range holds
    # (psycopg prepares a statement run five times; the server then may stop planning it for
    # the range at hand).
    rows = conn.execute(_statement(named).encode(), params, prepare=False).fetchall()
    return report_from_aggregates(_aggregates(rows), time_range, now_ms, sla_seconds)
