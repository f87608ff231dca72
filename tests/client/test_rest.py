"""HubClient against a real hub on loopback: typed answers, mapped errors, streamed exports."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from supervisor_desk.client.rest import HubClient, HubError, normalize_base_url, websocket_url
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.wire import EXPORT_FORMAT
from tests.client.hub_events import ended, message, now, started
from tests.conftest import ingest

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


@pytest_asyncio.fixture
async def seeded(running_hub: EmbeddedHub) -> EmbeddedHub:
    log_event = {
        "id": "ev-log-1", "type": "log.appended", "session_id": "web-1", "at": now(),
        "data": {"kind": "system", "entries": [{"at": now(), "level": "info",
                                                "text": "agent started"}]},
    }
    await asyncio.to_thread(ingest, running_hub, [
        started("web-1", agent={"id": "ag-sales", "name": "Sales"}),
        message("web-1", "Where is my parcel?"),
        message("web-1", "Let me check.", role="ai"),
        log_event,
        started("wa-1", channel="whatsapp", status="queued"),
        started("done-1"), ended("done-1"),
    ])
    return running_hub


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """An export folder of its own (the hub's database lives in tmp_path)."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


@pytest_asyncio.fixture
async def viewer(seeded: EmbeddedHub) -> AsyncIterator[HubClient]:
    client = HubClient(seeded.url)
    await client.login("viewer", "viewer")
    try:
        yield client
    finally:
        await client.aclose()


async def test_login_me_logout(running_hub: EmbeddedHub) -> None:
    async with HubClient(running_hub.url) as client:
        answer = await client.login("supervisor", "supervisor")
        assert client.token == answer.token and answer.role == "supervisor"
        me = await client.me()
        assert me.user.name == "supervisor" and "sessions:handover" in me.permissions
        token = client.token
        await client.logout()
        assert client.token is None
        client.token = token  # revoked now
        with pytest.raises(HubError) as caught:
            await client.me()
        assert caught.value.status == 401 and caught.value.code == "unauthorized"


async def test_wrong_password_is_unauthorized(running_hub: EmbeddedHub) -> None:
    async with HubClient(running_hub.url) as client:
        with pytest.raises(HubError) as caught:
            await client.login("viewer", "nope")
        assert caught.value.unauthorized and caught.value.message
        assert client.token is None


async def test_unreachable_hub_has_a_human_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with HubClient(f"http://127.0.0.1:{port}", "tok", timeout=2) as client:
        with pytest.raises(HubError) as caught:
            await client.live()
    assert caught.value.code == "unreachable" and caught.value.status is None
    assert f"127.0.0.1:{port}" in caught.value.message and "reach" in caught.value.message


async def test_https_to_a_plain_http_hub_is_not_called_a_certificate_problem(
    running_hub: EmbeddedHub,
) -> None:
    """Only a certificate verification failure reads as a refused certificate; any other TLS
    failure (here: no TLS at all on the other end) says there is no secure connection."""
    address = running_hub.url.replace("http://", "https://")
    async with HubClient(address, timeout=5.0) as client:
        assert client.ssl_context() is not None
        with pytest.raises(HubError) as caught:
            await client.login("viewer", "viewer")
    error = caught.value
    assert error.code == "unreachable" and not error.certificate_refused
    assert error.refusal is None
    assert error.message.startswith(
        f"No secure connection to the hub at {address}: is it serving https? (")


async def test_live_sessions_detail_and_logs(viewer: HubClient) -> None:
    snapshot = await viewer.live()
    assert {s.id for s in snapshot.sessions} == {"web-1", "wa-1"} and snapshot.seq > 0

    page = await viewer.sessions(limit=2, sort="started_at")
    assert page.total == 3 and len(page.items) == 2 and page.limit == 2
    only_wa = await viewer.sessions(SessionFilter(channel=("whatsapp",)))
    assert [s.id for s in only_wa.items] == ["wa-1"]
    ended_only = await viewer.sessions(SessionFilter(live=False))
    assert [s.id for s in ended_only.items] == ["done-1"]

    metrics = await viewer.metrics()
    assert metrics.total == 3 and metrics.live == 2 and metrics.queued == 1
    assert (await viewer.metrics(SessionFilter(channel=("whatsapp",)))).total == 1

    detail = await viewer.session("web-1")
    assert [m.text for m in detail.messages] == ["Where is my parcel?", "Let me check."]
    assert detail.session.agent.name == "Sales"
    system = await viewer.logs("web-1", "system")
    assert [e.text for e in system] == ["agent started"]
    assert await viewer.logs("web-1", "trace") == []
    assert {a.id for a in await viewer.agents()} >= {"ag-sales", "agent-1"}
    assert isinstance(await viewer.operators(), list)


async def test_errors_carry_the_hub_code(viewer: HubClient, seeded: EmbeddedHub) -> None:
    with pytest.raises(HubError) as caught:
        await viewer.session("no-such-session")
    assert caught.value.status == 404 and caught.value.code == "not_found"
    with pytest.raises(HubError) as caught:
        await viewer.handover("web-1")  # a viewer may not
    assert caught.value.status == 403 and caught.value.code == "forbidden"
    with pytest.raises(HubError) as caught:
        await viewer.sessions(limit=10_000)
    assert caught.value.status == 422


async def test_handover_as_supervisor(seeded: EmbeddedHub) -> None:
    async with HubClient(seeded.url) as client:
        await client.login("supervisor", "supervisor")
        session = await client.handover("web-1")
        assert session.responsible.kind == "unassigned"  # the next available operator
        with pytest.raises(HubError) as caught:
            await client.handover("web-1")
        assert caught.value.status == 409 and caught.value.code == "already_human"
        with pytest.raises(HubError) as caught:
            await client.handover("done-1")
        assert caught.value.code == "session_finished"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
async def test_export_streams_to_the_destination(
    viewer: HubClient, out_dir: Path, fmt: str
) -> None:
    dest = out_dir / f"out.{fmt}"
    seen: list[int] = []
    written = await viewer.export(fmt, SessionFilter(channel=("web",)), dest,  # type: ignore[arg-type]
                                  progress=seen.append)
    assert dest.stat().st_size == written > 0
    assert seen and seen[-1] == written and seen == sorted(seen)
    assert names(out_dir) == [dest.name]  # no temporary file left
    text = dest.read_text(encoding="utf-8")
    if fmt == "json":
        body = json.loads(text)
        assert body["format"] == EXPORT_FORMAT
        assert {e["session"]["id"] for e in body["sessions"]} == {"web-1", "done-1"}
    elif fmt == "jsonl":
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines[0]["format"] == EXPORT_FORMAT and len(lines) == 3
    else:
        assert "web-1" in text and "wa-1" not in text


async def test_failed_export_leaves_no_file(viewer: HubClient, out_dir: Path) -> None:
    dest = out_dir / "kept.json"
    dest.write_text("previous export", encoding="utf-8")
    with pytest.raises(HubError) as caught:
        await viewer.export("json", None, dest, sort="no-such-key")
    assert caught.value.status == 422
    assert dest.read_text(encoding="utf-8") == "previous export"  # untouched
    assert names(out_dir) == ["kept.json"]


async def test_cancelled_export_removes_its_temporary_file(
    viewer: HubClient, out_dir: Path
) -> None:
    dest = out_dir / "big.jsonl"
    task: asyncio.Task[int] | None = None

    def progress(_: int) -> None:
        # The user presses Cancel as soon as the first bytes are on disk.
        assert task is not None
        assert names(out_dir) != []  # the temporary file exists
        task.cancel()

    task = asyncio.create_task(viewer.export("jsonl", None, dest, progress))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert names(out_dir) == []


async def test_token_is_never_logged(
    seeded: EmbeddedHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with HubClient(seeded.url) as client:
        answer = await client.login("viewer", "viewer")
        await client.live()
        await client.export("csv", None, Path(seeded.db_path).parent / "x.csv")
        assert answer.token not in repr(client)
    assert caplog.records  # httpx/httpcore did log the requests
    assert answer.token not in caplog.text


async def test_addresses() -> None:
    assert normalize_base_url("hub.example.com:8765/") == "https://hub.example.com:8765"
    assert normalize_base_url("127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert normalize_base_url("https://x.example/hub/") == "https://x.example/hub"
    with pytest.raises(ValueError):
        normalize_base_url("ftp://x")
    assert websocket_url("http://127.0.0.1:1", "/feed", {"epoch": "e", "after": 5}) == (
        "ws://127.0.0.1:1/api/v1/feed?epoch=e&after=5")
    assert websocket_url("https://x.example/hub", "/feed") == "wss://x.example/hub/api/v1/feed"
