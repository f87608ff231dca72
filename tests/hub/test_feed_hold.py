"""Held delivery on the feed against a real hub: hold, urgent events, flush, refusals, stall.

Timing assertions have wide margins: holds of 3 s, "not yet" checked after 0.5 s, "early"
meaning well before the hold would have ended.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import websockets

from supervisor_desk.hub import feed_socket
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.feed import MAX_NEW_RULE_SETS_PER_MINUTE, Broadcaster, FeedLimits
from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.feed_hold import FLUSH_REQUEST_JSON, hold_request_json
from supervisor_desk.models.wire import (
    EventFrame,
    FeedFrame,
    FlushedFrame,
    HelloFrame,
    HoldingFrame,
    parse_frame,
)
from tests.helpers import wait_until
from tests.hub.conftest import Api
from tests.hub.factories import ended, logs, message, message_updated, started

pytestmark = pytest.mark.asyncio

HOLD_MS = 3000
RULES = default_rules().rules


def _feed_url(hub: EmbeddedHub, **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return hub.url.replace("http://", "ws://") + "/api/v1/feed" + (f"?{query}" if query else "")


def _broadcaster(api: Api) -> Broadcaster:
    broadcaster: Broadcaster = api.hub.server.service.broadcaster
    return broadcaster


async def _recv(ws: websockets.ClientConnection, timeout: float = 10) -> FeedFrame:
    return parse_frame(await asyncio.wait_for(ws.recv(), timeout))


async def _event(ws: websockets.ClientConnection, timeout: float = 10) -> EventFrame:
    frame = await _recv(ws, timeout)
    assert isinstance(frame, EventFrame), frame
    return frame


async def _nothing_for(ws: websockets.ClientConnection, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        frame = await asyncio.wait_for(ws.recv(), seconds)
        pytest.fail(f"unexpected frame {frame!r}")


async def _hold(ws: websockets.ClientConnection, ms: int,
                rules: Any = RULES) -> HoldingFrame:
    await ws.send(hold_request_json(ms, rules))
    answer = await _recv(ws)
    assert isinstance(answer, HoldingFrame), answer
    assert (answer.ms, answer.detail) == (ms, "")
    return answer


async def _ingest(api: Api, events: list[dict[str, Any]]) -> int:
    """Ingest and wait until the hub has handed the events to the feed; the last seq."""
    answer = await asyncio.to_thread(api.ingest, events)
    assert answer.status_code == 200, answer.text
    target = api.hub.server.service.storage.last_seq
    await wait_until(lambda: _broadcaster(api).last_seq >= target)
    return int(target)


async def _connected(api: Api, ws: websockets.ClientConnection) -> HelloFrame:
    hello = await _recv(ws)
    assert isinstance(hello, HelloFrame) and hello.hold is True
    return hello


def _quiet_events(sid: str, tag: str) -> list[dict[str, Any]]:
    """Events no default rule can alert on (a session's start or end, or a customer's
    complaint, would be)."""
    return [
        message(sid, f"{tag}-ai", "How can I help?", role="ai"),
        message(sid, f"{tag}-c", "hello there"),
        message_updated(sid, f"{tag}-ai", reaction="up"),
        logs(sid, "system", [{"at": "2026-01-01T10:04:00Z", "text": "note"}]),
    ]


async def test_hello_offers_hold_and_a_client_that_asks_nothing_gets_each_event_at_once(
        api: Api) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        await _connected(api, ws)
        for n in range(3):
            seq = await _ingest(api, [message("s1", f"m{n}")])
            assert (await _event(ws, 1.5)).seq == seq


async def test_quiet_events_are_held_then_sent_together_in_order(api: Api) -> None:
    api.ingest([started("s1")])  # "New session" is urgent: started before the hold
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, HOLD_MS)
        began = time.monotonic()
        await _ingest(api, _quiet_events("s1", "a"))
        await _nothing_for(ws, 0.5)
        last = await _ingest(api, _quiet_events("s1", "b"))
        await _nothing_for(ws, 0.5)
        frames = [await _event(ws, HOLD_MS / 1000 + 10)]
        first_after = time.monotonic() - began
        frames += [await _event(ws, 0.5) for _ in range(last - hello.seq - 1)]
        assert [f.seq for f in frames] == list(range(hello.seq + 1, last + 1))
        # The hold counts from the first frame held, not from the latest.
        assert first_after >= HOLD_MS / 1000 - 0.5
        assert first_after < HOLD_MS / 1000 + 3
        # And it goes on: the next quiet event is held again.
        await _ingest(api, [message("s1", "later", "ok")])
        await _nothing_for(ws, 0.5)
        assert (await _event(ws, HOLD_MS / 1000 + 10)).seq == last + 1


@pytest.mark.parametrize("urgent", [
    message("s1", "angry", "I want to cancel my account now"),
    ended("s1"),
], ids=["complaint", "session-ended"])
async def test_an_urgent_event_goes_at_once_with_everything_held_before_it(
        api: Api, urgent: dict[str, Any]) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, 5000)
        began = time.monotonic()
        await _ingest(api, _quiet_events("s1", "a"))
        await _nothing_for(ws, 0.5)
        last = await _ingest(api, [urgent])
        frames = [await _event(ws) for _ in range(last - hello.seq)]
        assert time.monotonic() - began < 3.5  # the hold would have run to 5 s
        assert [f.seq for f in frames] == list(range(hello.seq + 1, last + 1))
        assert frames[-1].event.id == urgent["id"]


async def test_flush_sends_what_is_held_then_flushed_with_the_last_seq(api: Api) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, HOLD_MS)
        # Nothing held yet: answered at once with the hello's seq.
        await ws.send(FLUSH_REQUEST_JSON)
        assert await _recv(ws, 1.5) == FlushedFrame(seq=hello.seq)
        last = await _ingest(api, _quiet_events("s1", "a"))
        await _nothing_for(ws, 0.3)
        began = time.monotonic()
        await ws.send(FLUSH_REQUEST_JSON)
        frames = [await _event(ws) for _ in range(last - hello.seq)]
        assert [f.seq for f in frames] == list(range(hello.seq + 1, last + 1))
        assert await _recv(ws) == FlushedFrame(seq=last)
        assert time.monotonic() - began < 2.0  # well before the hold would end
        # Held again after a flush; a second flush answers with the same seq.
        await ws.send(FLUSH_REQUEST_JSON)
        assert await _recv(ws, 1.5) == FlushedFrame(seq=last)


async def test_flush_without_a_hold_answers_after_the_events_sent(api: Api) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub, after=0),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await ws.send(FLUSH_REQUEST_JSON)  # during or after the replay of seq 1
        assert (await _event(ws)).seq == 1
        assert await _recv(ws) == FlushedFrame(seq=hello.seq)
        seq = await _ingest(api, [message("s1", "m1")])
        assert (await _event(ws, 1.5)).seq == seq
        await ws.send(FLUSH_REQUEST_JSON)
        assert await _recv(ws) == FlushedFrame(seq=seq)


async def test_hold_zero_sends_what_is_held_and_returns_to_each_at_once(api: Api) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, HOLD_MS)
        last = await _ingest(api, _quiet_events("s1", "a"))
        await _nothing_for(ws, 0.5)
        began = time.monotonic()
        await ws.send(hold_request_json(0, RULES))
        frames = [await _event(ws) for _ in range(last - hello.seq)]
        assert [f.seq for f in frames] == list(range(hello.seq + 1, last + 1))
        assert await _recv(ws) == HoldingFrame(ms=0)
        assert time.monotonic() - began < 2.0
        for n in range(2):
            seq = await _ingest(api, [message("s1", f"m{n}", role="ai")])
            assert (await _event(ws, 1.5)).seq == seq


async def test_hold_without_rules_holds_everything_until_flushed(api: Api) -> None:
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, HOLD_MS, rules=None)
        last = await _ingest(api, [started("s1"), ended("s1")])  # urgent under any alerts
        await _nothing_for(ws, 0.5)
        await ws.send(FLUSH_REQUEST_JSON)
        assert [(await _event(ws)).seq for _ in range(last - hello.seq)] == [
            hello.seq + 1, last]
        assert await _recv(ws) == FlushedFrame(seq=last)


@pytest.mark.parametrize("bad", [
    "not json at all",
    '{"type": "nap"}',
    '{"ms": 100}',
    '{"type": "hold", "ms": 6000}',
    '{"type": "hold", "ms": -1}',
    '{"type": "hold", "ms": 100, "rules": [{"nonsense": 1}]}',
    '{"type": "hold", "ms": 100, "rules": "' + "x" * 300_000 + '"}',
    b'{"type": "flush"}',
], ids=["not-json", "unknown-type", "no-type", "ms-too-big", "ms-negative", "bad-rules",
        "oversized", "binary"])
async def test_a_request_not_understood_is_refused_and_the_feed_goes_on(
        api: Api, bad: str | bytes) -> None:
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        await _connected(api, ws)
        await _hold(ws, 2000)
        await ws.send(bad)
        refusal = await _recv(ws)
        assert isinstance(refusal, HoldingFrame)
        assert refusal.ms == 2000 and refusal.detail  # the hold in force is unchanged
        assert "x" * 50 not in refusal.detail
        await _hold(ws, 0)
        seq = await _ingest(api, [message("s1", "after", role="ai")])
        assert (await _event(ws, 1.5)).seq == seq


async def test_a_holding_client_is_not_closed_as_stalled(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held frames wait on purpose, not on the socket. (The kernel's queue is hidden from the
    watcher, so only the hub's own view of "something to send" decides.)"""
    monkeypatch.setattr(feed_socket._Progress, "in_kernel", lambda self: None)
    broadcaster = _broadcaster(api)
    broadcaster.configure(FeedLimits(stall_seconds=0.5))
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, 2000)
        last = await _ingest(api, _quiet_events("s1", "a"))
        await _nothing_for(ws, 1.5)  # three stall timeouts
        assert broadcaster.subscriber_count == 1
        frames = [await _event(ws) for _ in range(last - hello.seq)]
        assert [f.seq for f in frames] == list(range(hello.seq + 1, last + 1))
        await ws.send(FLUSH_REQUEST_JSON)
        assert await _recv(ws) == FlushedFrame(seq=last)


async def test_a_new_connection_starts_without_a_hold(api: Api) -> None:
    api.ingest([started("s1")])
    headers = api.headers("viewer")
    async with websockets.connect(_feed_url(api.hub), additional_headers=headers) as ws:
        hello = await _connected(api, ws)
        await _hold(ws, HOLD_MS)
        seq = await _ingest(api, [message("s1", "m1", role="ai")])
        await _nothing_for(ws, 0.3)
        epoch = hello.epoch
    async with websockets.connect(_feed_url(api.hub, epoch=epoch, after=hello.seq),
                                  additional_headers=headers) as ws:
        resumed = await _connected(api, ws)
        assert resumed.resumed and resumed.seq == seq
        assert (await _event(ws)).seq == seq  # the held event, replayed
        nxt = await _ingest(api, [message("s1", "m2", role="ai")])
        assert (await _event(ws, 1.5)).seq == nxt


# The broadcaster alone (no sockets): who judges events, and who is woken.

async def test_equal_rule_sets_share_one_screen() -> None:
    broadcaster = Broadcaster(0)
    first = await broadcaster.screen(default_rules().rules)
    assert await broadcaster.screen(default_rules().rules) is first
    assert await broadcaster.screen(RULES[:2]) is not first


async def test_a_client_gets_a_few_new_rule_sets_compiled_a_minute_not_more(api: Api) -> None:
    """Compiling a rule set costs the hub; a client that keeps sending new ones is refused
    (the hold in force is kept), while sets the hub knows and "hold 0" always go through."""
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        await _connected(api, ws)
        await _hold(ws, 1500)  # the default rules: the first new set
        for n in range(1, MAX_NEW_RULE_SETS_PER_MINUTE):
            renamed = tuple(r.model_copy(update={"name": f"{r.name} {n}"}) for r in RULES)
            await _hold(ws, 1000 + n, renamed)
        await ws.send(hold_request_json(2000, tuple(
            r.model_copy(update={"name": f"{r.name} more"}) for r in RULES)))
        refused = await _recv(ws)
        assert isinstance(refused, HoldingFrame)
        assert refused.ms == 1000 + MAX_NEW_RULE_SETS_PER_MINUTE - 1
        assert "new rule sets" in refused.detail
        await _hold(ws, 1500)  # a set the hub knows: no compiling, always taken
        await _hold(ws, 0)


async def test_only_holders_with_rules_parse_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from supervisor_desk.hub import feed

    parsed: list[str] = []
    real = feed._parsed
    monkeypatch.setattr(feed, "_parsed", lambda body: parsed.append(body) or real(body))
    broadcaster = Broadcaster(0)
    plain, _ = broadcaster.subscribe()
    holding, _ = broadcaster.subscribe()
    holding.hold(HOLD_MS, None)
    broadcaster.publish([(1, '{"type": "log.appended", "data": {}}')])
    assert parsed == []
    screen = await broadcaster.screen(RULES)
    twin, _ = broadcaster.subscribe()
    holding.hold(HOLD_MS, screen)
    twin.hold(HOLD_MS, screen)
    broadcaster.publish([(2, '{"type": "log.appended", "data": {}}'),
                         (3, '{"type": "message.created", "data": {"author": {"role": '
                             '"customer"}, "text": "a complaint"}}')])
    assert len(parsed) == 2  # once per event, however many holders
    assert holding.release and twin.release and not plain.release


async def test_held_frames_wake_the_sender_only_when_it_must_act() -> None:
    broadcaster = Broadcaster(0)
    subscriber, _ = broadcaster.subscribe()
    subscriber.hold(HOLD_MS, await broadcaster.screen(RULES))
    subscriber.answers.clear()
    subscriber.wakeup.clear()
    quiet = '{"type": "log.appended", "data": {}}'
    broadcaster.publish([(1, quiet)])
    assert subscriber.wakeup.is_set()  # the first held frame starts the sender's timer
    subscriber.wakeup.clear()
    broadcaster.publish([(2, quiet), (3, quiet)])
    assert not subscriber.wakeup.is_set()
    assert not subscriber.due(time.monotonic())
    assert subscriber.due(time.monotonic() + HOLD_MS / 1000)
    broadcaster.publish([(4, '{"type": "session.ended", "data": {}}')])
    assert subscriber.wakeup.is_set() and subscriber.due(time.monotonic())
    assert [subscriber.pop()[0] for _ in range(4)] == [1, 2, 3, 4]


async def test_a_watched_sessions_events_go_at_once_with_everything_held_before_them(
        api: Api) -> None:
    """A desktop showing a session's chat asks for its events at once: they take what was held
    with them; the other sessions' quiet events wait for the hold."""
    api.ingest([started("s1"), started("s2")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        hello = await _connected(api, ws)
        await ws.send(hold_request_json(5000, RULES, watch=("s2",)))
        assert isinstance(await _recv(ws), HoldingFrame)
        began = time.monotonic()
        await _ingest(api, _quiet_events("s1", "a"))
        await _nothing_for(ws, 0.5)
        last = await _ingest(api, [message("s2", "w1", "a quiet question", role="ai")])
        frames = [await _event(ws) for _ in range(last - hello.seq)]
        assert time.monotonic() - began < 3.5  # the hold would have run to 5 s
        assert [f.seq for f in frames] == list(range(hello.seq + 1, last + 1))
        assert frames[-1].event.session_id == "s2"
        # Another watch replaces it: s2's events wait now, s1's go.
        await ws.send(hold_request_json(5000, RULES, watch=("s1",)))
        assert isinstance(await _recv(ws), HoldingFrame)
        await _ingest(api, [message("s2", "w2", "still quiet", role="ai")])
        await _nothing_for(ws, 0.5)
        last = await _ingest(api, [message("s1", "w3", "on screen", role="ai")])
        frames = [await _event(ws, 3) for _ in range(2)]
        assert [f.seq for f in frames] == [last - 1, last]


async def test_an_aligned_hold_sends_just_before_each_step_of_the_clock(api: Api) -> None:
    """Aligned, what is held goes a little before each multiple of the hold on the hub's
    clock (the desktop's second's tick paints it), whenever the first of it came."""
    api.ingest([started("s1")])
    async with websockets.connect(_feed_url(api.hub),
                                  additional_headers=api.headers("viewer")) as ws:
        await _connected(api, ws)
        await ws.send(hold_request_json(1000, RULES, align=True))
        assert isinstance(await _recv(ws), HoldingFrame)
        for n in range(3):
            await asyncio.sleep(0.3 * n)  # the first frame held at different phases
            await _ingest(api, [message("s1", f"q{n}", "quiet", role="ai")])
            await _event(ws, 3)
            phase = time.time() % 1.0
            # ALIGN_LEAD_S (40 ms) before the second; a loaded machine reads it late.
            assert phase >= 0.9 or phase < 0.25, phase


async def test_an_aligned_hold_is_due_at_the_next_step_never_later_than_the_hold() -> None:
    from supervisor_desk.hub.feed import ALIGN_LEAD_S, Subscriber

    subscriber = Subscriber(10)
    subscriber.hold(1000, None, align=True)
    assert subscriber._due_from(100.0, 5_000.2) == pytest.approx(100.8 - ALIGN_LEAD_S)
    # Just before a step (within its lead): the next one, not at once.
    assert subscriber._due_from(100.0, 5_000.99) == pytest.approx(
        100.0 + 5_002 - ALIGN_LEAD_S - 5_000.99)
    subscriber.hold(2000, None, align=True)
    assert subscriber._due_from(100.0, 5_001.0) == pytest.approx(101.0 - ALIGN_LEAD_S)
    subscriber.hold(1000, None)
    assert subscriber._due_from(100.0, 5_000.2) == pytest.approx(101.0)
