"""Off screen the feed rests between batches only when it is busy: a quiet feed is read as each
event comes (a rest would cost a timer's wake-up for one event), a busy one in rests, and in
both every event arrives once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from supervisor_desk.client.feed import FeedClient
from supervisor_desk.hub.embedded import EmbeddedHub
from tests.client.feed_runs import BatchCounter, post, post_and_read, running_feed
from tests.client.hub_events import message, started
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(60)

READ_INTERVAL_S = 0.12  # the hidden window's (views/live_viewmodel.py)


@pytest_asyncio.fixture
async def resting_feed(running_hub: EmbeddedHub) -> AsyncIterator[tuple[FeedClient, BatchCounter]]:
    await post(running_hub, [started("s1")])
    listener = BatchCounter()
    async with running_feed(running_hub, listener, READ_INTERVAL_S) as (feed, _):
        yield feed, listener


def at_seq(feed: FeedClient, seq: int) -> Callable[[], bool]:
    return lambda: feed.seq == seq


@pytest.mark.asyncio
async def test_a_quiet_feed_is_read_as_each_event_comes_and_a_busy_one_in_rests(
    running_hub: EmbeddedHub, resting_feed: tuple[FeedClient, BatchCounter]
) -> None:
    feed, listener = resting_feed

    # A quiet floor: events a little closer together than a rest is long, each read alone.
    for n in range(4):
        await post_and_read(running_hub, feed, [message("s1", f"quiet {n}")])
        await asyncio.sleep(READ_INTERVAL_S * 0.8)  # the pace of the feed, not a wait
    assert feed.rests == 0
    assert not feed.resting

    # A busy moment: events back to back; the socket rests between batches.
    batches_before = listener.batches
    for n in range(40):
        last = await post(running_hub, [message("s1", f"busy {n}")])
    await wait_until(at_seq(feed, last))
    assert feed.rests > 0
    assert listener.batches - batches_before < 40

    seqs = [seq for seq, _, _ in listener.events]
    assert seqs == list(range(seqs[0], last + 1))
    s1 = listener.store.get("s1")
    assert s1 is not None and s1.message_count == 44
