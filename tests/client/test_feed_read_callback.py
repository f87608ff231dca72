"""Events handed over in the socket's read callback: a lone event without a queue, a long run
sliced through the queue in order, and an error there ends the run as it would elsewhere."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import StoredEvent
from tests.client.feed_runs import post, post_and_read, running_feed
from tests.client.hub_events import message, started
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


def message_count(rec: FeedRecorder, session_id: str) -> int:
    session = rec.store.get(session_id)
    assert session is not None
    return session.message_count


@pytest_asyncio.fixture
async def hub_with_session(running_hub: EmbeddedHub) -> EmbeddedHub:
    await post(running_hub, [started("s1")])
    return running_hub


@pytest.mark.asyncio
async def test_a_lone_event_is_handed_over_in_the_read_callback(
    hub_with_session: EmbeddedHub,
) -> None:
    rec = WhereRecorder()
    async with running_feed(hub_with_session, rec) as (feed, _):
        for n in range(5):
            before = rec.batches
            await post_and_read(hub_with_session, feed, [message("s1", f"lone {n}")])
            assert rec.tasks[-1] is None  # no coroutine resumed for it
            await wait_until(lambda before=before: rec.batches == before + 1)  # type: ignore[misc]
        assert message_count(rec, "s1") == 5


@pytest.mark.asyncio
async def test_a_long_run_is_sliced_through_the_queue_and_keeps_the_hubs_order(
    hub_with_session: EmbeddedHub,
) -> None:
    # 1 ms of the listener's work per event: a 300-event post is far more than one slice.
    rec = WhereRecorder(work_s=0.001)
    async with running_feed(hub_with_session, rec) as (feed, _):
        first = len(rec.events)
        await post_and_read(hub_with_session, feed,
                            [message("s1", f"burst {n}") for n in range(300)])
        burst = rec.tasks[first:]
        assert None in burst  # the run began in the read callback…
        assert any(task is not None for task in burst)  # …and the queue took the rest
        # A lone event after the queue emptied is handed over in the callback again.
        lone = await post_and_read(hub_with_session, feed, [message("s1", "after")])
        assert rec.tasks[-1] is None
    seqs = [seq for seq, _, _ in rec.events]
    assert seqs == list(range(seqs[0], lone + 1))  # every event once, in the hub's order
    assert message_count(rec, "s1") == 301


@pytest.mark.asyncio
async def test_a_listener_error_in_the_read_callback_ends_the_run_with_it(
    hub_with_session: EmbeddedHub,
) -> None:
    rec = WhereRecorder(fail_on="bad")
    async with running_feed(hub_with_session, rec) as (feed, task):
        good = await post_and_read(hub_with_session, feed, [message("s1", "fine")])
        await post(hub_with_session, [started("bad")])
        await wait_until(task.done)
        with pytest.raises(RuntimeError, match="listener bug on bad"):
            task.result()
        assert feed.seq == good  # the event that failed was not counted as handed over
        assert rec.state is ConnectionState.STOPPED
