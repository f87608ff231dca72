"""A FeedClient running against a hub on loopback for the client tests, and posts to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from tests.conftest import ingest
from tests.helpers import FeedRecorder, wait_until


class BatchCounter(FeedRecorder):
    """A recorder that also counts the batches the feed ended (``on_batch_done``)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_batch_done(self) -> None:
        self.batches += 1


@contextlib.asynccontextmanager
async def running_feed(hub: EmbeddedHub, listener: FeedRecorder, read_interval: float = 0.0
                       ) -> AsyncIterator[tuple[FeedClient, asyncio.Task[None]]]:
    """The feed's run as a task, connected when this yields; cancelled and closed after."""
    client = HubClient(hub.url, hub.create_token("desk", "viewer"))
    feed = FeedClient(client, listener)
    feed.read_interval = read_interval
    task = asyncio.create_task(feed.run())
    try:
        await wait_until(lambda: listener.state is ConnectionState.CONNECTED)
        yield feed, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()


async def post(hub: EmbeddedHub, events: list[dict[str, Any]]) -> int:
    """Ingest ``events``; returns the seq of the last."""
    answer = await asyncio.to_thread(ingest, hub, events)
    last: int = answer["last_seq"]
    return last


async def post_and_read(hub: EmbeddedHub, feed: FeedClient, events: list[dict[str, Any]]) -> int:
    """Ingest ``events`` and wait until the feed has handed them all over; returns the last seq."""
    last = await post(hub, events)
    await wait_until(lambda: feed.seq == last)
    return last
