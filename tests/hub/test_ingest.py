"""Ingest: the six event types, atomic and idempotent batches, and hostile input."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.ingest import parse_batch
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import IngestRejectedError, StoreUnavailable
from supervisor_desk.hub.store.sqlite import SqliteStore
from supervisor_desk.models.wire import Message, SessionDetail, SessionSummary
from tests.hub.conftest import Api, assert_error
from tests.hub.factories import ended, logs, message, message_updated, started, updated


def _quote(sid: str) -> str:
    # Dots too: an HTTP client normalizes a bare ".." segment away before sending.
    return quote(sid, safe="").replace(".", "%2E")


def _session(api: Api, sid: str) -> SessionSummary:
    answer = api.get(f"/sessions/{_quote(sid)}")
    assert answer.status_code == 200, answer.text
    return SessionDetail.model_validate(answer.json()).session


def _detail(api: Api, sid: str) -> SessionDetail:
    return SessionDetail.model_validate(api.get(f"/sessions/{_quote(sid)}").json())


def _count(api: Api) -> int:
    total: int = api.sessions()["total"]
    return total


def test_all_six_event_types_update_the_session(api: Api) -> None:
    answer = api.ingest([
        started("s1", "2026-01-01T10:00:00Z", status="queued",
                queued_at="2026-01-01T10:00:00Z", parameters={"utm": "ad", "plan": "pro"},
                location={"ip": "10.0.0.1", "country_code": "fr", "country": "France"}),
        updated("s1", "2026-01-01T10:00:30Z", status="active", team="Billing",
                parameters={"plan": None, "tier": "gold"}, results={"Name": "Zoé"}),
        message("s1", "m1", "Bonjour", "2026-01-01T10:01:00Z",
                attachments=[{"name": "a.pdf", "mime": "application/pdf", "size": 10}]),
        message("s1", "m2", "Hello", "2026-01-01T10:02:00Z", role="ai", quick_replies=["Yes"]),
        message_updated("s1", "m2", reaction="up",
                        delivery={"status": "read", "at": "2026-01-01T10:02:05Z"}),
        logs("s1", "system", [{"at": "2026-01-01T10:02:06Z", "level": "warning", "text": "slow"}]),
        logs("s1", "trace", [{"at": "2026-01-01T10:02:07Z", "agent": "Ava", "prompt": "p",
                              "generation": {"action": "reply", "action_input": "x"}}]),
        ended("s1", "2026-01-01T10:05:00Z", status="completed", end_reason="resolved"),
    ])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 8, "duplicates": 0, "last_seq": 8}

    detail = _detail(api, "s1")
    s = detail.session
    assert s.status == "completed" and s.end_reason == "resolved"
    assert s.accepted_at is not None and s.accepted_at.isoformat().startswith("2026-01-01T10:00:30")
    assert s.ended_at is not None and s.ended_at.isoformat().startswith("2026-01-01T10:05:00")
    assert s.team == "Billing"
    assert s.parameters == {"utm": "ad", "tier": "gold"}
    assert s.results == {"Name": "Zoé"}
    assert s.message_count == 2 and s.has_attachments
    assert s.last_message_at is not None and s.last_message_at.minute == 2
    # started (1) + updated + two messages + ended; message.updated and logs keep the version.
    assert s.version == 5
    assert s.location.country_code == "fr"
    assert [m.seq for m in detail.messages] == [1, 2]
    m2: Message = detail.messages[1]
    assert m2.reaction == "up" and m2.delivery is not None and m2.delivery.status == "read"
    assert m2.quick_replies == ["Yes"]
    system = api.get("/sessions/s1/logs", params={"kind": "system"}).json()
    assert system == {"kind": "system",
                      "entries": [{"at": "2026-01-01T10:02:06.000Z", "level": "warning",
                                   "text": "slow"}]}
    trace = api.get("/sessions/s1/logs", params={"kind": "trace"}).json()
    assert trace["entries"][0]["generation"] == {"action": "reply", "action_input": "x"}


def test_idempotent_by_event_id(api: Api) -> None:
    batch = [started("s1", event_id="e-1"), message("s1", "m1", event_id="e-2")]
    assert api.ingest(batch).json() == {"accepted": 2, "duplicates": 0, "last_seq": 2}
    again = api.ingest([*batch, message("s1", "m2", event_id="e-3")])
    assert again.json() == {"accepted": 1, "duplicates": 2, "last_seq": 3}
    assert _session(api, "s1").message_count == 2
    # The same id twice inside one batch counts once.
    twice = api.ingest([message("s1", "m3", event_id="e-4"), message("s1", "m3", event_id="e-4")])
    assert twice.json() == {"accepted": 1, "duplicates": 1, "last_seq": 4}


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        (message("ghost", "m9"), "unknown_session"),
        (started("s1"), "session_exists"),
        (message("s1", "m1"), "message_exists"),
        (message_updated("s1", "nope", reaction="up"), "unknown_message"),
    ],
)
def test_state_errors_refuse_the_whole_batch(api: Api, bad: dict[str, object], kind: str) -> None:
    api.ingest([started("s1"), message("s1", "m1")])
    answer = api.ingest([started("s2"), message("s2", "x1"), bad])
    body = assert_error(answer, 422, "invalid_event")
    assert body["details"][0]["index"] == 2
    assert body["details"][0]["type"] == kind
    assert "nothing in this batch was stored" in body["message"]
    assert api.get("/sessions/s2").status_code == 404  # atomic: the good events were not kept
    assert _session(api, "s1").message_count == 1


def test_a_message_id_used_twice_in_one_batch_is_refused_naming_the_second(api: Api) -> None:
    api.ingest([started("s1"), message("s1", "m1")])
    answer = api.ingest([message("s1", "m2"), message("s1", "m3"), message("s1", "m2", "again")])
    body = assert_error(answer, 422, "invalid_event")
    assert (body["details"][0]["index"], body["details"][0]["type"]) == (2, "message_exists")
    assert _session(api, "s1").message_count == 1
    # The batch after a refused one stores normally (rowids and seqs carry on without holes).
    ok = api.ingest([message("s1", "m2"), message("s1", "m3")])
    assert ok.status_code == 200, ok.text
    assert [m.id for m in _detail(api, "s1").messages] == ["m1", "m2", "m3"]


def test_last_message_at_is_the_latest_message_whatever_the_order(api: Api) -> None:
    api.ingest([started("s1"), message("s1", "m1", at="2026-01-01T10:05:00Z"),
                message("s1", "m2", at="2026-01-01T11:01:00+01:00"),  # 10:01 UTC: earlier
                message("s1", "m3", at="2026-01-01T10:04:59.999Z")])
    last = _session(api, "s1").last_message_at
    assert last is not None and last.isoformat().startswith("2026-01-01T10:05:00")


def test_ended_session_refuses_changes(api: Api) -> None:
    api.ingest([started("s1"), ended("s1")])
    for late in (message("s1", "m1"), updated("s1", team="x"), ended("s1"),
                 logs("s1", "system", [{"at": "2026-01-01T11:00:00Z", "text": "late"}])):
        body = assert_error(api.ingest([late]), 422, "invalid_event")
        assert body["details"][0]["type"] == "session_ended"


def test_invalid_events_name_index_and_field(api: Api) -> None:
    good = started("s1")
    no_agent = started("s2")
    del no_agent["data"]["agent"]
    wrong_type = message("s1", "m1")
    wrong_type["data"]["text"] = 12345
    bad_time = started("s3", at="yesterday")
    answer = api.ingest([good, no_agent, wrong_type, bad_time])
    body = assert_error(answer, 422, "invalid_event")
    by_index = {d["index"]: d for d in body["details"]}
    assert set(by_index) == {1, 2, 3}
    assert by_index[1]["field"] == "events.1.data.agent"
    assert by_index[2]["field"] == "events.2.data.text"
    assert by_index[3]["field"] == "events.3.at"
    assert api.sessions()["total"] == 0


def test_unknown_event_type(api: Api) -> None:
    event = started("s1")
    event["type"] = "session.exploded"
    body = assert_error(api.ingest([event]), 422, "invalid_event")
    assert body["details"][0]["type"] == "unknown_event_type"
    assert "session.exploded" in body["details"][0]["message"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"events": "nope"}', "invalid_request"),
        (b"[1, 2]", "invalid_request"),
        (b'{"events": []}', "invalid_request"),
        (b'{"events": [42]}', "invalid_event"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'{"events": [' + b"null," * 1000 + b"null]}", "too_many_events"),
    ],
)
def test_malformed_bodies_are_422(api: Api, content: bytes, code: str) -> None:
    answer = api.post("/ingest", role="ingest", content=content,
                      headers={"Content-Type": "application/json"})
    assert_error(answer, 422, code)


def test_oversize_body_is_413(api: Api) -> None:
    huge = message("s1", "m1", "x" * (1024 * 1024))
    answer = api.post("/ingest", role="ingest", content=json.dumps({"events": [huge]}),
                      headers={"Content-Type": "application/json"})
    assert_error(answer, 413, "payload_too_large")

    def chunks():  # no Content-Length: the hub must count while reading
        yield b'{"events": [' + b" " * (600 * 1024)
        yield b" " * (600 * 1024) + b"]}"

    streamed = api.post("/ingest", role="ingest", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert_error(streamed, 413, "payload_too_large")


def test_huge_fields_are_refused_not_truncated(api: Api) -> None:
    event = started("s1", user={"id": "u" * 5000, "name": "n"})
    body = assert_error(api.ingest([event]), 422, "invalid_event")
    assert body["details"][0]["field"] == "events.0.data.user.id"
    long_id = started("s" * 201)
    assert_error(api.ingest([long_id]), 422, "invalid_event")


@pytest.mark.parametrize(
    "sid",
    ["a/b", "x?y=1&z", "'; DROP TABLE sessions; --", "émoji-😀", "100%", "..", "a b", "#frag"],
)
def test_odd_ids_are_stored_and_found(api: Api, sid: str) -> None:
    assert api.ingest([started(sid), message(sid, "m/1?")]).status_code == 200
    detail = _detail(api, sid)
    assert detail.session.id == sid
    assert detail.messages[0].id == "m/1?"
    assert api.ids(q=sid) == [sid]


def test_control_characters_in_ids_are_refused(api: Api) -> None:
    body = assert_error(api.ingest([started("bad\x00id")]), 422, "invalid_event")
    assert "control characters" in body["details"][0]["message"]


def test_session_started_defaults_started_at_to_event_time(api: Api) -> None:
    event = started("s1", at="2026-03-04T05:06:07.891Z")
    del event["data"]["started_at"]
    api.ingest([event])
    assert _session(api, "s1").started_at.isoformat() == "2026-03-04T05:06:07.891000+00:00"


def test_a_started_session_is_the_summary_of_everything_it_was_started_with(api: Api) -> None:
    """The session document is the started event's data as a SessionSummary, in its field
    order, on the detail and the list alike (every field sent, times in other offsets)."""
    event = started(
        "s1", "2026-01-01T10:00:00+02:00", status="queued", modality="voice",
        responsible={"kind": "human", "operator": {"id": "o1", "name": "Olga"}},
        team="Billing", stage="triage",
        user={"id": "u1", "name": "Zoé", "external_id": "crm-1", "is_mobile": True},
        location={"ip": "10.0.0.1", "country_code": "fr", "country": "France", "city": "Lyon"},
        queued_at="2026-01-01T08:00:01.5Z", last_message_at="2026-01-01T07:59:00-01:00",
        has_attachments=True, parameters={"plan": "pro"}, results={"Name": "Zoé"},
        metadata={"utm": "ad"}, contact={"name": "Zoé", "email": "z@example.com"},
    )
    api.ingest([event])
    fields = {**event["data"], "id": "s1", "message_count": 0, "version": 1}
    expected = SessionSummary.model_validate(fields).model_dump(mode="json")
    stored = api.get("/sessions/s1").json()["session"]
    assert stored == expected
    assert list(stored) == list(SessionSummary.model_fields)
    assert api.sessions()["items"] == [expected]


def test_group_commit_keeps_each_batch_atomic(tmp_path: Path) -> None:
    """Batches merged into one commit: a refused one is rolled back alone, seq stays gap-free."""
    storage = SqliteStore(tmp_path / "group.db")
    try:
        def parsed(events: list[dict[str, Any]]) -> list[Any]:
            return parse_batch(json.dumps({"events": events}).encode())

        results = storage.ingest_many([
            parsed([started("a"), message("a", "m1")]),
            parsed([started("b"), message("ghost", "m1")]),
            parsed([started("c")]),
        ])
        assert isinstance(results[1], IngestRejectedError)
        assert results[1].details[0]["index"] == 1
        assert [r.last_seq for r in (results[0], results[2])] == [2, 3]  # type: ignore[union-attr]
        conn = storage.reader()
        assert [r[0] for r in conn.execute("SELECT id FROM sessions ORDER BY id")] == ["a", "c"]
        assert [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")] == [1, 2, 3]
    finally:
        storage.close()


# --------------------------------------------------------------------------------------------
# Timestamps and sizes at the edges: refused with the field named, never a 500


def _with(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


EDGE_TIMESTAMPS = [
    "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC
    "0999-06-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
]


@pytest.mark.parametrize("value", EDGE_TIMESTAMPS)
@pytest.mark.parametrize(
    ("build", "path", "field"),
    [
        (lambda: started("s9"), ("at",), "events.0.at"),
        (lambda: started("s9"), ("data", "started_at"), "events.0.data.started_at"),
        (lambda: message("s1", "m9"), ("data", "at"), "events.0.data.at"),
        (lambda: message("s1", "m9", delivery={"status": "sent", "at": "2026-01-01T10:00:00Z"}),
         ("data", "delivery", "at"), "events.0.data.delivery.at"),
        (lambda: logs("s1", "system", [{"at": "2026-01-01T10:00:00Z", "text": "x"}]),
         ("data", "entries", 0, "at"), "events.0.data.entries.0.at"),
    ],
)
def test_timestamps_out_of_range_are_422_naming_the_field(
    api: Api, value: str, build: Any, path: tuple[Any, ...], field: str
) -> None:
    api.ingest([started("s1")])
    answer = api.ingest([_with(build(), path, value)])
    body = assert_error(answer, 422, "invalid_event")
    if field.startswith("events.0.data.entries"):
        # Log entries are checked after their envelope: the entry is named by the message.
        assert body["details"][0]["field"].startswith("events.0.data"), body
    else:
        assert body["details"][0]["field"] == field, body
    assert "1970-01-01" in body["message"] and "9999-12-31" in body["message"], body
    assert api.get("/sessions/s9").status_code == 404
    assert _session(api, "s1").message_count == 0


@pytest.mark.parametrize("value", [12345, 1.5e9, "12345", "1767225600", True, None])
def test_timestamps_must_be_rfc3339_strings(api: Api, value: Any) -> None:
    body = assert_error(api.ingest([_with(started("s1"), ("at",), value)]), 422,
                        "invalid_event")
    assert body["details"][0]["field"] == "events.0.at", body
    assert api.sessions()["total"] == 0


def test_the_edges_of_the_range_are_accepted(api: Api) -> None:
    first = started("old", at="1970-01-01T00:00:00Z")
    last = started("late", at="9999-12-31T23:59:59.999Z")
    assert api.ingest([first, last]).status_code == 200
    assert _session(api, "old").started_at.year == 1970
    assert _session(api, "late").started_at.year == 9999


def test_attachment_sizes_fit_64_bits(api: Api) -> None:
    api.ingest([started("s1")])
    largest = 2**63 - 1
    ok = message("s1", "m1", attachments=[{"name": "a.bin", "size": largest}])
    assert api.ingest([ok]).status_code == 200
    assert _detail(api, "s1").messages[0].attachments[0].size == largest
    for size in (2**63, 10**30, -1):
        bad = message("s1", f"m-{size}", attachments=[{"name": "b.bin", "size": size}])
        body = assert_error(api.ingest([bad]), 422, "invalid_event")
        assert body["details"][0]["field"] == "events.0.data.attachments.0.size", body
    assert _session(api, "s1").message_count == 1


# --------------------------------------------------------------------------------------------
# One platform's bad batch never fails another platform's good one


def test_bad_batches_interleaved_with_good_ones_fail_no_good_batch(
    running_hub: EmbeddedHub,
) -> None:
    """A bad batch every few ms beside three platforms posting good ones concurrently (their
    batches share group commits): every good batch gets 200, every bad one 422."""
    tokens = [running_hub.create_token(f"platform-{i}", "ingest") for i in range(3)]
    bad_token = running_hub.create_token("platform-bad", "ingest")
    url = f"{running_hub.url}/api/v1/ingest"
    good_batches = 40
    stop_bad = asyncio.Event()
    statuses: dict[str, Counter[int]] = {"good": Counter(), "bad": Counter()}

    async def platform(client: httpx.AsyncClient, index: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(good_batches):
            sid = f"p{index}-s{n}"
            batch = [started(sid), *(message(sid, f"m{k}") for k in range(20))]
            answer = await client.post(url, json={"events": batch}, headers=headers)
            statuses["good"][answer.status_code] += 1

    async def bad_platform(client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {bad_token}"}
        n = 0
        while not stop_bad.is_set():
            n += 1
            sid = f"bad-{n}"
            batch = [started(sid), message(sid, "m1", at="0999-01-01T00:00:00Z")]
            if n % 2:
                batch = [started(sid, at="9999-12-31T23:59:59-01:00")]
            answer = await client.post(url, json={"events": batch}, headers=headers)
            statuses["bad"][answer.status_code] += 1
            await asyncio.sleep(0.005)

    async def run() -> None:
        async with httpx.AsyncClient(timeout=30.0) as client:
            bad = asyncio.create_task(bad_platform(client))
            await asyncio.gather(*(platform(client, i, t) for i, t in enumerate(tokens)))
            stop_bad.set()
            await bad

    asyncio.run(run())
    assert statuses["good"] == Counter({200: 3 * good_batches}), statuses
    assert set(statuses["bad"]) == {422} and statuses["bad"][422] >= 10, statuses
    live = httpx.get(f"{running_hub.url}/api/v1/sessions", params={"limit": 1},
                     headers={"Authorization": f"Bearer {running_hub.create_token('v', 'viewer')}"})
    assert live.json()["total"] == 3 * good_batches


def _parsed(events: list[dict[str, Any]]) -> list[Any]:
    return parse_batch(json.dumps({"events": events}).encode())


def _poisoned() -> list[Any]:
    """A batch that passed validation yet fails while it is applied (a hub bug stand-in)."""
    ((envelope, data),) = _parsed([started("poison")])
    return [(envelope.model_copy(update={"at": "not a datetime"}), data)]


def test_a_batch_failing_inside_the_group_commit_is_rolled_back_alone(tmp_path: Path) -> None:
    storage = SqliteStore(tmp_path / "group.db")
    try:
        results = storage.ingest_many(
            [_parsed([started("a")]), _poisoned(), _parsed([started("c")])]
        )
        assert isinstance(results[1], Exception)
        assert [r.last_seq for r in (results[0], results[2])] == [1, 2]  # type: ignore[union-attr]
        conn = storage.reader()
        assert [r[0] for r in conn.execute("SELECT id FROM sessions ORDER BY id")] == ["a", "c"]
    finally:
        storage.close()


def test_a_group_commit_that_fails_whole_is_retried_batch_by_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the shared transaction itself is lost, each batch is tried again alone: only the
    batch that caused it fails."""
    storage = SqliteStore(tmp_path / "group.db")
    service = HubService(storage)
    real = storage.ingest_many
    poison = _poisoned()

    def lose_shared_transactions(batches: Any) -> Any:
        if len(batches) > 1 and any(b is poison for b in batches):
            raise StoreUnavailable("storage_unavailable", "the shared commit was lost")
        if any(b is poison for b in batches):
            raise ValueError("the poisoned batch")
        return real(batches)

    monkeypatch.setattr(storage, "ingest_many", lose_shared_transactions)

    async def post_together() -> list[Any]:
        batches = [_parsed([started("a")]), poison, _parsed([started("c")])]
        return await asyncio.gather(*(service.ingest(b) for b in batches),
                                    return_exceptions=True)

    try:
        results = asyncio.run(post_together())
        assert isinstance(results[1], ValueError)
        assert not isinstance(results[0], BaseException)
        assert not isinstance(results[2], BaseException)
        assert storage.last_seq == 2
    finally:
        service.close()


# --------------------------------------------------------------------------------------------
# A reused event id with different content is a platform bug: 409, named, nothing stored


def test_a_reused_event_id_with_different_content_is_409_naming_the_id(api: Api) -> None:
    first = [started("s1", event_id="e-1"), message("s1", "m1", "hello", event_id="e-2")]
    assert api.ingest(first).status_code == 200
    # The same events again, spelled differently (key order, time zone): a duplicate.
    respelled = json.loads(json.dumps(first[1]))
    respelled["at"] = "2026-01-01T11:01:00+01:00"
    respelled["data"] = dict(reversed(list(respelled["data"].items())))
    respelled["data"]["at"] = "2026-01-01T05:01:00-05:00"
    assert api.ingest([first[0], respelled]).json() == {
        "accepted": 0, "duplicates": 2, "last_seq": 2}
    # The same id for another message, even beside new good events: refused whole.
    reused = message("s1", "m2", "a different message", event_id="e-2")
    answer = api.ingest([message("s1", "m3", "fine", event_id="e-3"), reused])
    body = assert_error(answer, 409, "event_id_conflict")
    assert "'e-2'" in body["message"] and "nothing in this batch was stored" in body["message"]
    assert body["details"][0]["index"] == 1 and body["details"][0]["event_id"] == "e-2"
    assert body["details"][0]["field"] == "events.1.id"
    # Even a new session.started under a used id.
    other = started("s2", event_id="e-1")
    assert_error(api.ingest([other]), 409, "event_id_conflict")
    assert _session(api, "s1").message_count == 1
    assert api.get("/sessions/s2").status_code == 404
    # Within one batch too.
    twice = [message("s1", "m4", "one", event_id="e-9"), message("s1", "m5", "two",
                                                                 event_id="e-9")]
    assert_error(api.ingest(twice), 409, "event_id_conflict")
    assert _session(api, "s1").message_count == 1


def test_a_client_hanging_up_mid_body_stores_nothing_and_logs_one_quiet_line(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """A platform whose link drops while it sends a batch: nothing is stored, the hub logs one
    line (no "unexpected error" traceback) and the next batch is taken as usual."""
    import socket
    from urllib.parse import urlsplit

    body = json.dumps({"events": [started("hung-up")]}).encode()
    address = urlsplit(api.hub.url)
    with caplog.at_level("INFO"), socket.create_connection(
            (address.hostname, address.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/ingest HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {api.token('ingest')}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
        sock.shutdown(socket.SHUT_WR)  # the rest never comes: the hub reads end-of-stream
        while sock.recv(65536):  # until the hub lets go of the connection
            pass
    answer = api.ingest([started("after")])
    assert answer.status_code == 200, answer.text
    assert api.ids() == ["after"]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
