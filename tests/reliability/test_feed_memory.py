"""Feed clients that stop reading, against a real ``supervisor-hub serve`` process under full
ingest of ~900 KB events: each is closed with 4008, the hub's memory stays within the bound
docs/reliability.md states, and a client that reads, the REST API and ingest keep working.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
from pathlib import Path

import httpx
import pytest
import websockets

from supervisor_desk.hub.feed import MAX_UNSENT_BYTES
from tests.hub.factories import message, started
from tests.reliability.conftest import record
from tests.reliability.desk import auth
from tests.reliability.hubproc import HubProcess, prepare_db, rss_kib
from tests.reliability.rawsock import raw_feed_socket, read_until_closed

NON_READERS = 10
EVENT_TEXT_BYTES = 900_000
MIB = 1024 * 1024
# What the hub may grow by: the frames the furthest-behind client still waits for (frame texts
# are shared, and every backlog ends at the newest event, so all backlogs together are no larger
# than the largest, at most MAX_UNSENT_BYTES), one frame in flight and one in the socket's
# buffer per client, and the working set of ingesting ~900 KB events (46 MiB measured with no
# feed client at all: JSON parse, validation, SQLite/FTS pages, the threads' allocator arenas).
INGEST_WORKING_SET = 96 * MIB
RSS_GROWTH_BOUND = MAX_UNSENT_BYTES + NON_READERS * 2 * EVENT_TEXT_BYTES + INGEST_WORKING_SET
# Post well past the bound, so that a hub holding what non-readers miss must exceed it.
POST_BYTES = RSS_GROWTH_BOUND + 64 * MIB
MAX_ATTACK_SECONDS = 150.0


def big_text(n: int) -> str:
    # Random base64: per-message deflate cannot shrink it to nothing, as it would "xxxx…".
    return f"{n} " + base64.b64encode(os.urandom(EVENT_TEXT_BYTES * 3 // 4)).decode()


class Platform:
    """Posts one ~900 KB message event per batch, back to back, into its own session, until
    ``events`` are posted or ``stop`` is set."""

    def __init__(self, name: str, events: int) -> None:
        self.sid = f"{name}-session"
        self.events = events
        self.count = itertools.count(1)
        self.last_seq = 0
        self.posted = 0

    async def run(self, http: httpx.AsyncClient, url: str, token: str,
                  stop: asyncio.Event) -> None:
        answer = await http.post(f"{url}/api/v1/ingest", headers=auth(token),
                                 json={"events": [started(self.sid)]})
        assert answer.status_code == 200, answer.text
        while not stop.is_set() and self.posted < self.events:
            n = next(self.count)
            event = message(self.sid, f"{self.sid}-m{n}", big_text(n))
            answer = await http.post(f"{url}/api/v1/ingest", headers=auth(token),
                                     json={"events": [event]})
            assert answer.status_code == 200, answer.text
            self.last_seq = max(self.last_seq, answer.json()["last_seq"])
            self.posted += 1


@pytest.mark.asyncio
@pytest.mark.timeout(300)
async def test_ten_feed_clients_that_never_read_are_closed_and_memory_stays_bounded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    url = hub.start()
    stop = asyncio.Event()
    samples: list[int] = []
    probes: list[int] = []
    non_readers = []
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            # Warm up (threads, caches, the first big events) before the baseline.
            await Platform("warm", 10).run(http, url, tokens["ingest"], stop)
            baseline = rss_kib(hub.pid) * 1024

            received: list[int] = []

            async def read_feed() -> None:
                async with websockets.connect(
                    url.replace("http", "ws", 1) + "/api/v1/feed",
                    additional_headers=auth(tokens["viewer"]), max_size=None,
                ) as ws:
                    hello = json.loads(await ws.recv())
                    received.append(hello["seq"])
                    async for raw in ws:
                        received.append(json.loads(raw)["seq"])

            async def sample() -> None:
                while True:
                    samples.append(rss_kib(hub.pid) * 1024)
                    await asyncio.sleep(0.1)

            async def probe() -> None:
                while True:
                    answer = await http.get(f"{url}/api/v1/me", headers=auth(tokens["viewer"]))
                    probes.append(answer.status_code)
                    await asyncio.sleep(0.5)

            reader = asyncio.create_task(read_feed())
            for _ in range(NON_READERS):
                non_readers.append(await asyncio.to_thread(raw_feed_socket, url,
                                                           tokens["viewer"]))
            sampler = asyncio.create_task(sample())
            prober = asyncio.create_task(probe())
            each = -(-POST_BYTES // EVENT_TEXT_BYTES) // 2 + 1
            platforms = [Platform(f"p{n}", each) for n in range(2)]
            posting = [asyncio.create_task(p.run(http, url, tokens["ingest"], stop))
                       for p in platforms]
            await asyncio.wait(posting, timeout=MAX_ATTACK_SECONDS)
            stop.set()
            await asyncio.gather(*posting)
            last_seq = max(p.last_seq for p in platforms)
            # The reading client got every event, in order.
            deadline = asyncio.get_running_loop().time() + 60
            while not received or received[-1] < last_seq:
                assert asyncio.get_running_loop().time() < deadline, "the reader fell behind"
                assert not reader.done(), reader
                await asyncio.sleep(0.1)
            assert received[1:] == list(range(received[0] + 1, last_seq + 1))
            # Each non-reader was closed with 4008 (the hub says so once per client) ...
            while hub.log.read_text().count("closed with 4008") < NON_READERS:
                assert asyncio.get_running_loop().time() < deadline, hub.log.read_text()[-3000:]
                await asyncio.sleep(0.2)
            for task in (sampler, prober, reader):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        # ... and its connection is over: it reads what was left in its buffers, then the end.
        for sock in non_readers:
            data, _reset = await asyncio.to_thread(read_until_closed, sock, 30.0)
            assert data.count(b'"type":"event"') < sum(p.posted for p in platforms)
        assert probes and set(probes) == {200}, probes
        peak = max(samples)
        growth = peak - baseline
        posted = sum(p.posted for p in platforms)
        print(json.dumps({"baseline_mib": round(baseline / MIB, 1),
                          "peak_mib": round(peak / MIB, 1),
                          "growth_mib": round(growth / MIB, 1),
                          "bound_mib": round(RSS_GROWTH_BOUND / MIB, 1),
                          "events_posted": posted,
                          "mb_posted": round(posted * EVENT_TEXT_BYTES / 1e6)}))
        assert posted * EVENT_TEXT_BYTES >= POST_BYTES, "too little traffic to prove the bound"
        record(f"{NON_READERS} feed clients that never read, ~900 KB events: hub RSS "
               f"{baseline / MIB:.0f} -> peak {peak / MIB:.0f} MiB", 1, posted, 0, 0.0)
        assert growth <= RSS_GROWTH_BOUND, (baseline, peak)
    finally:
        for sock in non_readers:
            sock.close()
        hub.stop()
