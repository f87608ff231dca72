"""Events handed over in the socket's read callback: a lone event without a queue, a long run
sliced through the queue in order, and an error there ends the run as it would elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import StoredEvent
from tests.client.hub_events import message, started
from tests.conftest import ingest
from tests.helpers import FeedRecorder, wait_until

pytestmark = pytest.mark.timeout(60)


class WhereRecorder(FeedRecorder):
    """Notes, per event, whether a coroutine was running when it was handed over (None: the
    socket's read callback), and the batches' ends."""

    def __init__(self, work_s: float = 0.0, fail_on: str | None = None) -> None:
        super().__init__()
        self.tasks: list[asyncio.Task[object] | None] = []
        self.batches = 0
        self.work_s = work_s
        self.fail_on = fail_on

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        if self.fail_on is not None and event.session_id == self.fail_on:
            raise RuntimeError(f"listener bug on {self.fail_on}")
        super().on_event(seq, event, replayed)
        self.tasks.append(asyncio.current_task())
        if self.work_s:
            time.sleep(self.work_s)  # a listener's own work, in this thread

    def on_batch_done(self) -> None:
        self.batches += 1


async def post(hub: EmbeddedHub, events: list[dict[str, object]]) -> int:
    answer = await asyncio.to_thread(ingest, hub, events)
    last: int = answer["last_seq"]
    return last


@contextlib.asynccontextmanager
async def running(hub: EmbeddedHub, rec: WhereRecorder) -> AsyncIterator[
        tuple[FeedClient, asyncio.Task[None]]]:
    client = HubClient(hub.url, hub.create_token("desk", "viewer"))
    feed = FeedClient(client, rec)
    task = asyncio.create_task(feed.run())
    try:
        yield feed, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


@pytest_asyncio.fixture
async def hub_with_session(running_hub: EmbeddedHub) -> EmbeddedHub:
    await post(running_hub, [started("s1")])
    return running_hub


@pytest.mark.asyncio
async def test_a_lone_event_is_handed_over_in_the_read_callback(
    hub_with_session: EmbeddedHub,
) -> None:
    rec = WhereRecorder()
    async with running(hub_with_session, rec) as (feed, _):
        await wait_until(lambda: rec.state is ConnectionState.CONNECTED)
        for n in range(5):
            before = rec.batches
            seq = await post(hub_with_session, [message("s1", f"lone {n}")])
            await wait_until(lambda seq=seq: feed.seq == seq)  # type: ignore[misc]
            assert rec.tasks[-1] is None  # no coroutine resumed for it
            await wait_until(lambda before=before: rec.batches == before + 1)  # type: ignore[misc]
        s1 = rec.store.get("s1")
        assert s1 is not None and s1.message_count == 5


@pytest.mark.asyncio
async def test_a_long_run_is_sliced_through_the_queue_and_keeps_the_hubs_order(
    hub_with_session: EmbeddedHub,
) -> None:
    # 1 ms of the listener's work per event: a 300-event post is far more than one slice.
    rec = WhereRecorder(work_s=0.001)
    async with running(hub_with_session, rec) as (feed, _):
        await wait_until(lambda: rec.state is ConnectionState.CONNECTED)
        first = len(rec.events)
        last = await post(hub_with_session, [message("s1", f"burst {n}") for n in range(300)])
        await wait_until(lambda: feed.seq == last)
        burst = rec.tasks[first:]
        assert None in burst  # the run began in the read callback…
        assert any(task is not None for task in burst)  # …and the queue took the rest
        # A lone event after the queue emptied is handed over in the callback again.
        lone = await post(hub_with_session, [message("s1", "after")])
        await wait_until(lambda: feed.seq == lone)
        assert rec.tasks[-1] is None
    seqs = [seq for seq, _, _ in rec.events]
    assert seqs == list(range(seqs[0], lone + 1))  # every event once, in the hub's order
    s1 = rec.store.get("s1")
    assert s1 is not None and s1.message_count == 301


@pytest.mark.asyncio
async def test_a_listener_error_in_the_read_callback_ends_the_run_with_it(
    hub_with_session: EmbeddedHub,
) -> None:
    rec = WhereRecorder(fail_on="bad")
    async with running(hub_with_session, rec) as (feed, task):
        await wait_until(lambda: rec.state is ConnectionState.CONNECTED)
        good = await post(hub_with_session, [message("s1", "fine")])
        await wait_until(lambda: feed.seq == good)
        await post(hub_with_session, [started("bad")])
        await wait_until(task.done)
        with pytest.raises(RuntimeError, match="listener bug on bad"):
            task.result()
        assert feed.seq == good  # the event that failed was not counted as handed over
        assert rec.state is ConnectionState.STOPPED
