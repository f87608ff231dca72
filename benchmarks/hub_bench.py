"""The hub under load: durable ingest, feed fan-out, list queries and export memory.

    python -m benchmarks.hub_bench [--quick] [--json PATH]

The hub runs as ``supervisor-hub serve`` in its own process (as in production); this process
is the platform and the desktops. Figures:

- ``hub.ingest_events_per_s``: 8 platform connections post batches of 100 events (each batch
  10 sessions x [started + 9 messages]); events acknowledged per second. Every 200 is durable
  (WAL, synchronous=FULL).
  ``hub.ingest_cpu_us_per_event``: CPU time the hub process spent per event (the figure on a
  machine where the hub gets its core; ``hub.ingest_cpu_bound_events_per_s`` = 1e6 / that).
  ``hub.ingest_max_batch_*``: the same events in the protocol's largest batches (1,000 events),
  as a platform that buffers would post them: the hub's cost per request is spread wider.
  ``hub.ingest_poster_cpu_us_per_event``: CPU this process (the 8 platforms, on asyncio
  streams: see ``post_batches``) spent per
  event of the 100-event run: what the posters take from the same two cores.
- ``hub.raw_sqlite_events_per_s``: the ceiling, plain ``sqlite3`` ``executemany`` of the same
  event rows (id, session, JSON body) into one table, one durable commit per 100.
- ``hub.fanout_p99_ms``: 50 feed clients connected; the platform posts batches of 10 messages
  whose text carries the POST time; latency = frame received by a client - POST start, p99 over
  every (client, event). ``hub.bare_broadcast_p99_ms``: the same 50 clients on a bare
  ``websockets`` server that broadcasts frames at the same rate (the ceiling).
- ``hub.list_query_ms``: ``GET /api/v1/sessions`` with two filters on a database of 100,000
  sessions / ~1,000,000 messages built from the simulator's dataset (quick: 5,000 sessions),
  the worst median over three filter pairs (one of them ``text=``);
  ``hub.list_text_only_ms``: ``text=hello`` alone, a word in a quarter of the sessions.
  ``hub.big_build_events_per_s``: how fast that database was loaded (the ingest path, no HTTP).
- ``hub.export_100k_rss_mb``: peak RSS of the hub process while streaming the JSONL export of
  every session of that database (``hub.export_rss_growth_mb``: peak minus before).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import websockets

from benchmarks._common import main_for, percentile

Results = dict[str, Any]
CLIENTS = 50


# ------------------------------------------------------------------------------------------
# A hub process


@contextmanager
def hub_process(db: Path) -> Iterator[tuple[str, psutil.Process]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor_desk.hub.cli", "serve", "--db", str(db),
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the hub did not start: {line!r}")
        yield line.removeprefix("listening on ").strip(), psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def tokens(db: Path) -> tuple[str, str]:
    from supervisor_desk.hub.store.sqlite import SqliteStore

    storage = SqliteStore(db)
    try:
        return storage.create_token("bench", "ingest")[0], storage.create_token("v", "viewer")[0]
    finally:
        storage.close()


def _events(prefix: str, sessions: int, text: str = "") -> list[dict[str, Any]]:
    """``sessions`` x [session.started + 9 message.created], in order."""
    at = "2026-01-01T10:00:00.000Z"
    out: list[dict[str, Any]] = []
    for i in range(sessions):
        sid = f"{prefix}-s{i}"
        out.append({
            "id": f"{sid}-e0", "type": "session.started", "session_id": sid, "at": at,
            "data": {"agent": {"id": "a1", "name": "Ava"}, "channel": "web", "status": "active",
                     "user": {"id": f"u-{sid}", "name": "Customer"}},
        })
        for m in range(1, 10):
            out.append({
                "id": f"{sid}-e{m}", "type": "message.created", "session_id": sid, "at": at,
                "data": {"id": f"m{m}", "at": at, "author": {"role": "customer"},
                         "text": text or f"Hello, I need help with my invoice number {i}-{m}."},
            })
    return out


# ------------------------------------------------------------------------------------------
# Ingest throughput and its ceiling


async def post_batches(url: str, mine: list[bytes], token: str) -> None:
    """One platform connection posting its batches in turn (HTTP/1.1 keep-alive). Written on
    asyncio's streams rather than httpx: httpx spent ~30 µs of CPU per event of a 100-event
    batch in this process, on the same 2 cores as the hub(s) it measures."""
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /api/v1/ingest HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Content-Length: ").encode()
    try:
        for body in mine:
            writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
            status = await asyncio.wait_for(reader.readline(), 120)
            length = None
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"an answer without Content-Length: {status!r}")
            answer = await reader.readexactly(length)
            if status.split(b" ", 2)[1:2] != [b"200"]:
                raise RuntimeError(f"{status!r} {answer[:500]!r}")
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def post_all(urls: list[str], bodies: list[list[bytes]], tokens: list[str]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(post_batches(urls[k % len(urls)], b, t)
                           for k, (b, t) in enumerate(zip(bodies, tokens, strict=True))))
    return time.perf_counter() - started


def _post_through_hub(db: Path, streams: list[list[dict[str, Any]]],
                      batch: int) -> tuple[int, float, float, float]:
    """Each stream posted by its own platform connection (and token: the hub's rate limit is
    per token) in batches of ``batch`` events; (events, wall seconds, hub CPU seconds, this
    process's CPU seconds meanwhile)."""
    poster_tokens = [tokens(db)[0] for _ in streams]
    ingest_token = poster_tokens[0]
    bodies = [[json.dumps({"events": events[i:i + batch]}).encode()
               for i in range(0, len(events), batch)] for events in streams]
    total = sum(len(events) for events in streams)

    async def post_everything(url: str) -> float:
        # Warm-up (connections, caches) outside the timing.
        await post_batches(url, [json.dumps({"events": _events("warm", 1)}).encode()],
                           ingest_token)
        return await post_all([url], bodies, poster_tokens)

    posters = psutil.Process()
    with hub_process(db) as (url, process):
        before, mine = process.cpu_times(), posters.cpu_times()
        seconds = asyncio.run(post_everything(url))
        after, mine_after = process.cpu_times(), posters.cpu_times()
    # The hub's own CPU per event: what the figure would be on an idle machine, since on the
    # shared one the hub mostly waits for a core.
    cpu = (after.user - before.user) + (after.system - before.system)
    posting = (mine_after.user - mine.user) + (mine_after.system - mine.system)
    return total, seconds, cpu, posting


def bench_ingest(tmp: Path, quick: bool) -> Results:
    events_each = 2_500 if quick else 12_500  # per platform connection
    posters = 8
    streams = [_events(f"p{k}", events_each // 10) for k in range(posters)]
    total, seconds, cpu, posting = _post_through_hub(tmp / "ingest.db", streams, 100)
    # The protocol's largest batch (1,000 events, well under 1 MiB here): what a platform
    # that buffers would send. The hub's cost per request (HTTP, authentication, the hand-offs
    # to the parser and the writer, a commit) is then spread over ten times more events.
    big_total, big_seconds, big_cpu, _ = _post_through_hub(tmp / "ingest_max.db", streams, 1000)
    rows = [(e["id"], e["session_id"], json.dumps(e)) for events in streams for e in events]

    raw_db = tmp / "raw.db"
    conn = sqlite3.connect(raw_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
                 "session_id TEXT NOT NULL, body TEXT NOT NULL)")
    started = time.perf_counter()
    for i in range(0, len(rows), 100):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events (id, session_id, body) VALUES (?, ?, ?)",
                         rows[i:i + 100])
        conn.execute("COMMIT")
    raw_seconds = time.perf_counter() - started
    conn.close()
    return {
        "hub.ingest_events_per_s": round(total / seconds, 1),
        "hub.raw_sqlite_events_per_s": round(len(rows) / raw_seconds, 1),
        "hub.ingest_events": total,
        "hub.ingest_cpu_us_per_event": round(cpu / total * 1e6, 1),
        "hub.ingest_cpu_bound_events_per_s": round(total / cpu, 1) if cpu else float("nan"),
        "hub.ingest_poster_cpu_us_per_event": round(posting / total * 1e6, 1),
        "hub.ingest_max_batch_events_per_s": round(big_total / big_seconds, 1),
        "hub.ingest_max_batch_cpu_us_per_event": round(big_cpu / big_total * 1e6, 1),
        "hub.ingest_max_batch_cpu_bound_events_per_s":
            round(big_total / big_cpu, 1) if big_cpu else float("nan"),
    }


# ------------------------------------------------------------------------------------------
# Fan-out latency and its ceiling


def _latency_ms(frame: str, received: float) -> float | None:
    marker = frame.find('"text":"t=')
    if marker < 0:
        return None
    end = frame.find('"', marker + 10)
    return (received - float(frame[marker + 10:end])) * 1000


async def _clients(url: str, headers: dict[str, str], expected: int,
                   latencies: list[float]) -> tuple[list[asyncio.Task[None]], asyncio.Event]:
    ready = asyncio.Event()
    connected = 0

    async def client() -> None:
        nonlocal connected
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            await ws.recv()  # hello (bare server: its own hello)
            connected += 1
            if connected == CLIENTS:
                ready.set()
            seen = 0
            while seen < expected:
                frame = await ws.recv()
                now = time.time()
                value = _latency_ms(str(frame), now)
                if value is not None:
                    latencies.append(value)
                    seen += 1

    return [asyncio.create_task(client()) for _ in range(CLIENTS)], ready


async def post_timed_messages(client: httpx.AsyncClient, n_batches: int, batch: int,
                              rate: float) -> None:
    """The fan-out load: ``n_batches`` batches of ``batch`` messages to one session, paced at
    ``rate`` events/s; each message's text is its send time, which the feed clients read."""
    await client.post("/api/v1/ingest", json={"events": _events("f", 1)[:1]})
    began = time.perf_counter()
    for n in range(n_batches):
        sent = time.time()
        events = [{
            "id": f"f-{n}-{k}", "type": "message.created", "session_id": "f-s0",
            "at": "2026-01-01T10:00:00Z",
            "data": {"id": f"fm-{n}-{k}", "at": "2026-01-01T10:00:00Z",
                     "author": {"role": "ai"}, "text": f"t={sent:.6f}"},
        } for k in range(batch)]
        answer = await client.post("/api/v1/ingest", json={"events": events})
        answer.raise_for_status()
        pause = began + (n + 1) * batch / rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)


def bench_fanout(tmp: Path, quick: bool) -> Results:
    db = tmp / "fanout.db"
    ingest_token, viewer = tokens(db)
    rate, seconds = (300, 3.0) if quick else (500, 10.0)
    batch = 10
    n_batches = int(rate * seconds / batch)
    expected = n_batches * batch

    async def run(url: str) -> list[float]:
        latencies: list[float] = []
        feed = url.replace("http://", "ws://") + "/api/v1/feed"
        tasks, ready = await _clients(feed, {"Authorization": f"Bearer {viewer}"}, expected,
                                      latencies)
        await asyncio.wait_for(ready.wait(), 60)
        headers = {"Authorization": f"Bearer {ingest_token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            await post_timed_messages(client, n_batches, batch, rate)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        return latencies

    with hub_process(db) as (url, process):
        before = process.cpu_times()
        latencies = asyncio.run(run(url))
        after = process.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    bare = asyncio.run(_bare_broadcast(rate, expected))
    return {
        "hub.fanout_p99_ms": round(percentile(latencies, 99), 1),
        "hub.fanout_p50_ms": round(percentile(latencies, 50), 1),
        "hub.fanout_samples": len(latencies),
        "hub.fanout_rate_ev_s": rate,
        "hub.fanout_cpu_us_per_frame": round(cpu / max(1, len(latencies)) * 1e6, 1),
        "hub.bare_broadcast_p99_ms": round(percentile(bare, 99), 1),
    }


_BARE_SERVER = """
import asyncio, sys, time, websockets
CLIENTS, RATE, TOTAL = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
clients = set()
enough = asyncio.Event()
async def handler(ws):
    clients.add(ws)
    await ws.send('{"type":"hello"}')
    if len(clients) == CLIENTS:
        enough.set()
    await ws.wait_closed()
async def main():
    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await enough.wait()
        began = time.perf_counter()
        for n in range(TOTAL):
            websockets.broadcast(clients, '{"type":"event","text":"t=%.6f"}' % time.time())
            pause = began + (n + 1) / RATE - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
        while clients and any(c.state.name == "OPEN" for c in clients):
            await asyncio.sleep(0.1)
asyncio.run(main())
"""


async def _bare_broadcast(rate: float, total: int) -> list[float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _BARE_SERVER, str(CLIENTS), str(rate), str(total),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int((await proc.stdout.readline()).decode())
        latencies: list[float] = []
        tasks, _ = await _clients(f"ws://127.0.0.1:{port}", {}, total, latencies)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        return latencies
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


# ------------------------------------------------------------------------------------------
# List queries and export memory on a big database


def build_big(db: Path, n_sessions: int) -> dict[str, Any]:
    """Load the simulator's dataset through the hub's own ingest path, without HTTP: each
    batch parsed from its JSON bytes (``parse_batch``) and eight batches per durable commit
    (``ingest_many``), as concurrent platforms are grouped by the hub's writer."""
    from supervisor_desk.hub.ingest import parse_batch
    from supervisor_desk.hub.store.sqlite import SqliteStore
    from supervisor_desk.simulator import build_dataset

    storage = SqliteStore(db)
    agents: dict[str, int] = {}
    started = time.perf_counter()
    events = 0
    try:
        group: list[Any] = []
        for batch in build_dataset(n_sessions, seed=1, messages_per_session=10):
            for raw in batch:
                if raw["type"] == "session.started":
                    agent = raw["data"]["agent"]["id"]
                    agents[agent] = agents.get(agent, 0) + 1
            group.append(parse_batch(json.dumps({"events": batch}).encode()))
            events += len(batch)
            if len(group) == 8:
                _ingest_group(storage, group)
                group = []
        if group:
            _ingest_group(storage, group)
        conn = storage.reader()
        messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        storage.reader().execute("PRAGMA optimize")
    finally:
        storage.close()
    seconds = time.perf_counter() - started
    return {"sessions": sessions, "messages": messages, "seconds": seconds,
            "events_per_s": events / seconds, "agent": max(agents, key=lambda a: agents[a])}


def _ingest_group(storage: Any, group: list[Any]) -> None:
    for outcome in storage.ingest_many(group):
        if isinstance(outcome, Exception):
            raise outcome


def bench_big(tmp: Path, quick: bool) -> Results:
    db = tmp / "big.db"
    n = 5_000 if quick else 100_000
    info = build_big(db, n)
    _, viewer = tokens(db)
    headers = {"Authorization": f"Bearer {viewer}"}
    queries = [
        [("status", "completed"), ("channel", "web")],
        [("agent", info["agent"]), ("text", "payment")],
        [("live", "false"), ("messages", "gt:8")],
    ]
    results: Results = {
        "hub.big_sessions": info["sessions"],
        "hub.big_messages": info["messages"],
        "hub.big_build_s": round(info["seconds"], 1),
        "hub.big_build_events_per_s": round(info["events_per_s"], 1),
    }
    with hub_process(db) as (url, process), httpx.Client(base_url=url, headers=headers,
                                                          timeout=120) as client:
        medians = []
        for pairs in queries:
            times = []
            for _ in range(3 if quick else 7):
                started = time.perf_counter()
                answer = client.get("/api/v1/sessions", params=pairs)
                answer.raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            medians.append(statistics.median(times[1:]))  # the first one warms the cache
        results["hub.list_query_ms"] = round(max(medians), 1)
        results["hub.list_query_all_ms"] = [round(m, 1) for m in medians]
        # The heaviest full-text list: one common word alone (a quarter of all sessions).
        times = []
        for _ in range(3 if quick else 7):
            started = time.perf_counter()
            client.get("/api/v1/sessions", params=[("text", "hello")]).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        results["hub.list_text_only_ms"] = round(statistics.median(times[1:]), 1)

        before = process.memory_info().rss / 1e6
        peak = before
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, process.memory_info().rss / 1e6)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        size = 0
        lines = 0
        started = time.perf_counter()
        try:
            with client.stream("GET", "/api/v1/sessions/export",
                               params={"format": "jsonl"}) as answer:
                answer.raise_for_status()
                for chunk in answer.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
        finally:
            stop.set()
            sampler.join()
        results["hub.export_100k_rss_mb"] = round(peak, 1)
        results["hub.export_rss_growth_mb"] = round(peak - before, 1)
        results["hub.export_s"] = round(time.perf_counter() - started, 1)
        results["hub.export_mb"] = round(size / 1e6, 1)
        results["hub.export_sessions"] = lines - 1
    return results


def run(quick: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        results: Results = {}
        results.update(bench_ingest(tmp, quick))
        results.update(bench_fanout(tmp, quick))
        results.update(bench_big(tmp, quick))
        results["hub.load_avg_1m"] = round(os.getloadavg()[0], 2)
    return results


if __name__ == "__main__":
    main_for(run)
