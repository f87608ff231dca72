"""The hub on PostgreSQL with three replicas, beside the one-process SQLite hub in the same run.

    python -m benchmarks.hub_pg_bench [--quick] [--json PATH]

PostgreSQL runs from Debian's package in a temporary folder with ``fsync`` on (every
acknowledged ingest is durable, as in production); each replica is ``supervisor-hub serve
--db postgresql://…`` in its own process; this process is the platforms and the desktops.

- ``hub_pg.ingest_events_per_s``: 9 platform connections (3 per replica) post batches of 100
  events (10 sessions x [started + 9 messages]); events acknowledged per second over all
  replicas. ``hub_pg.sqlite_ingest_events_per_s``: the same posts to one SQLite hub.
  ``hub_pg.ingest_max_batch_*``: the same with the protocol's largest batches (1,000 events).
  Beside each rate, the machine's CPU per event by component while the posts ran (user +
  system time read from ``/proc`` through psutil): ``…_cpu_us_replicas`` (the three hub
  processes), ``…_cpu_us_postgres`` (the postmaster, its live children and the children it
  reaped: backends, WAL writer, checkpointer), ``…_cpu_us_posters`` (this process: the
  platforms' HTTP clients) and ``…_cpu_us_total``; 10,000 events/s on 2 cores needs a total
  of at most 200 µs. ``…_cpu_bound_events_per_s`` is what 2 cores would ingest at that total.
- ``hub_pg.counter_held_us_per_event``: in this process, one store ingests 100-event batches
  (10 sessions x 10 events) four per transaction; the time from taking the counter row's lock
  to the commit, per event: the part of ingest that replicas cannot do side by side, whose
  inverse (``hub_pg.counter_ceiling_events_per_s``) bounds ingest over all replicas however
  many cores they have. ``hub_pg.ingest_tx_us_per_event``: the whole transaction.
- ``hub_pg.fanout_p99_ms``: 150 feed clients, 50 on each replica; the platform posts
  batches of 10 messages through replica 1 only at 1,000 events/s (quick: 500 for 2 s), so
  two thirds of the clients get them through another replica's LISTEN; latency = frame
  received - POST start, p99 over every (client, event).
- ``hub_pg.list_query_ms``: ``GET /api/v1/sessions`` through a replica with two filters
  (status + channel; and text= + status) over 100,000 sessions / 1,000,000 messages made in
  SQL (quick: 10,000 / 100,000); the worst median of the two.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from tests.postgres_server import PostgresServer, postgres_server

from benchmarks._common import main_for, percentile
from benchmarks.hub_bench import (
    CLIENTS,
    _clients,
    _events,
    hub_process,
    post_all,
    post_timed_messages,
)
from supervisor_desk.hub.ingest import parse_batch
from supervisor_desk.hub.store.postgres.store import PostgresStore

Results = dict[str, Any]
REPLICAS = 3


@contextmanager
def replicas(dsn: str, tmp: Path, pids: list[int] | None = None) -> Iterator[list[str]]:
    """Start the replicas; their process ids are appended to ``pids`` if given."""
    procs = [subprocess.Popen(
        [sys.executable, "-m", "supervisor_desk.hub.cli", "serve", "--db", dsn, "--port", "0",
         "--files-dir", str(tmp / f"files-{n}"), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for n in range(REPLICAS)]
    urls: list[str] = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("listening on "):
                raise RuntimeError(f"a replica did not start: {line!r}")
            urls.append(line.removeprefix("listening on ").strip())
        if pids is not None:
            pids.extend(proc.pid for proc in procs)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


def _tokens(store_target: str | Path, files: Path, n: int) -> tuple[list[str], str]:
    from supervisor_desk.hub.store import open_store

    store = open_store(store_target, files_dir=files)
    try:
        ingest = [store.create_token(f"bench-{k}", "ingest")[0] for k in range(n)]
        return ingest, store.create_token("desk", "viewer")[0]
    finally:
        store.close()


def _cpu_s(process: psutil.Process, *, reaped: bool = False) -> float:
    """User + system seconds of ``process`` (and, with ``reaped``, of the children it waited
    for, and of its live children: how PostgreSQL's backends are counted)."""
    times = process.cpu_times()
    total = times.user + times.system
    if reaped:
        total += times.children_user + times.children_system
        for child in process.children():
            with suppress(psutil.NoSuchProcess):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    return total


def _postmaster(server: PostgresServer) -> psutil.Process:
    return psutil.Process(int((server.data / "postmaster.pid").read_text().split("\n", 1)[0]))


class _CpuMeter:
    """CPU seconds spent by the replicas, PostgreSQL and this process between start and stop."""

    def __init__(self, replicas: list[psutil.Process], postgres: psutil.Process | None) -> None:
        self.replicas = replicas
        self.postgres = postgres
        self.spent: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "replicas": sum(_cpu_s(p) for p in self.replicas),
            "postgres": _cpu_s(self.postgres, reaped=True) if self.postgres else 0.0,
            "posters": own.ru_utime + own.ru_stime,
        }

    def start(self) -> None:
        self._began = self._read()

    def stop(self) -> None:
        ended = self._read()
        self.spent = {k: ended[k] - self._began[k] for k in ended}

    def per_event(self, prefix: str, events: int) -> Results:
        out = {f"{prefix}_cpu_us_{k}": round(v / events * 1e6, 1) for k, v in self.spent.items()}
        total = sum(self.spent.values()) / events * 1e6
        out[f"{prefix}_cpu_us_total"] = round(total, 1)
        out[f"{prefix}_cpu_bound_events_per_s"] = round(2 / total * 1e6) if total else 0
        return out


def _bodies(posters: int, batch: int, events_each: int) -> list[list[bytes]]:
    bodies: list[list[bytes]] = []
    for k in range(posters):
        events = _events(f"p{k}-{batch}", events_each // 10)
        bodies.append([json.dumps({"events": events[i:i + batch]}).encode()
                       for i in range(0, len(events), batch)])
    return bodies


def _ingest_once(server: PostgresServer, tmp: Path, prefix: str, batch: int,
                 events_each: int) -> Results:
    posters = 9
    bodies = _bodies(posters, batch, events_each)
    total = posters * events_each
    dsn = server.create_database(f"ingest_{batch}")
    tokens, _ = _tokens(dsn, tmp / "setup", posters)
    pids: list[int] = []
    with replicas(dsn, tmp, pids) as urls:
        meter = _CpuMeter([psutil.Process(pid) for pid in pids], _postmaster(server))
        meter.start()
        pg_seconds = asyncio.run(post_all(urls, bodies, tokens))
        meter.stop()
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), max(seq) FROM events").fetchone()
    assert row is not None and row[0] == row[1] == total, row  # gap-free, all there

    db = tmp / f"ingest-{batch}.db"
    lite_tokens, _ = _tokens(db, tmp, posters)
    with hub_process(db) as (url, process):
        lite = _CpuMeter([process], None)
        lite.start()
        lite_seconds = asyncio.run(post_all([url], bodies, lite_tokens))
        lite.stop()
    return {
        f"{prefix}_events_per_s": round(total / pg_seconds, 1),
        **meter.per_event(prefix, total),
        f"{prefix}_sqlite_events_per_s": round(total / lite_seconds, 1),
        f"{prefix}_sqlite_cpu_us_hub": round(lite.spent["replicas"] / total * 1e6, 1),
        f"{prefix}_events": total,
    }


def bench_ingest(server: PostgresServer, tmp: Path, quick: bool) -> Results:
    events_each = 1_000 if quick else 6_000
    results = _ingest_once(server, tmp, "hub_pg.ingest", 100, events_each)
    results["hub_pg.sqlite_ingest_events_per_s"] = results.pop(
        "hub_pg.ingest_sqlite_events_per_s")
    results.update(_ingest_once(server, tmp, "hub_pg.ingest_max_batch", 1_000,
                                2_000 if quick else events_each))
    return results


class _TimedStore(PostgresStore):
    """The store, noting when a transaction takes the counter row's lock."""

    locked_at = 0.0

    def _lock_counter(self, conn: psycopg.Connection) -> int:  # type: ignore[override]
        self.locked_at = time.perf_counter()
        return PostgresStore._lock_counter(conn)


def bench_counter(server: PostgresServer, tmp: Path, quick: bool) -> Results:
    batches = 40 if quick else 200
    parsed = [parse_batch(json.dumps({"events": _events(f"c{n}", 10)}).encode())
              for n in range(batches)]
    store = _TimedStore(server.create_database("counter"), listen=False,
                        files_dir=tmp / "counter")
    held = whole = 0.0
    try:
        for n in range(0, batches, 4):
            began = time.perf_counter()
            store.ingest_many(parsed[n:n + 4])
            ended = time.perf_counter()
            held += ended - store.locked_at
            whole += ended - began
    finally:
        store.close()
    events = batches * 100
    return {
        "hub_pg.counter_held_us_per_event": round(held / events * 1e6, 1),
        "hub_pg.counter_ceiling_events_per_s": round(events / held),
        "hub_pg.ingest_tx_us_per_event": round(whole / events * 1e6, 1),
    }


def bench_fanout(server: PostgresServer, tmp: Path, quick: bool) -> Results:
    clients_per_replica = CLIENTS
    rate, seconds = (500, 2.0) if quick else (1000, 8.0)
    batch = 10
    n_batches = int(rate * seconds / batch)
    expected = n_batches * batch
    dsn = server.create_database("fanout")
    (ingest,), viewer = _tokens(dsn, tmp / "setup", 1)

    async def run(urls: list[str]) -> list[float]:
        latencies: list[float] = []
        tasks: list[asyncio.Task[None]] = []
        readies: list[asyncio.Event] = []
        for url in urls:  # hub_bench's 50 clients on each replica
            feed = url.replace("http://", "ws://") + "/api/v1/feed"
            mine, ready = await _clients(feed, {"Authorization": f"Bearer {viewer}"}, expected,
                                         latencies)
            tasks += mine
            readies.append(ready)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        async with httpx.AsyncClient(base_url=urls[0], timeout=60, headers={
                "Authorization": f"Bearer {ingest}"}) as http:
            await post_timed_messages(http, n_batches, batch, rate)
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
        return latencies

    with replicas(dsn, tmp) as urls:
        latencies = asyncio.run(run(urls))
    return {
        "hub_pg.fanout_p99_ms": round(percentile(latencies, 99), 1),
        "hub_pg.fanout_p50_ms": round(percentile(latencies, 50), 1),
        "hub_pg.fanout_clients": clients_per_replica * REPLICAS,
        "hub_pg.fanout_rate_events_per_s": rate,
    }


def _fill(dsn: str, sessions: int, per_session: int) -> float:
    """Sessions and messages made in SQL, with real session documents (a quarter of each
    status/channel combination) and message words."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sessions (id, id_lower, doc, agent_id, agent_name, channel, status, "
            "responsible_kind, operator_id, operator_name, user_search, search, country_code, "
            "ip, started_ms, queued_ms, accepted_ms, ended_ms, last_ms, message_count, "
            "has_attachments, version) "
            "SELECT 's' || g, 's' || g, json_build_object('id', 's' || g, 'status', "
            "(ARRAY['queued','active','completed','failed','cancelled'])[1 + g %% 5])::text, "
            "'agent-' || (g %% 20), 'Agent ' || (g %% 20), "
            "(ARRAY['web','phone','email','whatsapp'])[1 + g %% 4], "
            "(ARRAY['queued','active','completed','failed','cancelled'])[1 + g %% 5], 'ai', "
            "NULL, NULL, 'user-' || g, 'agent user-' || g, 'DE', NULL, "
            "1700000000000 + g * 1000, NULL, NULL, NULL, 1700000000000 + g * 1000, %s, 0, 1 "
            "FROM generate_series(1, %s) AS g", (per_session, sessions))
        conn.execute(
            "INSERT INTO messages (session_id, seq, id, doc, words) "
            "SELECT 's' || g, m, 'm' || m, '{\"text\":\"hello\"}', "
            "array_to_tsvector(ARRAY['hello', 'invoice', 'number' || ((g * 7 + m) %% 5000)]) "
            "FROM generate_series(1, %s) AS g, generate_series(1, %s) AS m",
            (sessions, per_session))
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def bench_list(server: PostgresServer, tmp: Path, quick: bool) -> Results:
    sessions = 10_000 if quick else 100_000
    dsn = server.create_database("list")
    _, viewer = _tokens(dsn, tmp / "setup", 1)  # migrates the schema first
    fill_s = _fill(dsn, sessions, 10)
    queries = {
        "two_filters": [("status", "failed"), ("channel", "phone")],
        "text": [("text", "number4242"), ("status", "completed")],
    }
    medians: dict[str, float] = {}
    with replicas(dsn, tmp) as urls, httpx.Client(base_url=urls[1], timeout=60, headers={
            "Authorization": f"Bearer {viewer}"}) as http:
        for name, params in queries.items():
            took: list[float] = []
            for _ in range(7):
                began = time.perf_counter()
                answer = http.get("/api/v1/sessions", params=[*params, ("limit", "50")])
                took.append((time.perf_counter() - began) * 1000)
                answer.raise_for_status()
            medians[name] = statistics.median(took[1:])
    return {
        "hub_pg.list_query_ms": round(max(medians.values()), 1),
        "hub_pg.list_query_two_filters_ms": round(medians["two_filters"], 1),
        "hub_pg.list_query_text_ms": round(medians["text"], 1),
        "hub_pg.list_sessions": sessions,
        "hub_pg.list_messages": sessions * 10,
        "hub_pg.list_fill_s": round(fill_s, 1),
    }


def run(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"hub_pg.load_avg_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="hub-pg-bench-", dir="/tmp") as folder, \
            postgres_server(durable=True, root=Path(folder) / "pg") as server:
        tmp = Path(folder)
        os.chmod(tmp, 0o755)
        results.update(bench_counter(server, tmp, quick))
        results.update(bench_ingest(server, tmp, quick))
        results.update(bench_fanout(server, tmp, quick))
        results.update(bench_list(server, tmp, quick))
    results["hub_pg.load_avg_after"] = os.getloadavg()[0]
    return results


if __name__ == "__main__":
    main_for(run)
