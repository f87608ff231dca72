"""FeedClient against a real hub on loopback: live events, resume, restarts, resync, auth."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from tests.client.hub_events import ended, message, started, updated
from tests.conftest import ingest
from tests.helpers import FeedRecorder, wait_until

pytestmark = pytest.mark.timeout(60)


async def post(hub: EmbeddedHub, events: list[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.to_thread(ingest, hub, events)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def restart(old: EmbeddedHub, db_path: Path | None = None) -> EmbeddedHub:
    """Stop ``old`` and start a hub on ``db_path`` (default: the same file) on the same port."""
    port = int(old.url.rsplit(":", 1)[1])
    old.stop()
    new = EmbeddedHub(db_path or old.db_path, port=port)
    new.ingest_token = old.ingest_token  # type: ignore[attr-defined]
    new.start()
    return new


def live_ids(hub: EmbeddedHub, token: str) -> dict[str, int]:
    answer = httpx.get(f"{hub.url}/api/v1/live", headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return {s["id"]: s["version"] for s in answer.json()["sessions"]}


class Feed:
    """A running FeedClient task with its listener."""

    def __init__(self, client: HubClient, **options: Any) -> None:
        self.client = client
        self.rec = FeedRecorder()
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_max", 0.5)
        self.feed = FeedClient(client, self.rec, **options)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.feed.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        await wait_until(predicate, timeout)

    async def connected(self) -> None:
        await self.until(lambda: self.rec.state is ConnectionState.CONNECTED)


@pytest.fixture
def viewer_token(running_hub: EmbeddedHub) -> str:
    return running_hub.create_token("desk", "viewer")


@pytest_asyncio.fixture
async def feed(running_hub: EmbeddedHub, viewer_token: str) -> AsyncIterator[Feed]:
    client = HubClient(running_hub.url, viewer_token)
    f = Feed(client)
    try:
        yield f
    finally:
        await f.stop()
        await client.aclose()


@pytest.mark.asyncio
async def test_snapshot_then_live_events(running_hub: EmbeddedHub, feed: Feed) -> None:
    await post(running_hub, [started("s1", "queued"), started("gone"), ended("gone")])
    feed.start()
    await feed.connected()
    assert [s.id for s in feed.rec.snapshots[0].sessions] == ["s1"]
    assert feed.rec.events == []

    answer = await post(running_hub, [
        started("s2"), message("s2", "Hello, I need help"), updated("s1", status="active"),
        ended("s2"),
    ])
    await feed.until(lambda: feed.feed.seq == answer["last_seq"])
    seqs = [seq for seq, _, _ in feed.rec.events]
    assert seqs == list(range(seqs[0], answer["last_seq"] + 1))
    assert not any(replayed for _, _, replayed in feed.rec.events)
    s1, s2 = feed.rec.store.get("s1"), feed.rec.store.get("s2")
    assert s1 is not None and s1.status == "active"
    assert s2 is not None and s2.status == "completed" and s2.message_count == 1
    assert feed.rec.state is ConnectionState.CONNECTED


@pytest.mark.asyncio
async def test_drop_and_resume_gets_exactly_the_missed_events(
    running_hub: EmbeddedHub, viewer_token: str
) -> None:
    client = HubClient(running_hub.url, viewer_token)
    # A slow first retry so the events below are surely posted while we are away.
    f = Feed(client, backoff_base=1.0, backoff_max=1.0)
    try:
        f.start()
        await f.connected()
        first = await post(running_hub, [started("a"), message("a", "one")])
        await f.until(lambda: f.feed.seq == first["last_seq"])
        seen = len(f.rec.events)

        ws = f.feed._ws
        assert ws is not None
        ws.transport.abort()  # the network drops
        await f.until(lambda: f.rec.state is ConnectionState.RECONNECTING)
        missed = [message("a", "two"), started("b"), updated("a", stage="billing")]
        await post(running_hub, missed)
        await f.connected()
        assert f.rec.ids(seen) == [e["id"] for e in missed]
        assert all(replayed for _, _, replayed in f.rec.events[seen:])
        assert len(f.rec.snapshots) == 1  # resumed, no reload

        live = [ended("b")]
        answer = await post(running_hub, live)
        await f.until(lambda: f.feed.seq == answer["last_seq"])
        assert f.rec.events[-1] == (answer["last_seq"], live[0]["id"], False)
        assert f.feed.connections == 2
    finally:
        await f.stop()
        await client.aclose()


@pytest.mark.asyncio
async def test_run_again_resumes_where_it_stopped(running_hub: EmbeddedHub, feed: Feed) -> None:
    feed.start()
    await feed.connected()
    await feed.stop()
    assert feed.rec.state is ConnectionState.STOPPED
    away = [started("x"), message("x", "while the app was closed")]
    answer = await post(running_hub, away)
    feed.start()
    await feed.until(lambda: feed.feed.seq == answer["last_seq"])
    assert feed.rec.ids() == [e["id"] for e in away]
    assert len(feed.rec.snapshots) == 1


@pytest.mark.asyncio
async def test_hub_restart_on_same_database_loses_and_doubles_nothing(
    running_hub: EmbeddedHub, viewer_token: str
) -> None:
    """Events flow the whole time; the hub stops and restarts on the same file and port."""
    acknowledged: list[str] = []
    stop_producing = asyncio.Event()
    hubs = [running_hub]

    async def produce() -> None:
        n = 0
        async with httpx.AsyncClient(timeout=5.0) as http:
            while not stop_producing.is_set():
                sid = f"p{n}"
                batch = [started(sid), message(sid, f"message {n}")]
                if n >= 3:
                    batch.append(ended(f"p{n - 3}"))
                while True:  # retry the same ids until acknowledged: ingest is idempotent
                    try:
                        answer = await http.post(
                            f"{hubs[-1].url}/api/v1/ingest", json={"events": batch},
                            headers={"Authorization": f"Bearer {running_hub.ingest_token}"},  # type: ignore[attr-defined]
                        )
                        if answer.status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
                acknowledged.extend(e["id"] for e in batch)
                n += 1
                await asyncio.sleep(0.01)

    client = HubClient(running_hub.url, viewer_token)
    # Retries slower than the producer's, so events posted to the restarted hub are missed
    # and must come back through the resume.
    f = Feed(client, backoff_base=0.4, backoff_max=0.8)
    producer: asyncio.Task[None] | None = None
    try:
        f.start()
        await f.connected()
        # Only now: an event posted before the snapshot is in it, not among the events heard.
        producer = asyncio.create_task(produce())
        await f.until(lambda: len(f.rec.events) >= 30)
        hubs.append(await asyncio.to_thread(restart, running_hub))
        await f.until(lambda: f.feed.connections >= 2)
        mark = len(acknowledged)
        await f.until(lambda: len(acknowledged) >= mark + 30)
        stop_producing.set()
        await producer
        await f.until(lambda: set(f.rec.ids()) >= set(acknowledged))
        # Sentinel: one more event. The feed is in seq order, so once it is here a double of
        # anything before it would have arrived too.
        sentinel = [started("sentinel")]
        await post(hubs[-1], sentinel)
        acknowledged.append(sentinel[0]["id"])
        await f.until(lambda: f.rec.ids()[-1:] == [sentinel[0]["id"]])

        seqs = [seq for seq, _, _ in f.rec.events]
        first_seq = f.rec.snapshots[0].seq + 1
        assert seqs == list(range(first_seq, first_seq + len(seqs)))  # no gap, no double
        assert sorted(f.rec.ids()) == sorted(acknowledged)  # every acknowledged event, once
        assert len(f.rec.snapshots) == 1  # same epoch: resumed, never reloaded
        assert any(replayed for _, _, replayed in f.rec.events)  # the resume path was taken
        store_versions = {s.id: s.version for s in f.rec.store if s.is_live}
        hub_versions = live_ids(hubs[-1], viewer_token)
        assert store_versions.keys() == hub_versions.keys()
    finally:
        stop_producing.set()
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        await f.stop()
        await client.aclose()
        for hub in hubs:
            hub.stop()


@pytest.mark.parametrize("how", ["new event log", "older backup"])
@pytest.mark.asyncio
async def test_hub_that_lost_our_position_makes_us_reload_the_snapshot(
    running_hub: EmbeddedHub, viewer_token: str, tmp_path: Path, how: str
) -> None:
    # A second database with the same accounts: either its event log was recreated (a new
    # epoch) or it is a backup from before the events below (same epoch, fewer events).
    fresh = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(running_hub.db_path)) as src, \
            contextlib.closing(sqlite3.connect(fresh)) as dst:
        src.backup(dst)
        if how == "new event log":
            dst.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (uuid.uuid4().hex,))
            dst.commit()

    await post(running_hub, [started("old-1"), started("old-2")])
    client = HubClient(running_hub.url, viewer_token)
    f = Feed(client)
    hubs = [running_hub]
    try:
        f.start()
        await f.connected()
        old_epoch = f.feed.epoch
        assert {s.id for s in f.rec.store} == {"old-1", "old-2"}

        new_hub = await asyncio.to_thread(restart, running_hub, fresh)
        hubs.append(new_hub)
        await post(new_hub, [started("new-1")])
        await f.until(lambda: len(f.rec.snapshots) == 2)
        await f.connected()
        assert (f.feed.epoch != old_epoch) == (how == "new event log")
        # new-1 comes with the snapshot or, when the client reloaded before it was posted, as
        # the first event after it: either way the old sessions are gone and new-1 is there.
        await f.until(lambda: {s.id for s in f.rec.store} == {"new-1"})

        answer = await post(new_hub, [message("new-1", "still live")])
        await f.until(lambda: f.feed.seq == answer["last_seq"])
        assert f.rec.events[-1][2] is False
    finally:
        await f.stop()
        await client.aclose()
        for hub in hubs:
            hub.stop()


@pytest.mark.asyncio
async def test_bad_token_ends_in_unauthorized(running_hub: EmbeddedHub) -> None:
    client = HubClient(running_hub.url, "sd_not-a-real-token")
    f = Feed(client)
    try:
        await asyncio.wait_for(f.feed.run(), 10)  # returns by itself
        assert f.rec.state is ConnectionState.UNAUTHORIZED
        assert f.rec.snapshots == []
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_revoked_token_is_refused_at_the_websocket_handshake(
    running_hub: EmbeddedHub,
) -> None:
    client = HubClient(running_hub.url)
    await client.login("viewer", "viewer")
    token = client.token
    f = Feed(client)
    try:
        f.start()
        await f.connected()
        await f.stop()
        await client.logout()  # revoked on the hub
        client.token = token  # the desktop still holds the old one
        # Resuming skips the snapshot, so the handshake itself must refuse us.
        await asyncio.wait_for(f.feed.run(), 10)
        assert f.rec.state is ConnectionState.UNAUTHORIZED
        assert "sign in again" in f.rec.states[-1][2]
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_unreachable_hub_is_retried_with_backoff(
    running_hub: EmbeddedHub, viewer_token: str
) -> None:
    client = HubClient(running_hub.url, viewer_token)
    f = Feed(client, backoff_base=0.05, backoff_max=0.2, unreachable_after=3)
    try:
        f.start()
        await f.connected()
        running_hub.stop()
        await f.until(lambda: sum(
            1 for state, _, _ in f.rec.states if state is ConnectionState.UNREACHABLE) >= 3)
        waits = [(s, r) for s, r, _ in f.rec.states
                 if s in (ConnectionState.RECONNECTING, ConnectionState.UNREACHABLE)]
        assert waits[0][0] is ConnectionState.RECONNECTING
        assert all(r is not None and 0 < r <= 0.2 for _, r in waits)
        assert "reach" in f.rec.states[-1][2] or f.rec.state is ConnectionState.CONNECTING
        assert not f.task.done()  # type: ignore[union-attr]  # still retrying
    finally:
        await f.stop()
        await client.aclose()
    assert f.rec.state is ConnectionState.STOPPED


@pytest.mark.asyncio
async def test_cancel_closes_the_socket(running_hub: EmbeddedHub, feed: Feed) -> None:
    broadcaster = running_hub.server.service.broadcaster
    feed.start()
    await feed.connected()
    assert broadcaster.subscriber_count == 1
    await feed.stop()
    await wait_until(lambda: broadcaster.subscriber_count == 0, 5)
    assert feed.rec.state is ConnectionState.STOPPED


def test_backoff_grows_jittered_and_capped() -> None:
    client = HubClient("http://127.0.0.1:9")
    feed = FeedClient(client, FeedRecorder(), backoff_max=30.0, backoff_base=0.5)
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (50, 30.0)]:
        delays = {feed.backoff_delay(failures) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.asyncio
async def test_token_is_not_logged_by_the_websocket_handshake(
    running_hub: EmbeddedHub, viewer_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = HubClient(running_hub.url, viewer_token)
    f = Feed(client)
    try:
        f.start()
        await f.connected()
    finally:
        await f.stop()
        await client.aclose()
    assert "> GET /api/v1/feed" in caplog.text  # the handshake was logged...
    assert "[redacted]" in caplog.text
    assert viewer_token not in caplog.text  # ...without the token


@pytest.mark.asyncio
async def test_too_slow_close_resumes_without_loss(running_hub: EmbeddedHub, feed: Feed) -> None:
    # This hub tolerates only 5 unsent frames per client: a burst of 40 overflows our buffer
    # and the hub closes the feed with 4008.
    running_hub.server.service.broadcaster.limit = 5
    feed.start()
    await feed.connected()
    burst = [started(f"b{i}") for i in range(40)]
    answer = await post(running_hub, burst)
    await feed.until(lambda: feed.feed.seq == answer["last_seq"])
    assert feed.rec.ids() == [e["id"] for e in burst]
    assert feed.feed.connections >= 2  # it was closed and resumed...
    assert len(feed.rec.snapshots) == 1  # ...without a reload
    assert any("behind" in detail for _, _, detail in feed.rec.states)
    assert len(feed.rec.store) == 40


@pytest.mark.asyncio
async def test_gap_in_the_feed_reloads_the_snapshot(
    running_hub: EmbeddedHub, feed: Feed, viewer_token: str
) -> None:
    await post(running_hub, [started("s1")])
    feed.start()
    await feed.connected()
    first = await post(running_hub, [started("s2")])
    await feed.until(lambda: feed.feed.seq == first["last_seq"])
    # Simulate a frame lost in transit: our position falls one behind what we applied, so
    # the next frame does not follow it.
    feed.feed._seq -= 1
    second = await post(running_hub, [started("s3"), ended("s1")])
    await feed.until(lambda: len(feed.rec.snapshots) == 2)
    await feed.until(lambda: feed.feed.seq == second["last_seq"])
    assert {s.id for s in feed.rec.store if s.is_live} == set(live_ids(running_hub, viewer_token))
    assert {s.id for s in feed.rec.store} == {"s2", "s3"}


@pytest.mark.asyncio
async def test_backoff_grows_during_an_outage_and_resets_after_a_stable_connection(
    running_hub: EmbeddedHub, viewer_token: str
) -> None:
    client = HubClient(running_hub.url, viewer_token)
    f = Feed(client, backoff_base=0.05, backoff_max=5.0, stable_after=0.3)
    hubs = [running_hub]
    try:
        f.start()
        await f.connected()
        port = int(running_hub.url.rsplit(":", 1)[1])
        running_hub.stop()
        waiting = (ConnectionState.RECONNECTING, ConnectionState.UNREACHABLE)
        await f.until(lambda: sum(1 for s, _, _ in f.rec.states if s in waiting) >= 4)
        delays = [r for s, r, _ in f.rec.states if s in waiting]
        assert delays[3] is not None and delays[3] > 0.1  # grew: 4th ceiling is 0.4 s

        hub = EmbeddedHub(running_hub.db_path, port=port)
        hubs.append(hub)
        await asyncio.to_thread(hub.start)
        await f.connected()
        await asyncio.sleep(0.4)  # longer than stable_after
        mark = len(f.rec.states)
        assert f.feed._ws is not None
        f.feed._ws.transport.abort()
        await f.until(lambda: any(s in waiting for s, _, _ in f.rec.states[mark:]))
        retry = next(r for s, r, _ in f.rec.states[mark:] if s in waiting)
        assert retry is not None and retry <= 0.05  # back to the first step
        await f.connected()
    finally:
        await f.stop()
        await client.aclose()
        for h in hubs:
            h.stop()


class Relay:
    """A TCP relay in front of the hub that can go silent without closing (a dead link:
    a laptop waking from sleep, a NAT dropping the flow)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.silent = False
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if self.silent:
                        continue  # swallowed: nothing arrives, nothing is closed
                    dst.write(data)
                    await dst.drain()
            dst.close()

        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.mark.asyncio
async def test_a_dead_link_is_noticed_by_pings_and_resumed(
    running_hub: EmbeddedHub, viewer_token: str
) -> None:
    relay = Relay(int(running_hub.url.rsplit(":", 1)[1]))
    await relay.start()
    client = HubClient(f"http://127.0.0.1:{relay.port}", viewer_token)
    f = Feed(client, ping_interval=0.2, ping_timeout=0.3)
    try:
        f.start()
        await f.connected()
        relay.silent = True
        missed = [started("during-sleep")]
        await post(running_hub, missed)
        await f.until(lambda: f.rec.state is not ConnectionState.CONNECTED, 5)
        relay.silent = False
        await f.connected()
        assert f.rec.ids() == [missed[0]["id"]]
        assert f.rec.events[0][2] is True  # happened while we were away
        assert f.feed.connections == 2 and len(f.rec.snapshots) == 1
    finally:
        await f.stop()
        await client.aclose()
        await relay.close()


class BatchRecorder(FeedRecorder):
    """Also keeps the event ids of each batch the feed handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self._batch_start = 0

    def on_batch_done(self) -> None:
        self.batches.append(self.ids(self._batch_start))
        self._batch_start = len(self.events)


def frames_in_kernel(feed: FeedClient) -> int:
    """Feed frames that arrived in our socket and are not read yet (peeked, not taken)."""
    ws = feed._ws
    assert ws is not None
    with socket.fromfd(ws.transport.get_extra_info("socket").fileno(),
                       socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            waiting = sock.recv(1 << 20, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0
    return waiting.count(b'{"type":"event"')


@pytest.mark.asyncio
async def test_a_busy_feed_rests_and_reads_what_came_meanwhile_in_one_batch(
    running_hub: EmbeddedHub, viewer_token: str
) -> None:
    client = HubClient(running_hub.url, viewer_token)
    rec = BatchRecorder()
    feed = FeedClient(client, rec)
    feed.read_interval = 30.0  # the test ends the rests itself
    task = asyncio.create_task(feed.run())
    try:
        await wait_until(lambda: rec.state is ConnectionState.CONNECTED)
        first = await post(running_hub, [started("a")])
        await wait_until(lambda: feed.seq == first["last_seq"])
        assert rec.batches[-1] == [first_id := rec.ids()[-1]]
        # It came within read_interval of the last read: a busy moment, the socket rests.
        await wait_until(lambda: feed.resting)
        burst = [message("a", "one"), message("a", "two"), updated("a", stage="billing")]
        for event in burst:  # three posts: three frames, each sent as it is stored
            answer = await post(running_hub, [event])
        await wait_until(lambda: frames_in_kernel(feed) == len(burst))
        assert rec.ids()[-1] == first_id  # they wait in the kernel, nothing is lost
        feed.read_now()
        await wait_until(lambda: feed.seq == answer["last_seq"])
        assert rec.batches[-1] == [e["id"] for e in burst]  # one wake-up, in order
        seqs = [seq for seq, _, _ in rec.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

        # Back on screen: no rest, every frame is read as it comes.
        feed.read_interval = 0.0
        feed.read_now()
        await wait_until(lambda: not feed.resting)
        last = await post(running_hub, [ended("a")])
        await wait_until(lambda: feed.seq == last["last_seq"])
        assert not feed.resting
        session = rec.store.get("a")
        assert session is not None and not session.is_live and session.stage == "billing"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
