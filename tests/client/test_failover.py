"""A hub with several replicas' addresses: REST calls and the live feed move to a replica
that answers and the feed resumes there from its last seq (no reload, no loss, no double).

Two hubs on one SQLite file stand in for two replicas of one event log here; the same
failover against hub processes on one PostgreSQL is in tests/hub/postgres/.
"""

from __future__ import annotations

import asyncio

import pytest

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient, HubError, normalize_server_address
from supervisor_desk.client.settings import Preferences, split_server_address
from supervisor_desk.hub.embedded import EmbeddedHub
from tests.client.hub_events import message, started
from tests.client.test_feed import Feed, free_port, post

pytestmark = pytest.mark.timeout(60)


def test_a_server_entry_lists_replicas_one_per_line_or_comma_separated() -> None:
    text = " hub-a.example:8765,\nhttps://hub-b.example:8765/ \n127.0.0.1:9000 hub-a.example:8765"
    assert split_server_address(text) == [
        "hub-a.example:8765", "https://hub-b.example:8765/", "127.0.0.1:9000"]
    assert normalize_server_address(text) == (
        "https://hub-a.example:8765, https://hub-b.example:8765, http://127.0.0.1:9000")
    with pytest.raises(ValueError):
        normalize_server_address(" ,\n ")
    with pytest.raises(ValueError):
        normalize_server_address("https://ok.example, ftp://bad.example")
    # Stored as one entry, credentials stripped from every address.
    prefs = Preferences(servers=["https://u:p@a.example, https://b.example/?x=1"])
    assert prefs.servers == ["https://a.example, https://b.example"]


@pytest.mark.asyncio
async def test_rest_call_moves_to_a_replica_that_answers(running_hub: EmbeddedHub) -> None:
    token = running_hub.create_token("desk", "viewer")
    dead = f"http://127.0.0.1:{free_port()}"
    client = HubClient(f"{dead}, {running_hub.url}", token)
    try:
        assert client.active_url == dead
        me = await client.me()
        assert me.role == "viewer"
        assert client.active_url == running_hub.url
        assert client.base_url == f"{dead}, {running_hub.url}"  # the entry's name is kept
    finally:
        await client.aclose()
    alone = HubClient(dead, token)
    try:
        with pytest.raises(HubError) as caught:
            await alone.me()
        assert caught.value.unreachable and dead in caught.value.message
    finally:
        await alone.aclose()


@pytest.mark.asyncio
async def test_feed_fails_over_to_the_other_replica_and_resumes(
    running_hub: EmbeddedHub,
) -> None:
    token = running_hub.create_token("desk", "viewer")
    first = running_hub
    client = HubClient(f"{first.url}, http://127.0.0.1:{free_port()}", token)
    # Slow backoff: the feed must reach the second replica by failing over, not by waiting.
    feed = Feed(client, backoff_base=30.0, backoff_max=30.0)
    second: EmbeddedHub | None = None
    try:
        feed.start()
        await feed.connected()
        before = await post(first, [started("a"), message("a", "one")])
        await feed.until(lambda: feed.feed.seq == before["last_seq"])
        seen = len(feed.rec.events)
        # Its twin on the same event log, at the address listed second, is up...
        second = EmbeddedHub(first.db_path, port=int(client.addresses[1].rsplit(":", 1)[1]))
        second.ingest_token = first.ingest_token  # type: ignore[attr-defined]
        await asyncio.to_thread(second.start)
        await asyncio.to_thread(first.stop)  # ...when the first replica goes away.
        after = await post(second, [message("a", "two"), started("b")])
        await feed.until(lambda: feed.feed.seq == after["last_seq"])
        assert client.active_url == second.url
        seqs = [seq for seq, _, _ in feed.rec.events]
        assert seqs == list(range(seqs[0], after["last_seq"] + 1))  # each once, in order
        assert len(feed.rec.events) - seen == 2
        assert len(feed.rec.snapshots) == 1  # resumed from its seq, no reload
        assert feed.rec.state is ConnectionState.CONNECTED
    finally:
        await feed.stop()
        await client.aclose()
        if second is not None:
            await asyncio.to_thread(second.stop)
