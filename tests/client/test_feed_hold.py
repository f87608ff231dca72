"""Held delivery from the client's side: asked for, the hub's events come together (one batch
for many), what could open an alert comes at once, a flush hands over everything held before
it goes on, and a new connection asks again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import websockets

from supervisor_desk.client.feed import FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.alerts.defaults import default_rules
from tests.client.feed_runs import BatchCounter, post, running_feed
from tests.client.hub_events import message, started
from tests.helpers import FeedRecorder, wait_until

pytestmark = pytest.mark.timeout(60)

HOLD_MS = 3000  # far longer than anything here waits for an event that goes at once
RULES = default_rules().rules


@pytest_asyncio.fixture
async def held_feed(running_hub: EmbeddedHub) -> AsyncIterator[tuple[FeedClient, BatchCounter]]:
    await post(running_hub, [started("s1"), started("s2")])
    listener = BatchCounter()
    async with running_feed(running_hub, listener) as (feed, _):
        feed.hold(HOLD_MS, RULES)
        await wait_until(lambda: feed.held_ms == HOLD_MS)  # the hub said so
        yield feed, listener


@pytest.mark.asyncio
async def test_held_events_come_together_in_order_and_once(
        running_hub: EmbeddedHub, held_feed: tuple[FeedClient, BatchCounter]) -> None:
    feed, listener = held_feed
    batches, seen = listener.batches, len(listener.events)
    posted = [message("s1", f"answer {n}", role="ai") for n in range(5)]
    for event in posted:  # one post each: without a hold, five reads and five batches
        last = await post(running_hub, [event])
    await asyncio.sleep(0.5)
    assert len(listener.events) == seen  # held on the hub
    await wait_until(lambda: feed.seq == last, timeout=HOLD_MS / 1000 + 5)
    assert listener.ids(seen) == [e["id"] for e in posted]
    assert listener.batches == batches + 1


@pytest.mark.asyncio
async def test_what_could_open_an_alert_comes_at_once_with_what_was_held_before_it(
        running_hub: EmbeddedHub, held_feed: tuple[FeedClient, BatchCounter]) -> None:
    feed, listener = held_feed
    seen = len(listener.events)
    answer = message("s1", "Let me check that for you", role="ai")
    complaint = message("s2", "Then I want to cancel my account")
    await post(running_hub, [answer])
    last = await post(running_hub, [complaint])
    started_at = asyncio.get_running_loop().time()
    await wait_until(lambda: feed.seq == last, timeout=HOLD_MS / 1000 + 5)
    assert asyncio.get_running_loop().time() - started_at < HOLD_MS / 1000 / 2
    assert listener.ids(seen) == [answer["id"], complaint["id"]]


@pytest.mark.asyncio
async def test_a_flush_hands_over_what_is_held_before_it_goes_on(
        running_hub: EmbeddedHub, held_feed: tuple[FeedClient, BatchCounter]) -> None:
    feed, _ = held_feed
    last = await post(running_hub, [message("s1", "one moment", role="ai")])
    await asyncio.sleep(0.2)  # reached the hub's hold
    assert feed.seq < last
    flushed: list[int] = []
    feed.flush(lambda: flushed.append(feed.seq))
    await wait_until(lambda: bool(flushed), timeout=HOLD_MS / 1000 / 2)
    assert flushed == [last] and feed.flushes == 1
    # Nothing held: the next flush still asks (the hub answers at once), and goes on.
    feed.flush(lambda: flushed.append(feed.seq))
    await wait_until(lambda: len(flushed) == 2, timeout=HOLD_MS / 1000 / 2)


@pytest.mark.asyncio
async def test_hold_off_sends_what_is_held_and_then_each_at_once(
        running_hub: EmbeddedHub, held_feed: tuple[FeedClient, BatchCounter]) -> None:
    feed, _ = held_feed
    last = await post(running_hub, [message("s1", "held", role="ai")])
    await asyncio.sleep(0.2)
    assert feed.seq < last
    feed.hold(0)
    await wait_until(lambda: feed.seq == last, timeout=HOLD_MS / 1000 / 2)
    assert not feed.holding and feed.held_ms == 0
    ran: list[bool] = []
    feed.flush(lambda: ran.append(True))  # nothing is held: at once, nothing asked
    assert ran == [True] and feed.flushes == 0


@pytest.mark.asyncio
async def test_a_new_connection_asks_for_the_hold_again(
        running_hub: EmbeddedHub, held_feed: tuple[FeedClient, BatchCounter]) -> None:
    feed, listener = held_feed
    connections = feed.connections
    ws = feed._ws
    assert ws is not None
    ws.transport.abort()  # the link drops
    await wait_until(lambda: feed.connections == connections + 1 and feed.held_ms == HOLD_MS)
    seen = len(listener.events)
    last = await post(running_hub, [message("s1", "held again", role="ai")])
    await asyncio.sleep(0.5)
    assert len(listener.events) == seen
    await wait_until(lambda: feed.seq == last, timeout=HOLD_MS / 1000 + 5)


@pytest.mark.asyncio
async def test_a_hub_without_held_delivery_is_never_asked() -> None:
    """An older hub greets without "hold": the client sends it nothing and flushes at once."""
    received: list[str | bytes] = []

    async def old_hub(ws: websockets.ServerConnection) -> None:
        await ws.send('{"type":"hello","epoch":"e1","seq":0,"resumed":true}')
        async for frame in ws:
            received.append(frame)

    async with websockets.serve(old_hub, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = HubClient(f"http://127.0.0.1:{port}", "token")
        listener = FeedRecorder()
        feed = FeedClient(client, listener)
        feed._epoch = "e1"  # as if the snapshot had been read
        feed._loop = asyncio.get_running_loop()  # as run() does
        feed.hold(HOLD_MS, RULES)
        task = asyncio.create_task(feed._connect_once())
        try:
            await wait_until(lambda: feed._ws is not None and feed.connections == 1)
            await asyncio.sleep(0.2)
            ran: list[bool] = []
            feed.flush(lambda: ran.append(True))
            assert ran == [True] and not feed.holding
            await asyncio.sleep(0.2)
            assert received == []
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()
