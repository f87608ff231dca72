"""The Analytics report computed inside SQLite: buckets, counts and percentiles in SQL.

``models/analytics.py`` defines every figure (and computes them in Python for offline review);
this module is the same definition as aggregate SQL, so the hub hands back a few hundred
grouped rows instead of one row per session. ``tests/hub/test_analytics_api.py`` holds the two
equal on random filters, ranges, buckets and SLAs.

A few statements in one read transaction, each along a covering index: the sessions in the
range from ``sessions_analytics`` (in start order), and, for a range holding most of the
history, the per-agent figures from ``sessions_agent_durations`` (in agent and duration
order, so neither the agents' counts nor their durations are sorted) and the queue from
``sessions_queued_analytics`` (the queued sessions only) and the operators from
``sessions_operator_analytics``, the teams from ``sessions_team_analytics`` (each in its own
order); the outcomes and end reasons from
``sessions_ended_analytics`` (in end order, bucket by bucket), the waits from the queued.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from supervisor_desk.hub.store.filter_sql import named_clause
from supervisor_desk.hub.store.sqlite.query import where
from supervisor_desk.models.analytics import (
    MESSAGE_BINS,
    Aggregates,
    AnalyticsReport,
    Picks,
    TimeRange,
    percentile_rank,
    report_from_aggregates,
)
from supervisor_desk.models.filters import SessionFilter

_RANGE = "started_ms < :e AND (ended_ms IS NULL OR ended_ms >= :s)"
_FROM = "FROM sessions INDEXED BY sessions_analytics"
_COLUMNS = (
    "channel, status, end_reason, agent_id, agent_name, team, responsible_kind, operator_id, "
    "operator_name, started_ms, queued_ms, accepted_ms, ended_ms, message_count"
)
# Sessions that started before the range and still lived in it: found through the end-time
# index when few ended after its start (a recent range: the live tail's case, where the
# covering index would be walked over the whole history), else along the covering index.
RECENT_ROWS = 2000
# A range holding at least this share of the history's time (oldest start to now) reads the
# per-agent figures along the index in agent and duration order (schema 8): walking every
# session there costs less than sorting the range's.
BY_AGENT_SHARE = 0.5
_BY_AGENT = "FROM sessions INDEXED BY sessions_agent_durations"
_BY_END = "FROM sessions INDEXED BY sessions_ended_analytics"
_QUEUED = "FROM sessions INDEXED BY sessions_queued_analytics"
_BY_OPERATOR = "FROM sessions INDEXED BY sessions_operator_analytics"
_BY_TEAM = "FROM sessions INDEXED BY sessions_team_analytics"
# The index's second column: the same expression orders it and gives the duration.
_DURATION = "MAX(0, ended_ms - started_ms)"
# First bucket whose state (just before its end, or now) counts an instant: 0 before the
# range, none after now or the range (models.analytics.first_counting_bucket).
_FIRST = "CASE WHEN {c} > :n OR {c} >= :e THEN -1 WHEN {c} < :s THEN 0 ELSE ({c} - :s) / :z END"
_EXIT = "COALESCE(accepted_ms, ended_ms)"
_MESSAGE_BIN = "CASE " + " ".join(
    f"WHEN message_count <= {high} THEN {i}" for i, high in enumerate(MESSAGE_BINS)
) + f" ELSE {len(MESSAGE_BINS)} END"


def _before(clause: str, recent: bool) -> str:
    if recent:
        return (f"SELECT {_COLUMNS} FROM sessions INDEXED BY sessions_ended "
                f"WHERE ended_ms IS NULL AND started_ms < :s AND {clause} UNION ALL "
                f"SELECT {_COLUMNS} FROM sessions INDEXED BY sessions_ended "
                f"WHERE ended_ms >= :s AND started_ms < :s AND {clause}")
    return (f"SELECT {_COLUMNS} {_FROM} "
            f"WHERE started_ms < :s AND (ended_ms IS NULL OR ended_ms >= :s) AND {clause}")


def _statements(clause: str, recent: bool, by_agent: bool) -> dict[str, str]:
    """Each chart's SQL. Sorting 100k rows is what costs, so the per-bucket counts of starts
    are read bucket by bucket along the index (no sort), the rest are small GROUP BYs, and
    percentiles are picked by rank from one ordered column (``by_agent``: the agents' figures
    in the order of their index, no sort; teams apart)."""
    first = _FIRST.format
    where = f"{_RANGE} AND {clause}"
    started = "started_ms >= :s"
    before = _before(clause, recent)
    # The matching sessions that lived in the range: those that started in it, and before.
    overlapping = (f"(SELECT {_COLUMNS} {_FROM} WHERE started_ms >= :s AND started_ms < :e "
                   f"AND (ended_ms IS NULL OR ended_ms >= :s) AND {clause} UNION ALL {before})")
    queue_counts = (
        f"SELECT CASE WHEN queued_ms >= :s AND queued_ms < :e THEN (queued_ms - :s) / :z END, "
        f"{first(c='queued_ms')}, "
        f"CASE WHEN {_EXIT} IS NOT NULL THEN {first(c=f'MAX({_EXIT}, queued_ms)')} END, "
        "accepted_ms IS NOT NULL AND accepted_ms - queued_ms <= :l, "
        "accepted_ms IS NOT NULL OR ended_ms IS NOT NULL OR :n - queued_ms > :l, COUNT(*)")
    operator_counts = (
        "SELECT operator_id, COUNT(*), SUM(ended_ms IS NOT NULL), "
        "SUM(CASE WHEN ended_ms IS NOT NULL "
        "THEN MAX(0, ended_ms - COALESCE(accepted_ms, started_ms)) ELSE 0 END), "
        "MAX(started_ms), operator_name")
    statements = {
        # Before the range: they count in the range's sessions and its live level.
        "before": f"SELECT COUNT(*), SUM(started_ms <= :n) FROM ({before})",
        # One bucket's starts: a small sort per bucket costs less than one of the range.
        "bucket": f"SELECT channel, started_ms <= :n, {_MESSAGE_BIN}, COUNT(*) {_FROM} "
                  "WHERE started_ms >= :lo AND started_ms < :hi "
                  f"AND (ended_ms IS NULL OR ended_ms >= :s) AND {clause} GROUP BY 1, 2, 3",
        # The live level drops when a session stops (its end, or its start if it claims to
        # have ended before it started): 0 = at its end, 1 = at its start (rare, counted by
        # "ended_early"), 2 = after now (not yet). The sessions that ended in [:lo, :hi) (the
        # range, or one bucket of it: small sorts) along the index in end order (schema 9).
        "ended": f"SELECT (ended_ms - :s) / :z, CASE WHEN ended_ms > :n THEN 2 "
                 "WHEN ended_ms < started_ms THEN 1 ELSE 0 END, status, end_reason, COUNT(*) "
                 f"{_BY_END} WHERE ended_ms >= :lo AND ended_ms < :hi AND started_ms < :e "
                 f"AND {clause} GROUP BY 1, 2, 3, 4",
        "ended_early": f"SELECT {first(c='started_ms')}, COUNT(*) FROM {overlapping} "
                       "WHERE ended_ms < :e AND ended_ms < started_ms "
                       "AND ended_ms <= :n GROUP BY 1",
        "queue": f"{queue_counts} FROM {overlapping} WHERE queued_ms IS NOT NULL "
                 "GROUP BY 1, 2, 3, 4, 5",
        # Queued in the range: along the index of the queued sessions (schema 10).
        "waits": f"SELECT MAX(0, COALESCE({_EXIT}, :n) - queued_ms) AS w {_QUEUED} "
                 f"WHERE queued_ms >= :s AND queued_ms < :e AND {where} "
                 "ORDER BY (queued_ms - :s) / :z, w",
        # Agents and teams in one sort (a handful of teams per agent).
        "agents": f"SELECT agent_id, team, COUNT(*), SUM(responsible_kind = 'human'), "
                  f"SUM(ended_ms IS NOT NULL), MAX(started_ms), agent_name {_FROM} "
                  f"WHERE {where} AND {started} GROUP BY agent_id, team",
        "durations": f"SELECT MAX(0, ended_ms - started_ms) AS d {_FROM} "
                     f"WHERE {where} AND {started} AND ended_ms IS NOT NULL "
                     "ORDER BY agent_id, d",
        "operators": f"{operator_counts} {_FROM} "
                     f"WHERE {where} AND {started} AND operator_id IS NOT NULL "
                     "GROUP BY operator_id",
        # Active now, whatever the range.
        "active": "SELECT operator_id, COUNT(*), MAX(started_ms), operator_name "
                  "FROM sessions INDEXED BY sessions_status "
                  f"WHERE status = 'active' AND operator_id IS NOT NULL AND {clause} "
                  "GROUP BY operator_id",
    }
    if by_agent:
        del statements["durations"]  # picked one rank at a time instead
        statements |= {
            # Every queued session of the history: fewer than those in the range.
            "queue": f"{queue_counts} {_QUEUED} WHERE queued_ms IS NOT NULL AND {where} "
                     "GROUP BY 1, 2, 3, 4, 5",
            # Every session an operator had, in operator order (schema 11): no sort.
            "operators": f"{operator_counts} {_BY_OPERATOR} "
                         f"WHERE operator_id IS NOT NULL AND {where} AND {started} "
                         "GROUP BY operator_id",
            "agents": f"SELECT agent_id, NULL, COUNT(*), SUM(responsible_kind = 'human'), "
                      f"SUM(ended_ms IS NOT NULL), MAX(started_ms), agent_name {_BY_AGENT} "
                      f"WHERE {where} AND {started} GROUP BY agent_id",
            # In team order (schema 12): no sort.
            "teams": f"SELECT team, COUNT(*), SUM(responsible_kind = 'human') {_BY_TEAM} "
                     f"WHERE team IS NOT NULL AND {where} AND {started} GROUP BY team",
            # One agent's duration at a rank: a walk along its part of the index, no sort.
            "duration_at": f"SELECT {_DURATION} {_BY_AGENT} "
                           f"WHERE agent_id = :agent AND {where} AND {started} "
                           f"AND ended_ms IS NOT NULL ORDER BY {_DURATION} LIMIT 1 OFFSET :k",
            "duration_max": f"SELECT {_DURATION} {_BY_AGENT} "
                            f"WHERE agent_id = :agent AND {where} AND {started} "
                            f"AND ended_ms IS NOT NULL ORDER BY {_DURATION} DESC LIMIT 1",
        }
    return statements


def _picks(values: list[tuple[int]], counts: list[tuple[Any, int]]) -> dict[Any, Picks]:
    """Nearest ranks out of one column ordered by group then value (``counts``: the groups in
    that order and their sizes)."""
    out: dict[Any, Picks] = {}
    offset = 0
    for key, n in counts:
        out[key] = Picks(n, values[offset + percentile_rank(50, n) - 1][0],
                         values[offset + percentile_rank(90, n) - 1][0],
                         values[offset + n - 1][0])
        offset += n
    return out


def _spans(time_range: TimeRange, per_bucket: bool) -> list[tuple[int, int]]:
    """The range as one span, or bucket by bucket."""
    if not per_bucket:
        return [(time_range.start_ms, time_range.end_ms)]
    size = time_range.bucket_ms
    return [(lo, min(lo + size, time_range.end_ms))
            for lo in range(time_range.start_ms, time_range.end_ms, size)]


def _timeline(conn: sqlite3.Connection, sql: dict[str, str], params: dict[str, Any],
              time_range: TimeRange, ends_per_bucket: bool, agg: Aggregates) -> None:
    """The charts over time: sessions, starts per bucket and channel, message bins, the live
    level, outcomes and end reasons (fields no other part writes)."""
    before, live_before = conn.execute(sql["before"], params).fetchone()
    agg.sessions += before
    if live_before:
        agg.live_in[0] = agg.live_in.get(0, 0) + live_before
    bucket_sql = sql["bucket"]
    for b in range(time_range.buckets):
        lo = time_range.start_ms + b * time_range.bucket_ms
        params["lo"], params["hi"] = lo, min(lo + time_range.bucket_ms, time_range.end_ms)
        for channel, by_now, m, count in conn.execute(bucket_sql, params):
            agg.sessions += count
            agg.started[(b, channel)] = agg.started.get((b, channel), 0) + count
            agg.message_bins[m] = agg.message_bins.get(m, 0) + count
            if by_now:
                agg.live_in[b] = agg.live_in.get(b, 0) + count
    early = False
    for params["lo"], params["hi"] in _spans(time_range, ends_per_bucket):
        for b, stop, status, reason, count in conn.execute(sql["ended"], params):
            agg.outcomes[(b, status)] = agg.outcomes.get((b, status), 0) + count
            if reason is not None:
                agg.end_reasons[(b, reason)] = agg.end_reasons.get((b, reason), 0) + count
            if stop == 0:
                agg.live_out[b] = agg.live_out.get(b, 0) + count
            early = early or stop == 1
    if early:
        for k, count in conn.execute(sql["ended_early"], params):
            if k >= 0:
                agg.live_out[k] = agg.live_out.get(k, 0) + count


def _tables(conn: sqlite3.Connection, sql: dict[str, str], params: dict[str, Any],
            agg: Aggregates) -> None:
    """The queue, waits and SLA, hand-over, durations and operators (fields
    :func:`_timeline` does not write)."""
    queued: dict[int, int] = {}
    for b, k_in, k_out, hit, settled, count in conn.execute(sql["queue"], params):
        if k_in >= 0:
            agg.queue_in[k_in] = agg.queue_in.get(k_in, 0) + count
        if k_out is not None and k_out >= 0:
            agg.queue_out[k_out] = agg.queue_out.get(k_out, 0) + count
        if b is not None:
            queued[b] = queued.get(b, 0) + count
            hits, settles = agg.sla.get(b, (0, 0))
            agg.sla[b] = (hits + hit * count, settles + settled * count)
    agg.waits = _picks(conn.execute(sql["waits"], params).fetchall(), sorted(queued.items()))
    ended_per_agent: dict[str, int] = {}
    for agent_id, team, count, human, ended, started_ms, name in conn.execute(
            sql["agents"], params):
        total, humans = agg.handover_agent.get(agent_id, (0, 0))
        agg.handover_agent[agent_id] = (total + count, humans + human)
        agg.name(agg.agent_names, agent_id, name, started_ms)
        if ended:
            ended_per_agent[agent_id] = ended_per_agent.get(agent_id, 0) + ended
        if team is not None:
            total, humans = agg.handover_team.get(team, (0, 0))
            agg.handover_team[team] = (total + count, humans + human)
    for team, count, human in conn.execute(sql["teams"], params) if "teams" in sql else ():
        agg.handover_team[team] = (count, human)
    if "durations" in sql:
        agg.durations = _picks(conn.execute(sql["durations"], params).fetchall(),
                               sorted(ended_per_agent.items()))
    else:
        for params["agent"], n in ended_per_agent.items():
            at = []
            for percent in (50, 90):
                params["k"] = percentile_rank(percent, n) - 1
                at.append(conn.execute(sql["duration_at"], params).fetchone()[0])
            top = conn.execute(sql["duration_max"], params).fetchone()[0]
            agg.durations[params["agent"]] = Picks(n, at[0], at[1], top)
    for operator_id, handled, ended, total_ms, started_ms, name in conn.execute(
            sql["operators"], params):
        agg.handled[operator_id] = handled
        if ended:
            agg.handle_times[operator_id] = (ended, total_ms)
        agg.name(agg.operator_names, operator_id, name, started_ms)
    for operator_id, active, started_ms, name in conn.execute(sql["active"], params):
        agg.active_now[operator_id] = active
        agg.name(agg.operator_names, operator_id, name, started_ms)


# The snapshot's mark: every write that changes a session appends to the event log, so two
# read snapshots that see the same last seq see the same sessions.
_MARK = "SELECT COALESCE(MAX(seq), 0) FROM events"
# What :func:`_timeline` fills (the rest is :func:`_tables`').
_TIMELINE_FIELDS = ("sessions", "started", "message_bins", "live_in", "live_out", "outcomes",
                    "end_reasons")

# Runs a job on a second thread with that thread's own read connection (the store's
# analytics helper; ``None`` when it cannot): the report's two halves step in SQLite at once
# (it releases the GIL while stepping), one per core.
Helper = Callable[[Callable[[sqlite3.Connection], Any]], "Future[Any] | None"]


def _timeline_beside(conn: sqlite3.Connection, mark: int, sql: dict[str, str],
                     params: dict[str, Any], time_range: TimeRange,
                     ends_per_bucket: bool) -> Aggregates | None:
    """:func:`_timeline` on the helper's connection, or ``None`` when its snapshot is not the
    caller's (a write landed in between: the caller reads it itself)."""
    conn.execute("BEGIN")
    try:
        if conn.execute(_MARK).fetchone()[0] != mark:
            return None
        agg = Aggregates()
        _timeline(conn, sql, params, time_range, ends_per_bucket, agg)
        return agg
    finally:
        conn.execute("COMMIT")


def analytics(
    conn: sqlite3.Connection,
    flt: SessionFilter,
    time_range: TimeRange,
    now_ms: int,
    sla_seconds: int,
    helper: Helper | None = None,
) -> AnalyticsReport:
    """The report of the sessions matching ``flt`` (see ``models.analytics``). With a
    ``helper``, the charts over time are read on its connection while this one reads the
    tables, from the same snapshot (else this connection reads both)."""
    # The filter's placeholders are positional (?), the range's named: name the filter's too.
    numbered, named = named_clause(*where(flt), "?", lambda key: f":{key}")
    named.update({
        "s": time_range.start_ms, "e": time_range.end_ms, "z": time_range.bucket_ms,
        "n": now_ms, "l": sla_seconds * 1000,
    })
    conn.execute("BEGIN")  # one snapshot for every query
    try:
        mark = conn.execute(_MARK).fetchone()[0]
        ended_since = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM sessions INDEXED BY sessions_ended "
            "WHERE ended_ms IS NULL OR ended_ms >= :s LIMIT :cap)",
            {"s": time_range.start_ms, "cap": RECENT_ROWS}).fetchone()[0]
        oldest = conn.execute("SELECT MIN(started_ms) FROM sessions").fetchone()[0]
        history = now_ms - (oldest if oldest is not None else now_ms)
        covered = min(time_range.end_ms, now_ms) - time_range.start_ms
        by_agent = covered >= BY_AGENT_SHARE * history
        recent = ended_since < RECENT_ROWS
        sql = _statements(numbered, recent, by_agent)
        # A recent range (the live tail) reads a few rows: a second thread would cost more.
        beside = None if helper is None or recent else helper(functools.partial(
            _timeline_beside, mark=mark, sql=sql, params=dict(named), time_range=time_range,
            ends_per_bucket=not recent))
        agg = Aggregates()
        _tables(conn, sql, dict(named), agg)
        # Not started yet (the helper is busy with another report): read it here instead.
        timeline = None if beside is None or beside.cancel() else beside.result()
        if timeline is None:
            _timeline(conn, sql, named, time_range, not recent, agg)
        else:
            for name in _TIMELINE_FIELDS:
                setattr(agg, name, getattr(timeline, name))
    finally:
        conn.execute("COMMIT")
    return report_from_aggregates(agg, time_range, now_ms, sla_seconds)
