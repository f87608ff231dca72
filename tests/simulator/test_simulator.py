"""The traffic simulator: valid, causal, deterministic, varied traffic, posted to a real hub."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import (
    CHANNELS,
    IngestBatch,
    IngestEvent,
    LiveSnapshot,
    Metrics,
    SessionDetail,
    SessionPage,
    format_timestamp,
    parse_event_data,
    parse_timestamp,
)
from supervisor_desk.simulator import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    SimulatorError,
    TrafficSimulator,
    build_dataset,
    run_simulator,
)
from supervisor_desk.simulator.content import AWKWARD_LINES, HOSTILE_NAMES, MARKUP_LINES
from supervisor_desk.simulator.story import format_ts
from tests.conftest import ingest

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
Events = list[dict[str, Any]]


def _live_stream(seed: int, n_batches: int, batch: int = 5, step: float = 0.1,
                 target_live: int = 40) -> Events:
    sim = TrafficSimulator(seed=seed, rate=batch / step, target_live=target_live)
    events: Events = []
    for i in range(n_batches):
        events += sim.next_batch(T0 + timedelta(seconds=i * step), batch)
    return events


@pytest.fixture(scope="module")
def stream() -> Events:
    return _live_stream(seed=11, n_batches=1600)  # 8,000 events, ~300 sessions


def _story(events: Events) -> list[tuple[str, str]]:
    """What happened, without ids and times (digits blanked: texts mention dates)."""
    return [(e["type"], re.sub(r"\d", "0", e["data"].get("text", ""))) for e in events]


def _by_session(events: Events) -> dict[str, Events]:
    sessions: dict[str, Events] = defaultdict(list)
    for event in events:
        sessions[event["session_id"]].append(event)
    return sessions


def _messages(events: Events) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "message.created"]


async def _until(condition: Callable[[], bool | Awaitable[bool]], what: str,
                 timeout: float = 30.0) -> None:
    """Wait for ``condition`` (polled), failing with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _logged(caplog: pytest.LogCaptureFixture, prefix: str) -> int:
    """How many simulator log records start with ``prefix`` (its sentinels)."""
    return sum(1 for r in caplog.records if r.name.startswith("supervisor_desk.simulator")
               and r.getMessage().startswith(prefix))


# ------------------------------------------------------------------------------------------
# Shape and order


def test_every_event_validates_against_the_wire_models(stream: Events) -> None:
    for event in stream:
        parsed = IngestEvent.model_validate(event)
        parse_event_data(parsed.type, parsed.data)
        assert event["at"].endswith("Z")
    for start in range(0, len(stream), MAX_BATCH_EVENTS):
        IngestBatch.model_validate({"events": stream[start:start + MAX_BATCH_EVENTS]})


def test_ids_are_unique(stream: Events) -> None:
    ids = [e["id"] for e in stream]
    assert len(ids) == len(set(ids))
    message_ids = [m["id"] for m in _messages(stream)]
    assert len(message_ids) == len(set(message_ids))


def test_each_session_is_causally_ordered(stream: Events) -> None:
    ended = 0
    for sid, events in _by_session(stream).items():
        assert events[0]["type"] == "session.started", sid
        assert all(e["type"] != "session.started" for e in events[1:])
        ends = [i for i, e in enumerate(events) if e["type"] == "session.ended"]
        if ends:
            ended += 1
            assert ends == [len(events) - 1], "nothing may follow session.ended"
        times = [parse_timestamp(e["at"]) for e in events]
        assert times == sorted(times)
        seen: set[str] = set()
        for event in events:
            if event["type"] == "message.created":
                seen.add(event["data"]["id"])
            elif event["type"] == "message.updated":
                assert event["data"]["id"] in seen, "an update needs its message first"
    assert ended > 100


def test_batch_times_end_at_now_and_never_go_back() -> None:
    sim = TrafficSimulator(seed=2, rate=10)
    first = sim.next_batch(T0, 20)
    times = [parse_timestamp(e["at"]) for e in first]
    assert times == sorted(times)
    assert times[-1] == T0
    assert times[0] == T0 - timedelta(seconds=1.9)
    # An earlier "now" (clock step back) must not reorder a session's events.
    second = sim.next_batch(T0 - timedelta(seconds=30), 5)
    assert all(parse_timestamp(e["at"]) >= T0 for e in second)


def test_fast_timestamps_match_the_wire_spelling() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        t = rng.randrange(0, 4_000_000_000_000) / 1000  # whole milliseconds
        assert format_ts(t) == format_timestamp(datetime.fromtimestamp(t, UTC))
        t = rng.uniform(0, 4e9)
        assert format_ts(t) == format_timestamp(datetime.fromtimestamp(t, UTC))


def test_queued_sessions_wait_then_get_accepted(stream: Events) -> None:
    waited = 0
    for events in _by_session(stream).values():
        start = events[0]["data"]
        if start["status"] != "queued":
            assert start["accepted_at"] == start["started_at"]
            continue
        assert start["queued_at"] == start["started_at"]
        assert start["responsible"]["kind"] == "unassigned"
        accept = [e for e in events if e["type"] == "session.updated"
                  and e["data"].get("status") == "active"]
        if accept:
            data = accept[0]["data"]
            assert data["accepted_at"] == accept[0]["at"]
            assert data["metadata"] == {"queue_position": None}  # a null deletes the key
            # Nobody answers before the session leaves the queue.
            before = events[:events.index(accept[0])]
            assert not [m for m in _messages(before) if m["author"]["role"] in ("ai", "human")]
            waited += 1
    assert waited >= 20


# ------------------------------------------------------------------------------------------
# Variety: what the demo must show


def test_covers_every_channel_and_every_ending(stream: Events) -> None:
    starts = [e["data"] for e in stream if e["type"] == "session.started"]
    assert {s["channel"] for s in starts} == set(CHANNELS)
    assert {s["modality"] for s in starts} >= {"chat", "voice"}
    ends = {(e["data"]["status"], e["data"]["end_reason"])
            for e in stream if e["type"] == "session.ended"}
    assert ends >= {
        ("completed", "resolved"), ("failed", "error"), ("cancelled", "user_disconnect"),
        ("transferred", "transfer"), ("cancelled", "timeout"),
    }
    assert {r for _, r in ends} == {
        "resolved", "error", "user_disconnect", "transfer", "system_disconnect", "timeout"
    }
    agents = {s["agent"]["id"]: s["agent"]["name"] for s in starts}
    assert len(agents) >= 6
    assert len({s["team"] for s in starts}) >= 5


def test_web_sessions_carry_documentation_ips_and_places(stream: Events) -> None:
    starts = [e["data"] for e in stream if e["type"] == "session.started"]
    web = [s for s in starts if s["channel"] == "web"]
    assert web
    for s in web:
        loc = s["location"]
        assert loc["ip"].startswith(("203.0.113.", "198.51.100.", "192.0.2.", "2001:db8:"))
        assert loc["country_code"] and loc["country"] and loc["city"]
        assert isinstance(s["user"]["is_mobile"], bool)
    messenger = [s for s in starts if s["channel"] in ("whatsapp", "telegram", "email")]
    assert all(not s["location"].get("ip") for s in messenger)
    assert any(s["user"]["name"] is None for s in web), "anonymous web visitors"
    assert any(s["user"]["external_id"] for s in starts)
    assert any(s.get("contact") for s in starts)
    assert any("utm_source" in s["parameters"] and "utm_campaign" in s["parameters"]
               for s in starts)
    assert any("plan" in s["parameters"] for s in starts)


def test_conversations_alternate_and_read_like_real_chats(stream: Events) -> None:
    messages = _messages(stream)
    roles = Counter(m["author"]["role"] for m in messages)
    assert roles["customer"] > 300 and roles["ai"] > 300
    assert roles["human"] > 20 and roles["system"] > 100
    texts = [m["text"] for m in messages if m["kind"] == "text"]
    assert any("https://" in t for t in texts)
    assert any("**" in t for t in texts)
    assert any("\n- " in t or "\n1. " in t for t in texts)
    assert any("`" in t for t in texts)
    assert any(m["quick_replies"] for m in messages)
    files = [a for m in messages for a in m["attachments"]]
    assert any(a["url"] is None for a in files)
    assert any((a["url"] or "").startswith("https://") for a in files)
    assert all(a["size"] > 0 and "/" in a["mime"] for a in files)
    by_id = {e["session_id"]: e["data"] for e in stream if e["type"] == "session.started"}
    voice_audio = [m for e in stream if e["type"] == "message.created"
                   for m in [e["data"]] if by_id[e["session_id"]]["modality"] == "voice"
                   and any(a["mime"].startswith("audio/") for a in m["attachments"])]
    assert voice_audio, "voice sessions carry a recording"


def _names(events: Events) -> set[str]:
    names: set[str] = set()
    for event in events:
        data = event["data"]
        for holder in (data.get("user"), data.get("contact"), data.get("author")):
            if isinstance(holder, dict) and holder.get("name"):
                names.add(holder["name"])
    return names


def test_demo_traffic_has_no_hostile_names_or_markup(stream: Events) -> None:
    # What --demo and serve --simulate post: a contact centre, not a test of the renderer.
    texts = {m["text"] for m in _messages(stream)}
    assert not _names(stream) & set(HOSTILE_NAMES)
    assert not texts & set(MARKUP_LINES)
    assert not any("<script" in t or "javascript:" in t or "<b>" in t for t in texts)
    assert texts & set(AWKWARD_LINES), "real-world awkward text (RTL, emoji) stays"
    dataset = [e for batch in build_dataset(300, seed=4) for e in batch]
    assert not _names(dataset) & set(HOSTILE_NAMES)
    assert not {m["text"] for m in _messages(dataset)} & set(MARKUP_LINES)


def test_hostile_names_and_markup_are_an_opt_in_for_tests() -> None:
    sim = TrafficSimulator(seed=11, rate=50, hostile=True)
    events = [e for i in range(1600) for e in sim.next_batch(T0 + timedelta(seconds=i), 5)]
    assert _names(events) & set(HOSTILE_NAMES)
    assert {m["text"] for m in _messages(events)} & set(MARKUP_LINES)
    for event in events:  # still valid traffic
        parse_event_data(event["type"], IngestEvent.model_validate(event).data)


def test_voice_calls_send_no_files_and_never_mention_sending_one() -> None:
    events = [e for batch in build_dataset(1500, seed=8, messages_per_session=14)
              for e in batch]
    voice = {e["session_id"] for e in events
             if e["type"] == "session.started" and e["data"]["modality"] != "chat"}
    assert len(voice) > 100
    spoken = [e["data"] for e in events if e["type"] == "message.created"
              and e["session_id"] in voice and e["data"]["author"]["role"] != "system"]
    assert len(spoken) > 500
    for message in spoken:
        assert message["attachments"] == [], message["text"]
        lowered = message["text"].lower()
        for word in ("screenshot", "attached", "here's your updated label",
                     "here is your invoice"):
            assert word not in lowered, message["text"]
    chat_texts = " ".join(e["data"]["text"].lower() for e in events
                          if e["type"] == "message.created" and e["session_id"] not in voice)
    assert "screenshot" in chat_texts  # chats still send them


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_canned_lines_never_repeat_back_to_back(seed: int) -> None:
    events = [e for batch in build_dataset(800, seed=seed, messages_per_session=20)
              for e in batch]
    events += _live_stream(seed=seed, n_batches=600)
    checked = 0
    for session in _by_session(events).values():
        last: dict[str, str] = {}
        for message in _messages(session):
            if message["kind"] != "text":
                continue
            role = message["author"]["role"]
            assert message["text"] != last.get(role), (role, message["text"])
            last[role] = message["text"]
            checked += 1
    assert checked > 10_000


def test_handover_to_a_named_operator_with_markers_drafts_and_notes(stream: Events) -> None:
    handed = 0
    for events in _by_session(stream).values():
        markers = [m["text"] for m in _messages(events) if m["kind"] == "marker"]
        if not any(t.startswith("Transfer to human agent at ") for t in markers):
            continue
        handed += 1
        updates = [e["data"]["responsible"] for e in events
                   if e["type"] == "session.updated" and "responsible" in e["data"]]
        # AI (or the queue) -> unassigned at the transfer -> a named human once assigned.
        unassigned = updates.index({"kind": "unassigned", "operator": None})
        human = [r for r in updates[unassigned:] if r["kind"] == "human"]
        if human:
            operator = human[0]["operator"]
            assert operator["id"].startswith("op-") and operator["name"]
            assert any(operator["name"] in t and "assigned" in t for t in markers)
    assert handed >= 10
    kinds = Counter(m["kind"] for m in _messages(stream))
    assert kinds["draft"] > 5 and kinds["note"] > 5 and kinds["template"] > 3
    drafts = [m for m in _messages(stream) if m["kind"] == "draft"]
    assert all(m["author"] == {"role": "ai", "name": "Copilot"} for m in drafts)
    templates = [e for e in stream if e["type"] == "message.created"
                 and e["data"]["kind"] == "template"]
    channels = {e["session_id"]: e["data"]["channel"] for e in stream
                if e["type"] == "session.started"}
    assert all(channels[e["session_id"]] == "whatsapp" for e in templates)


def test_reactions_and_delivery_receipts(stream: Events) -> None:
    updates = [e["data"] for e in stream if e["type"] == "message.updated"]
    assert {u["reaction"] for u in updates if "reaction" in u} == {"up", "down"}
    deliveries = [u["delivery"] for u in updates if "delivery" in u]
    assert {d["status"] for d in deliveries} == {"delivered", "read", "failed"}
    assert all(d["note"] for d in deliveries if d["status"] == "failed")
    sent = [m for m in _messages(stream) if m.get("delivery")]
    assert sent and all(m["delivery"]["status"] == "sent" for m in sent)
    # A message is delivered before it is read.
    order: dict[str, list[str]] = defaultdict(list)
    for u in updates:
        if "delivery" in u:
            order[u["id"]].append(u["delivery"]["status"])
    assert all(s in (["delivered"], ["delivered", "read"], ["failed"]) for s in order.values())


def test_results_parameters_and_logs(stream: Events) -> None:
    results: dict[str, str] = {}
    for e in stream:
        if e["type"] == "session.updated" and "results" in e["data"]:
            results.update(e["data"]["results"])
    assert {"Name", "Phone", "Email", "Promise to Pay", "Resolution"} <= set(results)
    assert any(e["type"] == "session.updated" and "contact" in e["data"] for e in stream)
    logs = [e["data"] for e in stream if e["type"] == "log.appended"]
    traces = [x for d in logs if d["kind"] == "trace" for x in d["entries"]]
    systems = [x for d in logs if d["kind"] == "system" for x in d["entries"]]
    assert {t["agent"] for t in traces} >= {"main-agent", "form-agent", "copilot"}
    assert all(t["prompt"] and t["generation"]["action"] for t in traces)
    assert {t["generation"]["action"] for t in traces} >= {"reply", "save_result"}
    assert {s["level"] for s in systems} >= {"info", "warning", "error"}


def test_live_sessions_settle_around_the_target() -> None:
    for target in (10, 40):
        sim = TrafficSimulator(seed=5, rate=50, target_live=target)
        counts = []
        for i in range(1500):
            sim.next_batch(T0 + timedelta(seconds=i * 0.1), 5)
            if i >= 300:
                counts.append(sim.live_count)
        mean = sum(counts) / len(counts)
        assert 0.75 * target <= mean <= 1.35 * target, (target, mean)
        assert max(counts) <= 2 * target
        assert sim.sessions_ended > 50


# ------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_same_traffic_and_other_seed_other_traffic() -> None:
    a = _live_stream(seed=3, n_batches=200)
    b = _live_stream(seed=3, n_batches=200)
    assert a == b
    c = _live_stream(seed=4, n_batches=200)
    assert {e["id"] for e in a}.isdisjoint({e["id"] for e in c})


def test_a_later_run_with_the_same_seed_tells_the_same_story_under_new_ids() -> None:
    # A hub restarted with the same --seed must not replay minutes of duplicates.
    first = TrafficSimulator(seed=3).next_batch(T0, 300)
    later = TrafficSimulator(seed=3).next_batch(T0 + timedelta(hours=1), 300)
    assert {e["id"] for e in first}.isdisjoint({e["id"] for e in later})
    assert _story(first) == _story(later)


def test_the_story_does_not_depend_on_how_it_is_batched() -> None:
    # Resending after a crash replays the same ids: only the timestamps may differ.
    fine = _live_stream(seed=8, n_batches=600, batch=1, step=0.05)
    coarse = _live_stream(seed=8, n_batches=20, batch=30, step=1.5)

    def key(events: Events) -> list[tuple[str, str]]:
        return [(e["id"], e["type"]) for e in events]

    assert key(fine) == key(coarse)


# ------------------------------------------------------------------------------------------
# build_dataset


def test_build_dataset_counts_batches_and_spread() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    batches = list(build_dataset(600, seed=21, messages_per_session=12, live_fraction=0.1,
                                 now=now))
    events = [e for b in batches for e in b]
    for b in batches:
        assert 1 <= len(b) <= MAX_BATCH_EVENTS
        assert len(json.dumps({"events": b}).encode()) <= MAX_BATCH_BYTES
        assert len(json.dumps({"events": b}, ensure_ascii=False).encode()) <= MAX_BATCH_BYTES
    sessions = _by_session(events)
    assert len(sessions) == 600
    ended = {sid for sid, evs in sessions.items() if evs[-1]["type"] == "session.ended"}
    assert len(ended) == 540
    for sid, evs in sessions.items():
        assert evs[0]["type"] == "session.started"
        assert [e["at"] for e in evs] == sorted(e["at"] for e in evs)
        n_messages = sum(1 for e in evs if e["type"] == "message.created")
        started = parse_timestamp(evs[0]["at"])
        assert all(parse_timestamp(e["at"]) <= now for e in evs)
        if sid in ended:
            assert n_messages == 12
            assert started <= now - timedelta(hours=2)
        else:
            assert 1 <= n_messages <= 12
            assert started >= now - timedelta(minutes=20)
    oldest = min(parse_timestamp(evs[0]["at"]) for evs in sessions.values())
    assert oldest <= now - timedelta(days=7)
    sample = events[:: max(1, len(events) // 1500)]
    for event in sample:
        parse_event_data(event["type"], IngestEvent.model_validate(event).data)
    assert list(build_dataset(50, seed=21, now=now)) == list(build_dataset(50, seed=21, now=now))


def test_build_dataset_folds_receipts_into_messages() -> None:
    events = [e for b in build_dataset(200, seed=4, live_fraction=0.0, now=T0) for e in b]
    assert not [e for e in events if e["type"] == "message.updated"]
    final = [m["delivery"]["status"] for m in _messages(events) if m.get("delivery")]
    assert {"read", "delivered"} <= set(final)
    for evs in _by_session(events).values():
        kinds = Counter(e["data"]["kind"] for e in evs if e["type"] == "log.appended")
        assert max(kinds.values()) == 1


# ------------------------------------------------------------------------------------------
# Against a real hub


def _viewer_headers(hub: EmbeddedHub) -> dict[str, str]:
    answer = httpx.post(f"{hub.url}/api/v1/auth/login",
                        json={"username": "viewer", "password": "viewer"})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _stopped_record(caplog: pytest.LogCaptureFixture) -> tuple[int, ...]:
    records = [r for r in caplog.records if r.getMessage().startswith("simulator stopped")]
    assert len(records) == 1
    args = records[0].args
    assert isinstance(args, tuple)
    return tuple(int(a) for a in args)  # type: ignore[call-overload]


@pytest.mark.asyncio
async def test_run_simulator_feeds_a_real_hub_and_winds_down_on_stop(
    running_hub: EmbeddedHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="supervisor_desk.simulator")
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator(
        running_hub.url, running_hub.ingest_token,
        rate=150, seed=9, stop=stop))
    headers = await asyncio.to_thread(_viewer_headers, running_hub)
    async with httpx.AsyncClient(base_url=running_hub.url, headers=headers) as client:

        async def snapshot() -> LiveSnapshot:
            return LiveSnapshot.model_validate((await client.get("/api/v1/live")).json())

        async def busy() -> bool:
            live = await snapshot()
            return len(live.sessions) >= 10 and live.seq >= 150

        await _until(busy, "150 events and 10 live sessions in the hub")
        live = await snapshot()
        assert {s.status for s in live.sessions} <= {"queued", "active"}
        busiest = max(live.sessions, key=lambda s: s.message_count)
        detail = SessionDetail.model_validate(
            (await client.get(f"/api/v1/sessions/{busiest.id}")).json())
        assert len(detail.messages) >= busiest.message_count > 0

        stop.set()
        await asyncio.wait_for(task, 5)  # raises SimulatorError had the hub refused anything
        delivered, accepted, duplicates, retries, started, ended = _stopped_record(caplog)
        assert delivered >= 150 and accepted == delivered and duplicates == 0 and retries == 0
        assert started == ended, "stopping ends every live session"
        after = LiveSnapshot.model_validate((await client.get("/api/v1/live")).json())
        assert after.seq == delivered
        assert after.sessions == []
        page = SessionPage.model_validate(
            (await client.get("/api/v1/sessions", params={"limit": 1})).json())
        assert page.total == started
        wound = SessionDetail.model_validate(
            (await client.get(f"/api/v1/sessions/{busiest.id}")).json())
        assert wound.session.status in ("completed", "failed", "cancelled", "transferred")
        assert wound.messages[-1].kind == "marker"


@pytest.mark.asyncio
async def test_run_simulator_rides_out_a_hub_restart_without_loss_or_duplicates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="supervisor_desk.simulator")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "hub.db"
    first = EmbeddedHub(db, port=port)
    first.add_user("viewer", "viewer", "viewer")
    token = first.create_token("sim", "ingest")
    stop = asyncio.Event()
    # Started before the hub listens: connection refused until it comes up.
    task = asyncio.create_task(run_simulator(f"http://127.0.0.1:{port}", token, rate=60,
                                             seed=17, stop=stop))
    # Each step waits for what the simulator logs, so a slow machine cannot skip an outage.
    await _until(lambda: _logged(caplog, "hub unavailable") >= 1, "the refused connection")
    await asyncio.to_thread(first.start)
    await _until(lambda: _logged(caplog, "hub reachable again") >= 1, "a delivery to the hub")
    stored_by_first = first.storage.last_seq
    assert stored_by_first > 0
    await asyncio.to_thread(first.stop)
    await _until(lambda: _logged(caplog, "hub unavailable") >= 2, "the restart noticed")
    second = EmbeddedHub(db, port=port)
    await asyncio.to_thread(second.start)
    try:
        await _until(lambda: _logged(caplog, "hub reachable again") >= 2,
                     "a delivery to the restarted hub")
        stop.set()
        await asyncio.wait_for(task, 10)
        sent, accepted, duplicates, retries, *_ = _stopped_record(caplog)
        assert retries >= 2
        assert sent > stored_by_first
        headers = await asyncio.to_thread(_viewer_headers, second)
        async with httpx.AsyncClient(base_url=second.url, headers=headers) as client:
            live = LiveSnapshot.model_validate((await client.get("/api/v1/live")).json())
        # Every event posted is stored exactly once: the event log has no gap and no extra.
        assert live.seq == sent == accepted + duplicates
        assert live.sessions == []  # and the wind-down ended them all
    finally:
        await asyncio.to_thread(second.stop)


@pytest.mark.asyncio
async def test_run_simulator_stops_promptly_while_the_hub_is_away(
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="supervisor_desk.simulator")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator(f"http://127.0.0.1:{port}", "token", rate=5,
                                             seed=1, stop=stop))
    await _until(lambda: _logged(caplog, "hub unavailable") >= 1, "the refused connection")
    assert not task.done()  # it keeps retrying in backoff ...
    stop.set()
    await asyncio.wait_for(task, 1.5)


@pytest.mark.asyncio
async def test_run_simulator_gives_up_on_a_refused_token(running_hub: EmbeddedHub) -> None:
    stop = asyncio.Event()
    with pytest.raises(SimulatorError, match="401"):
        await asyncio.wait_for(
            run_simulator(running_hub.url, "not-a-token", rate=20, seed=1, stop=stop), 5)


def test_dataset_ingests_into_a_real_hub(running_hub: EmbeddedHub) -> None:
    total = 0
    now = datetime.now(UTC)
    for batch in build_dataset(100, seed=2, messages_per_session=8, live_fraction=0.2, now=now):
        answer = ingest(running_hub, batch)
        assert answer["duplicates"] == 0
        total += answer["accepted"]
    assert total >= 80 * 8  # at least the messages of the ended sessions
    headers = _viewer_headers(running_hub)
    metrics = Metrics.model_validate(
        httpx.get(f"{running_hub.url}/api/v1/sessions/metrics", headers=headers).json())
    assert metrics.total == 100
    assert metrics.live == 20
    assert set(metrics.by_status) >= {"completed", "cancelled"}
    page = SessionPage.model_validate(httpx.get(
        f"{running_hub.url}/api/v1/sessions", headers=headers,
        params={"live": "false", "limit": 100}).json())
    assert page.total == 80
    assert all(s.message_count == 8 and s.ended_at is not None for s in page.items)
    # Re-sending the same dataset is an idempotent replay ...
    again = ingest(running_hub, next(iter(build_dataset(100, seed=2, messages_per_session=8,
                                                        live_fraction=0.2, now=now))))
    assert again["accepted"] == 0 and again["duplicates"] > 0
    # ... while the same ids at other times are other events: refused, named, nothing stored.
    later = next(iter(build_dataset(100, seed=2, messages_per_session=8, live_fraction=0.2,
                                    now=now + timedelta(hours=1))))
    answer = httpx.post(f"{running_hub.url}/api/v1/ingest", json={"events": later},
                        headers={"Authorization": f"Bearer {running_hub.ingest_token}"})
    assert answer.status_code == 409 and answer.json()["error"] == "event_id_conflict"


# ------------------------------------------------------------------------------------------
# Retry rules, with the network replaced at the edge


class _Script:
    """A hub stand-in answering posted batches from a list of status codes, then 200."""

    def __init__(self, statuses: list[int], *, max_events: int | None = None) -> None:
        self.statuses = statuses
        self.max_events = max_events
        self.bodies: list[Events] = []
        self.stored: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer tok"
        events = json.loads(request.content)["events"]
        self.bodies.append(events)
        if self.max_events is not None and len(events) > self.max_events:
            return httpx.Response(413, json={"error": "too_large", "message": "too large"})
        if self.statuses:
            return httpx.Response(self.statuses.pop(0), json={"error": "x", "message": "x"})
        new = [e for e in events if e["id"] not in self.stored]
        for e in new:
            self.stored[e["id"]] = e["type"]
        return httpx.Response(200, json={"accepted": len(new),
                                         "duplicates": len(events) - len(new), "last_seq": 0})


async def _run_against(script: _Script, stored: int, rate: float = 40,
                       wind_down: bool = False) -> None:
    """Run until the stand-in has stored ``stored`` events, then stop."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator(
        "http://hub.test", "tok", rate=rate, seed=6, stop=stop, wind_down=wind_down,
        transport=httpx.MockTransport(script)))
    await _until(lambda: len(script.stored) >= stored, f"{stored} events stored")
    stop.set()
    await asyncio.wait_for(task, 2)


@pytest.mark.asyncio
async def test_busy_or_failing_hub_gets_the_same_batch_again(
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="supervisor_desk.simulator")
    script = _Script([503, 429, 502])
    await _run_against(script, 11)
    assert script.bodies[0] == script.bodies[1] == script.bodies[2] == script.bodies[3]
    delivered, accepted, duplicates, retries, *_ = _stopped_record(caplog)
    assert retries == 3 and duplicates == 0
    assert delivered == accepted == len(script.stored) > 10
    # What the hub stored is exactly the simulator's stream, in order, nothing skipped.
    stored = [e for body in script.bodies[3:] for e in body]
    expected = TrafficSimulator(seed=6).next_batch(T0, delivered)
    assert [e["id"] for e in stored] == list(script.stored)

    assert _story(stored) == _story(expected)


@pytest.mark.asyncio
async def test_oversized_batches_are_halved(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="supervisor_desk.simulator")
    script = _Script([], max_events=3)
    await _run_against(script, 20, rate=60)
    assert max(len(b) for b in script.bodies) > 3  # it tried the whole batch first
    delivered, accepted, *_ = _stopped_record(caplog)
    assert delivered == accepted == len(script.stored)


@pytest.mark.asyncio
async def test_invalid_batch_stops_with_the_hubs_details() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": "invalid_event", "message": "bad",
                                         "details": [{"index": 0, "field": "data.channel"}]})

    with pytest.raises(SimulatorError, match=r"422.*data\.channel"):
        await asyncio.wait_for(run_simulator(
            "http://hub.test", "tok", rate=10, seed=1, stop=asyncio.Event(),
            transport=httpx.MockTransport(refuse)), 2)


@pytest.mark.asyncio
async def test_stopping_ends_live_sessions_with_the_interrupted_batch() -> None:
    # The hub fails from the 4th post on: the stop interrupts a batch being retried; the
    # wind-down sends it again together with a system disconnect for every live session.
    script = _Script([])
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls >= 4 and not stopping.is_set():
            return httpx.Response(503, json={"error": "busy", "message": "busy"})
        return script(request)

    stop = asyncio.Event()
    stopping = asyncio.Event()
    task = asyncio.create_task(run_simulator(
        "http://hub.test", "tok", rate=40, seed=6, stop=stop,
        transport=httpx.MockTransport(flaky)))
    # Stop while the 503s are being retried (two failed posts of the same batch).
    await _until(lambda: calls >= 5, "the hub failing")
    stop.set()
    stopping.set()
    await asyncio.wait_for(task, 2.5)
    sessions = _by_session([e for body in script.bodies for e in body])
    assert len(sessions) >= 5
    for events in sessions.values():
        assert events[0]["type"] == "session.started"
        assert events[-1]["type"] == "session.ended"
    last = script.bodies[-1]
    aborted = [e for e in last if e["type"] == "session.ended"
               and e["data"]["end_reason"] == "system_disconnect"]
    assert len(aborted) >= 5
    markers = {e["session_id"] for e in last if e["type"] == "message.created"
               and e["data"]["text"].startswith("System disconnected the session at ")}
    assert {e["session_id"] for e in aborted} <= markers


def test_the_simulator_is_a_platform_that_imports_no_hub_or_desktop_code() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, supervisor_desk.simulator\n"
        "bad = ('supervisor_desk.hub', 'supervisor_desk.views', 'supervisor_desk.client', "
        "'PySide6', 'fastapi', 'starlette', 'uvicorn', 'sqlite3')\n"
        "print(sorted(m for m in sys.modules if m.startswith(bad)))\n"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True, timeout=60)
    assert found.stdout.strip() == "[]"
