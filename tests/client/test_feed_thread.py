"""FeedThread against a real hub on loopback: the feed read on a worker thread, handed over on
the owner's thread in order, once per batch, with back-pressure, through restarts and resumes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.feed_thread import FeedThread
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from tests.client.hub_events import message, started
from tests.client.test_feed import live_ids, post, restart
from tests.helpers import FeedRecorder, wait_until

pytestmark = pytest.mark.timeout(60)


class Owner:
    """The owner's side as the desktop's bridge does it: a wake from the worker schedules one
    hand-over on this thread's loop; the hand-over comes back for what its slice left."""

    def __init__(self, client: HubClient, *, drain: bool = True, **options: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.rec = FeedRecorder()
        self.wakes = 0
        self.wakes_off_thread = 0
        self.drain = drain
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_max", 0.5)
        self.reader = FeedThread(client, self._wake, **options)

    def _wake(self) -> None:
        self.wakes += 1
        if threading.current_thread() is not threading.main_thread():
            self.wakes_off_thread += 1
        if self.drain:
            self.loop.call_soon_threadsafe(self.hand_over)

    def hand_over(self) -> None:
        if self.reader.hand_over(self.rec):
            self.loop.call_soon(self.hand_over)

    async def until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        await wait_until(predicate, timeout)

    async def stop(self) -> None:
        self.reader.stop()
        await self.until(lambda: self.reader.join(0))
        self.hand_over()


@pytest.mark.asyncio
async def test_restart_and_resume_through_the_thread_lose_double_and_reorder_nothing(
    running_hub: EmbeddedHub,
) -> None:
    """Events flow the whole time; the hub restarts on the same file and port while the worker
    reads: the owner hears every acknowledged event once, in seq order, in batches."""
    token = running_hub.create_token("desk", "viewer")
    acknowledged: list[str] = []
    stop_producing = asyncio.Event()
    hubs = [running_hub]

    async def produce() -> None:
        n = 0
        async with httpx.AsyncClient(timeout=5.0) as http:
            while not stop_producing.is_set():
                batch = [started(f"p{n}"), message(f"p{n}", f"message {n}")]
                while True:  # the same ids until acknowledged: ingest is idempotent
                    with contextlib.suppress(httpx.TransportError):
                        answer = await http.post(
                            f"{hubs[-1].url}/api/v1/ingest", json={"events": batch},
                            headers={"Authorization": f"Bearer {running_hub.ingest_token}"},  # type: ignore[attr-defined]
                        )
                        if answer.status_code == 200:
                            break
                    await asyncio.sleep(0.05)
                acknowledged.extend(e["id"] for e in batch)
                n += 1
                await asyncio.sleep(0.01)

    client = HubClient(running_hub.url, token)
    owner = Owner(client, backoff_base=0.4, backoff_max=0.8)
    producer = asyncio.create_task(produce())
    try:
        owner.reader.start()
        await owner.until(lambda: len(owner.rec.events) >= 30)
        hubs.append(await asyncio.to_thread(restart, running_hub))
        await owner.until(lambda: owner.reader.connections >= 2)
        mark = len(acknowledged)
        await owner.until(lambda: len(acknowledged) >= mark + 30)
        stop_producing.set()
        await producer
        sentinel = [started("sentinel")]
        await post(hubs[-1], sentinel)
        acknowledged.append(sentinel[0]["id"])
        await owner.until(lambda: owner.rec.ids()[-1:] == [sentinel[0]["id"]])

        seqs = [seq for seq, _, _ in owner.rec.events]
        first = owner.rec.snapshots[0].seq + 1
        assert seqs == list(range(first, first + len(seqs)))  # no gap, no double, in order
        assert sorted(owner.rec.ids()) == sorted(acknowledged)
        assert len(owner.rec.snapshots) == 1  # resumed, never reloaded
        assert any(replayed for _, _, replayed in owner.rec.events)  # through the resume
        assert owner.reader.seq == seqs[-1]
        assert owner.wakes == owner.wakes_off_thread  # every wake came from the worker
        assert {s.id for s in owner.rec.store if s.is_live} == live_ids(hubs[-1], token).keys()
    finally:
        stop_producing.set()
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        await owner.stop()
        await client.aclose()
        for hub in hubs:
            hub.stop()
    assert owner.rec.state is ConnectionState.STOPPED  # its last word reached the owner
    assert owner.reader.join(0) and owner.reader.finished and owner.reader.error is None


@pytest.mark.asyncio
async def test_an_owner_that_does_not_take_gets_one_wake_and_the_socket_is_left_unread(
    running_hub: EmbeddedHub,
) -> None:
    client = HubClient(running_hub.url, running_hub.create_token("desk", "viewer"))
    owner = Owner(client, drain=False, max_backlog=20)
    try:
        owner.reader.start()
        await owner.until(lambda: owner.wakes >= 1)  # the snapshot: nobody takes it
        last: dict[str, Any] = {}
        for n in range(12):  # 120 events, far past the backlog allowed
            last = await post(running_hub, [message_or_start(n, i) for i in range(10)])
        # The worker stops reading once 20 wait: held until the owner takes half.
        await owner.until(lambda: owner.reader._held is not None)
        assert owner.wakes == 1  # the buffer grew, the wake stayed one
        assert 20 < owner.reader._events_waiting < 120

        owner.drain = True
        owner.hand_over()
        await owner.until(lambda: owner.reader.seq == last["last_seq"])
        seqs = [seq for seq, _, _ in owner.rec.events]
        first = owner.rec.snapshots[0].seq + 1
        assert seqs == list(range(first, last["last_seq"] + 1))
        assert owner.rec.state is ConnectionState.CONNECTED
    finally:
        await owner.stop()
        await client.aclose()


def message_or_start(batch: int, index: int) -> dict[str, Any]:
    sid = f"s{batch}"
    return started(sid) if index == 0 else message(sid, f"message {index}")


@pytest.mark.asyncio
async def test_the_worker_sends_the_owners_current_token(running_hub: EmbeddedHub) -> None:
    client = HubClient(running_hub.url)  # signed out when the reader is made
    owner = Owner(client)
    try:
        await client.login("viewer", "viewer")  # a sign-in after: its token reaches the worker
        owner.reader.start()
        await owner.until(lambda: owner.rec.state is ConnectionState.CONNECTED)
        answer = await post(running_hub, [started("a")])
        await owner.until(lambda: owner.reader.seq == answer["last_seq"])
        assert len(owner.rec.events) == 1
    finally:
        await owner.stop()
        await client.aclose()
    assert owner.rec.state is ConnectionState.STOPPED
    assert all(t.name != "supervisor-desk-feed" for t in threading.enumerate())
