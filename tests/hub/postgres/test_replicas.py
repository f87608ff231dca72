"""Three hub processes on one PostgreSQL database, as in production (docs/deploy.md).

Platforms ingest through all three at once while 20 desktops' feed clients (the real
``FeedClient``, each listing the three replicas' addresses, starting on different ones)
follow the live feed. One replica is killed with SIGKILL mid-load and PostgreSQL itself is
restarted mid-load: ingest answers 503 while the database is away and is retried, the killed
replica's clients fail over, and in the end every client has seen every acknowledged event
exactly once, in seq order, and the database holds every acknowledged event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.store.postgres.store import PostgresStore
from tests.client.hub_events import message, started
from tests.helpers import FeedRecorder, wait_until
from tests.hub.conftest import fresh_pg_database
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.timeout(180)

REPLICAS = 3
FEED_CLIENTS = 20
PRODUCERS = 3
BATCHES_PER_PRODUCER = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Replica:
    """``supervisor-hub serve --db postgresql://…`` in its own process."""

    def __init__(self, dsn: str, files: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        hub = Path(sys.executable).with_name("supervisor-hub")
        self.process = subprocess.Popen(
            [str(hub), "serve", "--db", dsn, "--port", str(self.port), "--files-dir",
             str(files), "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_listening(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening on"), line

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def replicas(postgres: PostgresServer, _pg_template: str, tmp_path: Path
             ) -> Iterator[tuple[list[Replica], str, str]]:
    dsn = fresh_pg_database(postgres, _pg_template)
    store = PostgresStore(dsn, listen=False, files_dir=tmp_path / "setup")
    ingest_token, _ = store.create_token("platform", "ingest")
    viewer_token, _ = store.create_token("desk", "viewer")
    store.close()
    started_replicas: list[Replica] = []
    try:
        for n in range(REPLICAS):  # started side by side, then awaited
            started_replicas.append(Replica(dsn, tmp_path / f"files-{n}"))
        for replica in started_replicas:
            replica.wait_listening()
        yield started_replicas, ingest_token, viewer_token
    finally:
        for replica in started_replicas:
            replica.stop()
        # The server must be up for the drop (a test may have stopped it).
        if not (postgres.data / "postmaster.pid").exists():
            postgres.start()
        postgres.drop_database(dsn.rsplit("/", 1)[1])


class Producer:
    """A platform posting batches through its replica, retrying a batch (same event ids:
    ingest is idempotent) on another replica or later until it is acknowledged."""

    def __init__(self, name: str, urls: list[str], token: str) -> None:
        self.name = name
        self.urls = urls
        self.token = token
        self.acknowledged: list[str] = []
        self.unavailable = 0  # 503 answers (database away)
        self.refused = 0  # connection errors (replica killed)

    async def run(self, batches: int, pause: asyncio.Event) -> None:
        at = 0
        async with httpx.AsyncClient(timeout=10.0) as http:
            for n in range(batches):
                await pause.wait()
                sid = f"{self.name}-{n}"
                batch = [started(sid), message(sid, f"hello {n}"), message(sid, "more")]
                while True:
                    url = self.urls[at % len(self.urls)]
                    try:
                        answer = await http.post(
                            f"{url}/api/v1/ingest", json={"events": batch},
                            headers={"Authorization": f"Bearer {self.token}"})
                    except httpx.TransportError:
                        self.refused += 1
                        at += 1
                        await asyncio.sleep(0.05)
                        continue
                    if answer.status_code == 200:
                        break
                    assert answer.status_code == 503, answer.text
                    self.unavailable += 1
                    await asyncio.sleep(0.1)
                self.acknowledged.extend(e["id"] for e in batch)


def _database_events(dsn: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        return [(int(s), i) for s, i in conn.execute("SELECT seq, id FROM events ORDER BY seq")]


@pytest.mark.asyncio
async def test_replicas_share_one_feed_through_a_replica_kill_and_a_database_restart(
    replicas: tuple[list[Replica], str, str], postgres: PostgresServer,
) -> None:
    nodes, ingest_token, viewer_token = replicas
    urls = [r.url for r in nodes]
    clients: list[HubClient] = []
    feeds: list[tuple[FeedClient, FeedRecorder, asyncio.Task[None]]] = []
    for n in range(FEED_CLIENTS):
        rotated = urls[n % REPLICAS:] + urls[:n % REPLICAS]  # spread over the replicas
        client = HubClient(", ".join(rotated), viewer_token)
        recorder = FeedRecorder()
        feed = FeedClient(client, recorder, backoff_base=0.1, backoff_max=1.0,
                          ping_interval=2.0, ping_timeout=2.0)
        clients.append(client)
        feeds.append((feed, recorder, asyncio.create_task(feed.run())))
    try:
        await wait_until(lambda: all(r.state is ConnectionState.CONNECTED for _, r, _ in feeds),
                         30)
        producers = [Producer(f"p{n}", urls[n:] + urls[:n], ingest_token)
                     for n in range(PRODUCERS)]
        go = asyncio.Event()
        go.set()
        load = [asyncio.create_task(p.run(BATCHES_PER_PRODUCER, go)) for p in producers]

        # Mid-load: replica 0 dies (SIGKILL: no goodbye to its clients).
        await wait_until(lambda: sum(len(p.acknowledged) for p in producers) >= 60, 30)
        await asyncio.to_thread(nodes[0].kill)
        # Then PostgreSQL restarts under the two survivors.
        await wait_until(lambda: sum(len(p.acknowledged) for p in producers) >= 150, 30)
        await asyncio.to_thread(postgres.stop)
        async with httpx.AsyncClient(timeout=10.0) as http:
            down = await http.post(f"{urls[1]}/api/v1/ingest", json={"events": [started("x")]},
                                   headers={"Authorization": f"Bearer {ingest_token}"})
        assert down.status_code == 503, down.text  # not a hang, not a 500
        await asyncio.sleep(0.5)  # a moment of load against the missing database
        await asyncio.to_thread(postgres.start)
        await asyncio.wait_for(asyncio.gather(*load), 90)

        acknowledged = {i for p in producers for i in p.acknowledged}
        stored = await asyncio.to_thread(_database_events, postgres.dsn(_database_name(nodes)))
        stored_ids = [i for _, i in stored]
        assert acknowledged <= set(stored_ids)  # nothing acknowledged was lost
        assert [s for s, _ in stored] == list(range(1, len(stored) + 1))  # gap-free
        last = stored[-1][0]

        try:
            await wait_until(lambda: all(f.seq == last for f, _, _ in feeds), 60)
        except AssertionError:
            behind = [(f.seq, r.states[-3:]) for f, r, _ in feeds if f.seq != last]
            raise AssertionError(f"feeds behind seq {last}: {behind}") from None
        for _, recorder, _ in feeds:
            seqs = [seq for seq, _, _ in recorder.events]
            assert seqs == list(range(seqs[0], last + 1))  # each once, in order
            assert len(recorder.snapshots) == 1, "resumed, never reloaded"
            assert [i for _, i, _ in recorder.events] == stored_ids[seqs[0] - 1:]
        moved = [c for c in clients if c.active_url != c.addresses[0]]
        assert {c.addresses[0] for c in moved} >= {urls[0]}  # replica 0's clients failed over
        assert all(c.active_url != urls[0] for c in clients)
    finally:
        for _, _, task in feeds:
            task.cancel()
        for _, _, task in feeds:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in clients:
            await client.aclose()


def _database_name(nodes: list[Replica]) -> str:
    """The database the replicas run on (from the first replica's command line)."""
    argv = nodes[0].process.args
    assert isinstance(argv, list)
    dsn = str(argv[argv.index("--db") + 1])
    return dsn.rsplit("/", 1)[1]
