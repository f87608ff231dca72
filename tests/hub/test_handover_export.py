"""Hand-over (409/403/404, feed events) and streamed exports in JSON, JSONL and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
import websockets

from supervisor_desk.hub.routes_sessions import CSV_COLUMNS
from supervisor_desk.models.wire import (
    EXPORT_FORMAT,
    EventFrame,
    ExportedSession,
    ExportHeader,
    HandoverAnswer,
    parse_frame,
)
from tests.hub.conftest import Api, assert_error
from tests.hub.factories import ended, logs, message, started


def test_handover_rules(api: Api) -> None:
    api.ingest([
        started("s1", status="queued"), started("s2"), ended("s2"), started("s3"),
        started("s4", responsible={"kind": "human",
                                   "operator": {"id": "op-7", "name": "Anna Petrova"}}),
    ])
    assert_error(api.post("/sessions/s1/handover", role="viewer"), 403, "forbidden")
    assert_error(api.post("/sessions/nope/handover", role="supervisor"), 404, "not_found")
    assert_error(api.post("/sessions/s2/handover", role="supervisor"), 409, "session_finished")

    login = api.post("/auth/login", role=None,
                     json={"username": "supervisor", "password": "supervisor"}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    # No operator named: the next available one; never the supervisor's own account.
    answer = api.post("/sessions/s1/handover", role=None, headers=headers)
    assert answer.status_code == 200, answer.text
    session = HandoverAnswer.model_validate(answer.json()).session
    assert session.responsible.kind == "unassigned" and session.responsible.operator is None
    assert session.status == "queued"  # still waiting, now for a human
    assert session.message_count == 1 and session.version == 3
    assert_error(api.post("/sessions/s1/handover", role="admin"), 409, "already_human")

    detail = api.get("/sessions/s1").json()
    marker = detail["messages"][-1]
    assert (marker["kind"], marker["author"]["role"]) == ("marker", "system")
    assert marker["text"] == "Transfer to human agent"
    system = api.get("/sessions/s1/logs", params={"kind": "system"}).json()["entries"]
    assert system[-1]["text"] == "Handed over to the next available operator by supervisor"
    assert api.sessions(operator=login["user"]["id"])["total"] == 0

    # An operator from /operators: Responsible is that operator, the session active.
    own = {"operator_id": login["user"]["id"]}
    assert_error(api.post("/sessions/s3/handover", role=None, headers=headers, json=own),
                 422, "own_account")
    assert_error(api.post("/sessions/s3/handover", role=None, headers=headers,
                          json={"operator_id": "op-404"}), 422, "unknown_operator")
    answer = api.post("/sessions/s3/handover", role=None, headers=headers,
                      json={"operator_id": "op-7"})
    assert answer.status_code == 200, answer.text
    session = HandoverAnswer.model_validate(answer.json()).session
    assert session.responsible.kind == "human"
    assert session.responsible.operator is not None
    assert (session.responsible.operator.id, session.responsible.operator.name) == (
        "op-7", "Anna Petrova")
    system = api.get("/sessions/s3/logs", params={"kind": "system"}).json()["entries"]
    assert system[-1]["text"] == "Handed over to Anna Petrova by supervisor"


def test_handover_reaches_the_feed_through_the_event_log(api: Api) -> None:
    api.ingest([started("s1")])

    async def watch() -> list[EventFrame]:
        url = api.hub.url.replace("http://", "ws://") + "/api/v1/feed"
        async with websockets.connect(url, additional_headers=api.headers("viewer")) as ws:
            parse_frame(await ws.recv())  # hello
            answer = await asyncio.to_thread(api.post, "/sessions/s1/handover",
                                             role="supervisor")
            assert answer.status_code == 200
            frames = [parse_frame(await asyncio.wait_for(ws.recv(), 10)) for _ in range(3)]
            return [f for f in frames if isinstance(f, EventFrame)]

    frames = asyncio.run(watch())
    assert [f.event.type for f in frames] == ["message.created", "session.updated",
                                              "log.appended"]
    assert [f.seq for f in frames] == [2, 3, 4]
    final = frames[1].event.session()
    assert final is not None and final.responsible.kind == "unassigned"
    assert final.message_count == 1


def _dataset(api: Api) -> None:
    api.ingest([
        started("s1", "2026-01-01T10:00:00Z", channel="web",
                user={"id": "u1", "name": "=cmd|' /C calc'!A0"}),
        message("s1", "m1", "hello, \"world\"\nline two"),
        logs("s1", "system", [{"at": "2026-01-01T10:00:01Z", "text": "boot"}]),
        logs("s1", "trace", [{"at": "2026-01-01T10:00:02Z", "agent": "Ava"}]),
        started("s2", "2026-01-02T10:00:00Z", channel="phone"),
        ended("s2", "2026-01-02T10:10:00Z"),
    ])


def test_export_json(api: Api) -> None:
    _dataset(api)
    answer = api.get("/sessions/export", role="viewer", params={"format": "json"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert "attachment" in answer.headers["content-disposition"]
    doc = json.loads(answer.content)
    header = ExportHeader.model_validate(doc)
    assert header.format == EXPORT_FORMAT and header.version == 1
    assert doc["filters"] == {}
    items = [ExportedSession.model_validate(item) for item in doc["sessions"]]
    assert [i.session.id for i in items] == ["s2", "s1"]
    s1 = items[1]
    assert [m.text for m in s1.messages] == ["hello, \"world\"\nline two"]
    assert [e.text for e in s1.logs.system] == ["boot"]
    assert [e.agent for e in s1.logs.trace] == ["Ava"]


def test_export_jsonl_with_filters(api: Api) -> None:
    _dataset(api)
    answer = api.get("/sessions/export", role="viewer",
                     params=[("format", "jsonl"), ("channel", "web"), ("live", "true")])
    lines = answer.text.splitlines()
    header = json.loads(lines[0])
    assert header["format"] == EXPORT_FORMAT and header["version"] == 1
    assert header["filters"] == {"channel": ["web"], "live": True}
    assert "sessions" not in header
    rows = [ExportedSession.model_validate_json(line) for line in lines[1:]]
    assert [r.session.id for r in rows] == ["s1"]


def test_export_csv(api: Api) -> None:
    _dataset(api)
    answer = api.get("/sessions/export", role="viewer", params={"format": "csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_id = {row[1]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {"s1", "s2"}
    assert by_id["s2"]["duration_seconds"] == "600.000"
    assert by_id["s2"]["status"] == "completed" and by_id["s2"]["end_reason"] == "resolved"
    assert by_id["s1"]["message_count"] == "1"
    # A spreadsheet must not run a formula smuggled in by a customer's name.
    assert by_id["s1"]["user"].startswith("'=")


@pytest.mark.parametrize(
    ("params", "status"),
    [({"format": "xml"}, 422), ({"format": "csv", "messages": "lots"}, 422)],
)
def test_export_bad_parameters(api: Api, params: dict[str, str], status: int) -> None:
    assert_error(api.get("/sessions/export", role="viewer", params=params), status)


def test_export_is_streamed_in_pieces(api: Api) -> None:
    api.ingest([started(f"s{i:04d}") for i in range(450)])
    with api.client.stream("GET", "/sessions/export", params={"format": "jsonl"},
                           headers=api.headers("viewer")) as answer:
        # Sent as it is produced (chunked), never assembled whole to learn its length.
        assert "content-length" not in answer.headers
        assert answer.headers.get("transfer-encoding") == "chunked"
        body = b"".join(answer.iter_raw()).decode()
    assert len(body.splitlines()) == 451
