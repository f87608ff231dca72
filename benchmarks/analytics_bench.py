"""The hub's ``GET /analytics`` over 100,000 sessions / 1,000,000 messages (30 days).

    python -m benchmarks.analytics_bench [--quick] [--json PATH]

The database: 10,000 sessions with 10 messages each, spread over 3 days, loaded through the
hub's real ingest path (the simulator's dataset), then copied nine times 3 days further back
in SQL (sessions and messages rows; the copies' full-text rows are not made, so no text
filter is measured here) — 30 days, ~100,000 sessions, ~1,000,000 messages, built in minutes
instead of the 20+ of ingesting everything. Quick: 2,000 sessions, no copies.

Figures (median of 7 after one warm-up, in the process, on a reader connection as the route
runs it; the HTTP layer adds ~2 ms):
- ``analytics.report_30d_ms``: the whole 30 days in 6-hour buckets, no filter — the target
  (≤ 200 ms);
- ``analytics.report_30d_cpu_ms``: the calling thread's CPU time (on a loaded machine the
  wall-clock figure adds the waits for a core); the charts over time are read beside it on the
  store's analytics helper thread, so ``analytics.report_30d_process_cpu_ms`` is the CPU time
  of both;
- ``analytics.report_30d_serial_ms`` / ``analytics.report_30d_serial_cpu_ms``: the same report
  read on the calling thread alone (no helper), for comparison;
- ``analytics.report_7d_ms``: the last 7 days in 1-hour buckets;
- ``analytics.report_30d_channel_ms``: the 30 days for one channel;
- ``analytics.report_hour_ms``: the last hour in 1-minute buckets (what a live page asks);
- ``analytics.naive_30d_ms``: the previous way, every session's columns read into Python and
  the report computed there (``models.analytics.analytics_report``), for comparison
  (``analytics.naive_30d_cpu_ms``: its CPU time);
- ``analytics.pg_report_30d_ms``, ``…_7d_ms``, ``…_30d_channel_ms``, ``…_hour_ms``: the same
  reports from the PostgreSQL backend (``PostgresStore.analytics_report``), its sessions table
  copied from the SQLite database (the same rows; messages are not copied: no chart reads
  them) into a PostgreSQL started from Debian's package (skipped when it is not installed);
  the report is checked equal to SQLite's. The time is the client's wall clock: PostgreSQL
  computes in its own process.
"""

from __future__ import annotations

import functools
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks._common import Results, main_for
from supervisor_desk.hub.store.reducer import SESSION_COLUMNS
from supervisor_desk.hub.store.sqlite import SqliteStore
from supervisor_desk.hub.store.sqlite import analytics as analytics_sql
from supervisor_desk.hub.store.sqlite.query import where
from supervisor_desk.models.analytics import SessionFacts, analytics_report, named_range
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.wire import IngestEvent, parse_event_data
from supervisor_desk.simulator import build_dataset

DAY_MS = 86_400_000
SPAN_DAYS = 3
_SESSION_COLUMNS = (
    "id_lower, doc, agent_id, agent_name, channel, status, responsible_kind, operator_id, "
    "operator_name, user_search, search, country_code, ip, message_count, has_attachments, "
    "version"
)
_FACT_COLUMNS = (
    "id, channel, status, end_reason, agent_id, agent_name, team, responsible_kind, "
    "operator_id, operator_name, started_ms, queued_ms, accepted_ms, ended_ms, message_count"
)


def build(db: Path, base: int, copies: int, now: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    storage = SqliteStore(db)
    try:
        for batch in build_dataset(base, seed=3, messages_per_session=10, days=SPAN_DAYS,
                                   live_fraction=0.01, now=now):
            storage.ingest([(e, parse_event_data(e.type, e.data))
                            for e in (IngestEvent.model_validate(raw) for raw in batch)])
    finally:
        storage.close()
    ingest_s = time.perf_counter() - started
    # The copies are test data, not events: written with a plain connection.
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        for k in range(1, copies + 1):
            shift = k * SPAN_DAYS * DAY_MS
            writer.execute("BEGIN")
            writer.execute(
                f"INSERT INTO sessions (id, {_SESSION_COLUMNS}, started_ms, queued_ms, "
                "accepted_ms, ended_ms, last_ms) "
                f"SELECT id || '-c{k}', {_SESSION_COLUMNS}, started_ms - ?, queued_ms - ?, "
                "accepted_ms - ?, ended_ms - ?, last_ms - ? FROM sessions "
                "WHERE ended_ms IS NOT NULL AND instr(id, '-c') = 0",
                [shift] * 5,
            )
            writer.execute(
                f"INSERT INTO messages (session_id, seq, id, doc) "
                f"SELECT m.session_id || '-c{k}', m.seq, m.id, m.doc FROM messages m "
                "JOIN sessions s ON s.id = m.session_id "
                "WHERE s.ended_ms IS NOT NULL AND instr(s.id, '-c') = 0"
            )
            writer.execute("COMMIT")
        writer.execute("PRAGMA optimize")
        sessions = writer.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        messages = writer.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        writer.close()
    return {"sessions": sessions, "messages": messages, "ingest_s": ingest_s,
            "build_s": time.perf_counter() - started}


def _median_ms(call: Callable[[], object], repeats: int, clock: Callable[[], float]
               = time.perf_counter) -> float:
    call()  # warm the page cache
    times = []
    for _ in range(repeats):
        began = clock()
        call()
        times.append((clock() - began) * 1000)
    return round(statistics.median(times), 1)


def _naive(storage: SqliteStore, flt: SessionFilter, rng: Any, now_ms: int) -> object:
    clause, params = where(flt)
    rows = storage.reader().execute(
        f"SELECT {_FACT_COLUMNS} FROM sessions INDEXED BY sessions_analytics "
        f"WHERE started_ms < ? AND (ended_ms IS NULL OR ended_ms >= ?) AND {clause}",
        [rng.end_ms, rng.start_ms, *params],
    ).fetchall()
    return analytics_report((SessionFacts(*row) for row in rows), rng, now_ms)


def _postgres(db: Path, folder: str, now_ms: int, reports: dict[str, tuple[Any, Any]],
              repeats: int, expected: object) -> Results:
    """The reports of ``reports`` on the PostgreSQL backend over the same sessions."""
    from tests.postgres_server import available, postgres_server

    if not available():
        return {}
    import psycopg

    from supervisor_desk.hub.store.postgres.store import PostgresStore

    with postgres_server(root=Path(folder) / "pg") as server:
        dsn = server.create_database("analytics")
        store = PostgresStore(dsn, listen=False, files_dir=Path(folder) / "pg-files")
        try:
            began = time.perf_counter()
            source = sqlite3.connect(db)
            columns = ", ".join(SESSION_COLUMNS)
            with psycopg.connect(dsn, autocommit=True) as conn:
                with conn.cursor().copy(f"COPY sessions ({columns}) FROM STDIN") as copy:
                    for row in source.execute(f"SELECT {columns} FROM sessions"):
                        copy.write_row(row)
                conn.execute("VACUUM ANALYZE sessions")
            source.close()
            copy_s = time.perf_counter() - began
            everything, month = reports["30d"]
            assert store.analytics_report(everything, month, now_ms, 60) == expected, \
                "the PostgreSQL and the SQLite report differ"
            out: Results = {"analytics.pg_copy_s": round(copy_s, 1)}
            for name, (flt, rng) in reports.items():
                out[f"analytics.pg_report_{name}_ms"] = _median_ms(
                    functools.partial(store.analytics_report, flt, rng, now_ms, 60), repeats)
            return out
        finally:
            store.close()


def run(quick: bool) -> Results:
    now = datetime.now(UTC)
    now_ms = to_ms(now)
    base, copies = (2_000, 0) if quick else (11_500, 9)
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "analytics.db"
        info = build(db, base, copies, now)
        storage = SqliteStore(db)
        try:
            month = named_range("30d", now)
            hour = named_range("hour", now)
            week = named_range("7d", now)
            everything, web = SessionFilter(), SessionFilter(channel=("web",))

            def report(flt: SessionFilter, rng: Any) -> Callable[[], object]:
                return lambda: storage.analytics_report(flt, rng, now_ms, 60)

            def serial(flt: SessionFilter, rng: Any) -> Callable[[], object]:
                return lambda: analytics_sql.analytics(storage.reader(), flt, rng, now_ms, 60)

            check = storage.analytics_report(everything, month, now_ms, 60)
            naive = _naive(storage, everything, month, now_ms)
            assert check == naive, "the SQL and the Python report differ"
            assert serial(everything, month)() == check, "the two-thread report differs"
            return {
                "analytics.sessions": info["sessions"],
                "analytics.messages": info["messages"],
                "analytics.build_s": round(info["build_s"], 1),
                "analytics.report_30d_ms": _median_ms(report(everything, month), repeats),
                # The thread's CPU time: the figure without the waits for a core.
                "analytics.report_30d_cpu_ms": _median_ms(report(everything, month), repeats,
                                                          time.thread_time),
                "analytics.report_30d_process_cpu_ms": _median_ms(
                    report(everything, month), repeats, time.process_time),
                "analytics.report_30d_serial_ms": _median_ms(serial(everything, month), repeats),
                "analytics.report_30d_serial_cpu_ms": _median_ms(
                    serial(everything, month), repeats, time.thread_time),
                "analytics.report_7d_ms": _median_ms(report(everything, week), repeats),
                "analytics.report_30d_channel_ms": _median_ms(report(web, month), repeats),
                "analytics.report_hour_ms": _median_ms(report(everything, hour), repeats),
                "analytics.naive_30d_ms": _median_ms(
                    lambda: _naive(storage, everything, month, now_ms), max(1, repeats // 2)),
                "analytics.naive_30d_cpu_ms": _median_ms(
                    lambda: _naive(storage, everything, month, now_ms), max(1, repeats // 2),
                    time.thread_time),
                "analytics.sessions_in_30d": check.sessions,
            } | _postgres(db, folder, now_ms, {
                "30d": (everything, month), "7d": (everything, week),
                "30d_channel": (web, month), "hour": (everything, hour)}, repeats, check)
        finally:
            storage.close()


if __name__ == "__main__":
    main_for(run)
