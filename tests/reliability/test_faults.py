"""Faults on real processes over loopback: kill -9, restarts, broken links, stopped clients.

Every test ends by comparing what clients hold with the hub's ``GET /live`` and what the hub
holds with what it acknowledged: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from tests.reliability.conftest import record
from tests.reliability.desk import Desk, Traffic, auth, live_state
from tests.reliability.hubproc import HubProcess, prepare_db
from tests.reliability.proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
KILL_ROUNDS = int(os.environ.get("RELIABILITY_KILL_ROUNDS", "5"))


def stored_ids(db: Path) -> tuple[list[str], list[int], str]:
    """Event ids and seqs in the hub's log, and PRAGMA integrity_check (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT id, seq FROM events ORDER BY seq").fetchall()
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return [r[0] for r in rows], [r[1] for r in rows], check


class Poster:
    """One platform: posts its own coherent traffic back to back; remembers the batch in
    flight so that after a crash it can be re-sent (the ingest id makes that idempotent)."""

    def __init__(self, seed: int) -> None:
        self.traffic = Traffic(seed=seed)
        self.acked: list[str] = []
        self.pending: list[dict[str, Any]] | None = None

    async def run(self, http: httpx.AsyncClient, url: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.pending is None:
                self.pending = self.traffic.batch(random.randint(1, 200))
            try:
                answer = await http.post(f"{url}/api/v1/ingest", json={"events": self.pending})
            except httpx.TransportError:
                return  # the hub died with this batch in flight: it stays pending
            assert answer.status_code == 200, answer.text
            self.acked += [e["id"] for e in self.pending]
            self.pending = None


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_kill_9_during_ingest_loses_no_acknowledged_event(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    posters = [Poster(seed) for seed in range(3)]
    rng = random.Random(8)
    recoveries: list[float] = []
    try:
        hub.start()
        for _ in range(KILL_ROUNDS):
            stop = asyncio.Event()
            async with httpx.AsyncClient(timeout=30, headers=auth(tokens["ingest"])) as http:
                tasks = [asyncio.create_task(p.run(http, hub.url, stop)) for p in posters]
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                hub.kill9()  # mid-ingest: batches in flight, commits half done
                stop.set()
                await asyncio.gather(*tasks)
            ids, seqs, check = stored_ids(db)
            assert check == "ok"
            assert seqs == list(range(1, len(seqs) + 1)), "the log has a gap"
            assert len(ids) == len(set(ids)), "an event was stored twice"
            missing = {i for p in posters for i in p.acked} - set(ids)
            assert not missing, f"{len(missing)} acknowledged events lost"
            began = time.monotonic()
            hub.restart()
            async with httpx.AsyncClient(timeout=30, headers=auth(tokens["ingest"])) as http:
                # The platform re-sends what was in flight: stored once, whatever happened.
                for poster in posters:
                    if poster.pending is not None:
                        answer = await http.post(f"{hub.url}/api/v1/ingest",
                                                 json={"events": poster.pending})
                        assert answer.status_code == 200, answer.text
                        poster.acked += [e["id"] for e in poster.pending]
                        poster.pending = None
            recoveries.append(time.monotonic() - began)
        ids, seqs, check = stored_ids(db)
        acked = [i for p in posters for i in p.acked]
        assert check == "ok"
        assert sorted(ids) == sorted(acked), "stored events differ from acknowledged ones"
        assert seqs == list(range(1, len(seqs) + 1))
        record("hub kill -9 during ingest", KILL_ROUNDS, len(acked), 0, max(recoveries))
    finally:
        hub.stop()


async def _producer(url: str, token: str, stop: asyncio.Event, rate: float,
                    acked: list[int]) -> None:
    """Steady traffic that rides out hub restarts (re-sends a batch until it is answered)."""
    traffic = Traffic(seed=21)
    async with httpx.AsyncClient(timeout=10, headers=auth(token)) as http:
        while not stop.is_set():
            batch = traffic.batch(max(1, int(rate / 10)))
            while True:
                try:
                    answer = await http.post(f"{url}/api/v1/ingest", json={"events": batch})
                    if answer.status_code == 200:
                        # 200 = every event of the batch is stored: now ("accepted") or by an
                        # earlier try the hub committed before it was killed ("duplicates").
                        acked.append(len(batch))
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.1)


@pytest.mark.asyncio
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["sigterm", "kill9"])
async def test_hub_restart_with_desks_connected(tmp_path: Path, how: str) -> None:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    hub.start()
    clients = [HubClient(hub.url, tokens["viewer"]) for _ in range(3)]
    desks = [Desk(c) for c in clients]
    stop = asyncio.Event()
    acked: list[int] = []
    recoveries: list[float] = []
    producer: asyncio.Task[None] | None = None
    try:
        for desk in desks:
            desk.start()
        for desk in desks:
            await desk.connected()
        producer = asyncio.create_task(_producer(hub.url, tokens["ingest"], stop, 200, acked))
        for _ in range(2):
            await asyncio.sleep(1.5)
            if how == "kill9":
                hub.kill9()
            else:
                assert hub.stop() == 0
            await asyncio.sleep(0.5)
            connections = [d.feed.connections for d in desks]
            began = asyncio.get_running_loop().time()
            await asyncio.to_thread(hub.restart)
            for desk, before in zip(desks, connections, strict=True):
                await desk.until(lambda d=desk, b=before: d.feed.connections > b
                                 and d.state is ConnectionState.CONNECTED)
            recoveries.append(asyncio.get_running_loop().time() - began)
        await asyncio.sleep(1.0)
        stop.set()
        await producer
        for desk in desks:
            await desk.caught_up(hub.url, tokens["viewer"])
            desk.assert_no_doubles()
            assert desk.snapshots == 1, "a restart on the same log must resume, not resync"
            assert desk.saw(ConnectionState.RECONNECTING)
        seq, _ = await asyncio.to_thread(live_state, hub.url, tokens["viewer"])
        assert seq == sum(acked)
        record(f"hub restart ({how}) with 3 desktops connected", 2, sum(acked), 0,
               max(recoveries))
    finally:
        stop.set()
        if producer is not None and not producer.done():
            producer.cancel()
        for desk in desks:
            await desk.stop()
        for client in clients:
            await client.aclose()
        hub.stop()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_proxy_stall_drop_and_reset_are_noticed_and_resumed(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    hub.start()
    port = int(hub.url.rsplit(":", 1)[1])
    proxy = FaultProxy("127.0.0.1", port)
    await proxy.start()
    client = HubClient(proxy.url, tokens["viewer"], timeout=3.0)
    desk = Desk(client, ping_interval=0.5, ping_timeout=1.0, open_timeout=2.0)
    stop = asyncio.Event()
    acked: list[int] = []
    recoveries: list[float] = []
    producer = asyncio.create_task(_producer(hub.url, tokens["ingest"], stop, 100, acked))
    loop = asyncio.get_running_loop()
    try:
        desk.start()
        await desk.connected()
        for fault in ("stall", "drop", "reset", "stall"):
            await asyncio.sleep(0.7)
            mark = len(desk.states)
            began = loop.time()
            if fault == "stall":
                proxy.stall()
            elif fault == "drop":
                proxy.drop()
            else:
                proxy.reset()
            # Noticed: the desk says so (a stalled link only by its pings).
            await desk.until(lambda m=mark: any(
                s in (ConnectionState.RECONNECTING, ConnectionState.UNREACHABLE)
                for _, s, _ in desk.states[m:]), 10)
            noticed = loop.time() - began
            if fault == "stall":
                assert noticed < 5, "a dead link went unnoticed past the ping timeout"
                await asyncio.sleep(1.0)
                proxy.unstall()
            await desk.until(lambda m=mark: desk.states[-1][1] is ConnectionState.CONNECTED
                             and len(desk.states) > m + 1, 15)
            recoveries.append(loop.time() - began)
        stop.set()
        await producer
        await desk.caught_up(hub.url, tokens["viewer"])
        desk.assert_no_doubles()
        assert desk.snapshots == 1
        assert desk.feed.connections >= 5
        record("proxy stall / FIN drop / RST reset between desktop and hub", 4, sum(acked),
               0, max(recoveries))
    finally:
        stop.set()
        if not producer.done():
            producer.cancel()
        await desk.stop()
        await client.aclose()
        await proxy.close()
        hub.stop()


class DeskProcess:
    def __init__(self, url: str, token: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.desk_proc", url, token],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        assert json.loads(self.proc.stdout.readline())["ready"]

    def ask(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    async def until(self, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = await asyncio.to_thread(self.ask)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"desk process never got there: {state}")
            await asyncio.sleep(0.2)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.send_signal(signal.SIGCONT)
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


async def _matches_hub(desk: DeskProcess, url: str, token: str) -> dict[str, Any]:
    seq, hub_state = await asyncio.to_thread(live_state, url, token)
    state = await desk.until(lambda s: s["seq"] >= seq)
    assert state["seq"] == seq
    assert {k: tuple(v) for k, v in state["fingerprint"].items()} == hub_state
    assert state["doubles"] == 0 and state["ordered"]
    return state


async def _stopped_desk(tmp_path: Path, stopped_for: float) -> None:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    hub.start()
    desk = DeskProcess(hub.url, tokens["viewer"])
    stop = asyncio.Event()
    acked: list[int] = []
    producer = asyncio.create_task(_producer(hub.url, tokens["ingest"], stop, 100, acked))
    try:
        await desk.until(lambda s: s["state"] == "connected")
        await asyncio.sleep(1.0)
        desk.signal(signal.SIGSTOP)
        await asyncio.sleep(stopped_for)
        desk.signal(signal.SIGCONT)
        began = time.monotonic()
        await asyncio.sleep(1.0)
        stop.set()
        await producer
        state = await _matches_hub(desk, hub.url, tokens["viewer"])
        record(f"desktop process SIGSTOP {stopped_for:.0f} s then SIGCONT", 1, sum(acked), 0,
               time.monotonic() - began)
        assert state["snapshots"] >= 1
        if stopped_for > 45:
            # Past the hub's ping interval + timeout (20 s + 20 s) the hub dropped the socket:
            # the desk noticed on waking, reconnected and resumed with ``after``.
            assert "reconnecting" in state["states"], state["states"]
            assert state["connections"] >= 2
    finally:
        stop.set()
        if not producer.done():
            producer.cancel()
        desk.close()
        hub.stop()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_desk_process_stopped_25s_resyncs(tmp_path: Path) -> None:
    await _stopped_desk(tmp_path, 25.0)


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.timeout(150)
async def test_desk_process_stopped_60s_resyncs(tmp_path: Path) -> None:
    await _stopped_desk(tmp_path, 60.0)


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_desk_that_cannot_keep_up_is_closed_4008_and_resumes(
    running_hub: EmbeddedHub,
) -> None:
    """A desk whose link stops reading (a proxy with a small window, stalled) while a burst
    arrives overflows its buffer on the hub: the hub closes it with 4008, it resumes with
    ``after``; a second desk follows the same burst untouched.

    Same-process hub with the limit at 200 frames (the protocol's is 10,000) and 20 kB
    incompressible messages: the overflow comes in seconds, not after megabytes of buffers.
    """
    hub = running_hub
    hub.server.service.broadcaster.limit = 200
    token = hub.create_token("desk", "viewer")
    proxy = FaultProxy("127.0.0.1", int(hub.url.rsplit(":", 1)[1]), rcvbuf=8192)
    await proxy.start()
    slow_client = HubClient(proxy.url, token)
    slow = Desk(slow_client, ping_interval=None)  # only the hub's verdict may close it
    client = HubClient(hub.url, token)
    fine = Desk(client)
    traffic = Traffic(seed=4)
    total = 0
    try:
        async with httpx.AsyncClient(timeout=60, headers=auth(hub.ingest_token)) as http:  # type: ignore[attr-defined]

            async def post(events: list[dict[str, Any]]) -> None:
                nonlocal total
                answer = await http.post(f"{hub.url}/api/v1/ingest", json={"events": events})
                assert answer.status_code == 200, answer.text
                total += answer.json()["accepted"]

            await post(traffic.batch(50))
            fine.start()
            slow.start()
            await fine.connected()
            await slow.connected()
            proxy.stall()
            for _ in range(40):
                batch = traffic.batch(20)
                for event in batch:
                    if event["type"] == "message.created":
                        # Incompressible: the feed uses per-message deflate.
                        event["data"]["text"] = base64.b64encode(os.urandom(15_000)).decode()
                await post(batch)
        await fine.caught_up(hub.url, token, timeout=60)
        began = asyncio.get_running_loop().time()
        proxy.unstall()
        await slow.caught_up(hub.url, token, timeout=60)
        recovery = asyncio.get_running_loop().time() - began
        assert slow.saw(ConnectionState.RECONNECTING), "the slow desk was never closed"
        assert any("behind" in detail for _, _, detail in slow.states), slow.states
        assert slow.feed.connections >= 2
        assert slow.snapshots == 1, "it resumed with after, no snapshot reload"
        for desk in (slow, fine):
            desk.assert_no_doubles()
        assert fine.feed.connections == 1 and fine.snapshots == 1, "the fast desk was disturbed"
        record("desktop that cannot keep up (4008) while another keeps up", 1, total, 0,
               recovery)
    finally:
        for desk in (slow, fine):
            await desk.stop()
        for c in (slow_client, client):
            await c.aclose()
        await proxy.close()
