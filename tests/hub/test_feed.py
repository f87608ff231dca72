"""The websocket feed against a real hub: hello, replay, live, resume, resync, 401, too slow."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.feed import FeedLimits
from supervisor_desk.models.wire import (
    FEED_CLOSE_RESYNC,
    EventFrame,
    HelloFrame,
    parse_frame,
)
from tests.helpers import wait_until
from tests.hub.conftest import Api
from tests.hub.factories import ended, message, started, updated
from tests.reliability.rawsock import TOO_SLOW_CODE, raw_feed_socket, read_until_closed

pytestmark = pytest.mark.asyncio


def _feed_url(hub: EmbeddedHub, **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return hub.url.replace("http://", "ws://") + "/api/v1/feed" + (f"?{query}" if query else "")


async def _recv(ws: websockets.ClientConnection) -> HelloFrame | EventFrame:
    return parse_frame(await asyncio.wait_for(ws.recv(), 10))


async def _events(ws: websockets.ClientConnection, n: int) -> list[EventFrame]:
    frames = []
    for _ in range(n):
        frame = await _recv(ws)
        assert isinstance(frame, EventFrame)
        frames.append(frame)
    return frames


async def test_hello_replay_then_live_with_whole_sessions(api: Api) -> None:
    hub = api.hub
    api.ingest([started("s1"), message("s1", "m1", "hi")])
    async with websockets.connect(_feed_url(hub, after=0),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _recv(ws)
        assert isinstance(hello, HelloFrame)
        assert (hello.seq, hello.resumed) == (2, True)
        replayed = await _events(ws, 2)
        assert [f.seq for f in replayed] == [1, 2]
        session = replayed[0].event.session()
        assert session is not None and session.id == "s1" and session.version == 1
        msg = replayed[1].event.message()
        assert msg is not None and (msg.seq, msg.text, msg.session_id) == (1, "hi", "s1")

        await asyncio.to_thread(api.ingest, [updated("s1", team="Billing"), ended("s1")])
        live = await _events(ws, 2)
        assert [f.seq for f in live] == [3, 4]
        after_update = live[0].event.session()
        assert after_update is not None and after_update.team == "Billing"
        assert after_update.message_count == 1  # whole summary, not a delta
        final = live[1].event.session()
        assert final is not None and final.status == "completed" and final.version == 4


async def test_resume_gets_exactly_the_missed_events(api: Api) -> None:
    hub = api.hub
    api.ingest([started("s1")])
    headers = api.headers("viewer")
    async with websockets.connect(_feed_url(hub), additional_headers=headers) as ws:
        hello = await _recv(ws)
        assert isinstance(hello, HelloFrame) and hello.seq == 1
        await asyncio.to_thread(api.ingest, [message("s1", "m1")])
        (frame,) = await _events(ws, 1)
        last_seen, epoch = frame.seq, hello.epoch
    # Disconnected: three events happen meanwhile.
    api.ingest([message("s1", "m2"), message("s1", "m3"), updated("s1", stage="pay")])
    async with websockets.connect(_feed_url(hub, epoch=epoch, after=last_seen),
                                  additional_headers=headers) as ws:
        hello = await _recv(ws)
        assert isinstance(hello, HelloFrame)
        assert (hello.resumed, hello.seq) == (True, 5)
        missed = await _events(ws, 3)
        assert [f.seq for f in missed] == [3, 4, 5]
        assert [f.event.type for f in missed] == [
            "message.created", "message.created", "session.updated"]
        # Nothing else is pending: the next frame is the next live event.
        await asyncio.to_thread(api.ingest, [message("s1", "m4")])
        (nxt,) = await _events(ws, 1)
        assert nxt.seq == 6


@pytest.mark.parametrize("params", [{"epoch": "not-this-hub", "after": 0}, {"after": 999}])
async def test_resync_when_epoch_unknown_or_after_in_the_future(
    api: Api, params: dict[str, Any]
) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub, **params),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _recv(ws)
        assert isinstance(hello, HelloFrame) and hello.resumed is False and hello.seq == 1
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == FEED_CLOSE_RESYNC


@pytest.mark.parametrize("role", [None, "ingest", "bogus"])
async def test_handshake_refused(api: Api, role: str | None) -> None:
    headers = {"Authorization": "Bearer sdh_nope"} if role == "bogus" else api.headers(role)
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(_feed_url(api.hub), additional_headers=headers):
            pass
    expected = 403 if role == "ingest" else 401
    assert caught.value.response.status_code == expected
    body = json.loads(caught.value.response.body or b"{}")
    assert body["error"] == ("forbidden" if role == "ingest" else "unauthorized")


async def test_bad_after_is_refused(api: Api) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(_feed_url(api.hub, after="-3"),
                                      additional_headers=api.headers("viewer")):
            pass
    assert caught.value.response.status_code == 422


async def test_slow_client_is_closed_4008_and_others_keep_flowing(api: Api) -> None:
    hub = api.hub
    # Same process: a small limit makes the overflow quick to reach; the default is 10,000.
    broadcaster = hub.server.service.broadcaster
    assert broadcaster.limit == 10_000
    broadcaster.limit = 20
    api.ingest([started("s1")])
    headers = api.headers("viewer")
    slow = raw_feed_socket(hub.url, api.token("viewer"))
    big = "x" * 100_000  # fills the kernel buffers fast, so the hub's own buffer grows
    try:
        async with websockets.connect(_feed_url(hub), additional_headers=headers,
                                      max_size=None) as fast:
            await _recv(fast)
            received: list[int] = []

            async def read_fast() -> None:
                while len(received) < 150:
                    frame = await _recv(fast)
                    assert isinstance(frame, EventFrame)
                    received.append(frame.seq)

            reader = asyncio.create_task(read_fast())
            for start in range(0, 150, 5):
                batch = [message("s1", f"m{n}", big) for n in range(start, start + 5)]
                answer = await asyncio.to_thread(api.ingest, batch)
                assert answer.status_code == 200, answer.text
            await asyncio.wait_for(reader, 30)
            assert received == list(range(2, 152))  # the fast client got everything, in order
            assert broadcaster.subscriber_count == 1  # the slow one was dropped
        # Its stream ends with a close frame carrying 4008 (0x0FA8), well before event 151.
        data, _ = await asyncio.to_thread(read_until_closed, slow)
        assert TOO_SLOW_CODE + b"too slow" in data
        assert data.count(b'"type":"event"') < 150
    finally:
        slow.close()


async def test_client_over_the_byte_limit_is_closed_4008(api: Api) -> None:
    """A few big frames pass the byte limit long before the frame limit."""
    broadcaster = api.hub.server.service.broadcaster
    broadcaster.configure(FeedLimits(max_unsent_bytes=2_000_000))
    api.ingest([started("s1")])
    slow = raw_feed_socket(api.hub.url, api.token("viewer"))
    try:
        await wait_until(lambda: broadcaster.subscriber_count == 1)
        big = "y" * 400_000
        for n in range(40):  # 16 MB: far more than the kernel buffers and the 2 MB limit
            answer = await asyncio.to_thread(api.ingest, [message("s1", f"m{n}", big)])
            assert answer.status_code == 200, answer.text
            if broadcaster.subscriber_count == 0:
                break
        await wait_until(lambda: broadcaster.subscriber_count == 0)
        data, _ = await asyncio.to_thread(read_until_closed, slow)
        assert TOO_SLOW_CODE + b"too slow" in data
        assert data.count(b'"type":"event"') < 40
    finally:
        slow.close()


async def test_client_that_stops_reading_is_closed_after_the_stall_timeout(api: Api) -> None:
    """Under every limit, but its socket takes nothing: closed 4008 after the stall timeout,
    while a client that reads keeps its feed."""
    broadcaster = api.hub.server.service.broadcaster
    broadcaster.configure(FeedLimits(stall_seconds=1.0))
    api.ingest([started("s1")])
    slow = raw_feed_socket(api.hub.url, api.token("viewer"))
    try:
        async with websockets.connect(_feed_url(api.hub), additional_headers=api.headers("viewer"),
                                      max_size=None) as fine:
            await _recv(fine)
            await wait_until(lambda: broadcaster.subscriber_count == 2)
            # ~8 MB: fills the kernel buffers and leaves frames waiting on the hub, then no
            # more traffic, so nothing but a stall can close the slow one.
            big = "z" * 400_000
            for n in range(20):
                answer = await asyncio.to_thread(api.ingest, [message("s1", f"m{n}", big)])
                assert answer.status_code == 200, answer.text
            assert len(await _events(fine, 20)) == 20
            await wait_until(lambda: broadcaster.subscriber_count == 1, timeout=15)
            await asyncio.to_thread(api.ingest, [message("s1", "after")])
            (frame,) = await _events(fine, 1)
            assert frame.seq == 22  # the reading client was not disturbed
        data, _ = await asyncio.to_thread(read_until_closed, slow)
        assert TOO_SLOW_CODE + b"too slow" in data
        assert data.count(b'"type":"event"') < 20
    finally:
        slow.close()



async def test_frames_are_sent_uncompressed_unless_the_hub_is_told_to_deflate(
        api: Api, tmp_path: Any) -> None:
    """Compression costs the fan-out a deflate per client per frame: off by default, on with
    ``serve --ws-deflate``; the feed works either way."""
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub, after=0),
                                  additional_headers=api.headers("viewer")) as ws:
        assert ws.protocol.extensions == []
        assert isinstance(await _recv(ws), HelloFrame)
    hub = EmbeddedHub(tmp_path / "deflate.db", ws_deflate=True)
    with hub:
        headers = {"Authorization": f"Bearer {hub.create_token('deflate', 'viewer')}"}
        async with websockets.connect(_feed_url(hub, after=0), additional_headers=headers) as ws:
            assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
            assert isinstance(await _recv(ws), HelloFrame)
