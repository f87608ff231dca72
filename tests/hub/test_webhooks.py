"""Outbound webhooks against a real receiving HTTP server on loopback: signatures, order per
session, retries after 500s and timeouts, dead letters and replay, a hung endpoint that
does not hold up ingest, hand-overs, the admin API and the CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.hub.cli import main as hub_main
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.routes_webhooks import EventName
from supervisor_desk.hub.store.webhooks import WEBHOOK_EVENTS
from supervisor_desk.hub.webhooks import RetrySchedule
from tests.helpers import poll_until
from tests.hub.conftest import assert_error, started_hub
from tests.hub.factories import message, started
from tests.hub.webhook_receiver import Receiver, verify

FAST = RetrySchedule(first=0.05, cap=0.2, retry_for=30.0, timeout=0.5)


class Hub:
    def __init__(self, hub: EmbeddedHub) -> None:
        self.hub = hub
        self.client = httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30.0)
        self.admin = {"Authorization": f"Bearer {hub.create_token('hooks-admin', 'admin')}"}
        self.ingest_auth = {"Authorization": f"Bearer {hub.create_token('hooks-in', 'ingest')}"}

    def register(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        answer = self.client.post("/webhooks", headers=self.admin,
                                  json={"url": url, "events": events or []})
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def ingest(self, events: list[dict[str, Any]]) -> None:
        answer = self.client.post("/ingest", headers=self.ingest_auth, json={"events": events})
        assert answer.status_code == 200, answer.text

    def deliveries(self, hook: str, state: str | None = None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        answer = self.client.get(f"/webhooks/{hook}/deliveries", headers=self.admin,
                                 params=params)
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


@contextmanager
def _hub(request: pytest.FixtureRequest, tmp_path: Path, schedule: RetrySchedule
         ) -> Iterator[Hub]:
    backend = request.getfixturevalue("hub_backend")
    with started_hub(request, backend, tmp_path, webhook_schedule=schedule) as hub:
        hub.add_user("supervisor", "supervisor", "supervisor")
        wrapper = Hub(hub)
        try:
            yield wrapper
        finally:
            wrapper.client.close()


@pytest.fixture
def hub(request: pytest.FixtureRequest, hub_backend: str, tmp_path: Path) -> Iterator[Hub]:
    with _hub(request, tmp_path, FAST) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def test_event_names_of_the_api_are_the_subscribable_ones() -> None:
    from typing import get_args

    assert set(get_args(EventName)) == set(WEBHOOK_EVENTS)


def test_deliveries_are_signed_and_in_order_per_session(hub: Hub, receiver: Receiver) -> None:
    hook = hub.register(receiver.url)
    assert hook["secret"].startswith("whsec_")
    sent: dict[str, list[str]] = {"a": [], "b": []}
    for round_ in range(5):
        batch = []
        for sid in ("a", "b"):
            event = started(sid) if round_ == 0 else message(sid, f"{sid}-{round_}")
            sent[sid].append(event["id"])
            batch.append(event)
        hub.ingest(batch)
    receiver.wait_for(lambda r: len(r.accepted) >= 10)
    got: dict[str, list[str]] = {"a": [], "b": []}
    for item in receiver.accepted:
        assert verify(hook["secret"], item.headers, item.body)
        assert item.headers["content-type"] == "application/json"
        payload = item.payload
        assert set(payload) == {"type", "timestamp", "data"}
        got[payload["data"]["session_id"]].append(payload["data"]["id"])
    assert got == sent
    ids = [item.message_id for item in receiver.accepted]
    assert len(set(ids)) == len(ids) == 10
    # The receiver counts a delivery once it has answered; the hub records it a moment later.
    poll_until(lambda: all(d["state"] == "delivered" for d in hub.deliveries(hook["id"])), 10)


def test_a_tampered_body_fails_verification(hub: Hub, receiver: Receiver) -> None:
    hook = hub.register(receiver.url, ["session.started"])
    hub.ingest([started("s1")])
    receiver.wait_for(lambda r: len(r.accepted) == 1)
    item = receiver.accepted[0]
    assert verify(hook["secret"], item.headers, item.body)
    assert not verify(hook["secret"], item.headers, item.body.replace(b"s1", b"s2"))
    assert not verify("whsec_" + "A" * 32, item.headers, item.body)


def test_500s_and_timeouts_are_retried_with_the_same_id_and_order_kept(
    hub: Hub, receiver: Receiver,
) -> None:
    release = threading.Event()

    def flaky(number: int, headers: dict[str, str], body: bytes) -> int:
        if number in (1, 2):
            return 500
        if number == 3:
            release.wait(2.0)  # longer than the hub's 0.5 s timeout: the hub gave up
            return 504
        return 200

    receiver.behaviour = flaky
    hook = hub.register(receiver.url, ["session.started", "message.created"])
    first = started("s1")
    hub.ingest([first])
    hub.ingest([message("s1", "m1"), message("s1", "m2")])
    receiver.wait_for(lambda r: len({x.payload["data"]["id"] for x in r.accepted}) >= 3)
    release.set()
    attempts = receiver.attempts
    # The first event was tried (500, 500, timeout) and then delivered, before any later one.
    first_ids = [a.message_id for a in attempts[:4]]
    assert len(set(first_ids)) == 1
    assert all(a.payload["data"]["id"] == first["id"] for a in attempts[:4])
    # Then the rest, each once, in the session's order.
    order = []
    for item in receiver.accepted:
        event_id = item.payload["data"]["id"]
        if event_id not in order:
            order.append(event_id)
    assert order[0] == first["id"]
    later = [item.payload["data"]["data"]["id"] for item in receiver.accepted[1:]]
    assert later[-2:] == ["m1", "m2"]
    delivered = hub.deliveries(hook["id"], "delivered")
    oldest = min(delivered, key=lambda d: d["id"])
    assert oldest["attempts"] >= 4 and oldest["last_status"] in (200, 204)


def test_dead_letters_are_listed_and_replayed(
    request: pytest.FixtureRequest, hub_backend: str, tmp_path: Path, receiver: Receiver
) -> None:
    schedule = RetrySchedule(first=0.05, cap=0.1, retry_for=0.5, timeout=0.5)
    with _hub(request, tmp_path, schedule) as hub:
        receiver.behaviour = lambda n, h, b: 503
        hook = hub.register(receiver.url, ["session.started"])
        hub.ingest([started("dead-1")])
        dead: list[dict[str, Any]] = []

        def is_dead(_: Receiver) -> bool:
            dead[:] = hub.deliveries(hook["id"], "dead")
            return len(dead) == 1

        receiver.wait_for(is_dead)
        assert dead[0]["attempts"] >= 2 and dead[0]["last_status"] == 503
        assert dead[0]["session_id"] == "dead-1"
        receiver.behaviour = lambda n, h, b: 200
        answer = hub.client.post(f"/webhooks/{hook['id']}/replay", headers=hub.admin,
                                 json={})
        assert answer.json() == {"replayed": 1}
        receiver.wait_for(lambda r: len(r.accepted) == 1)
        assert receiver.accepted[0].message_id == dead[0]["message_id"]
        assert hub.deliveries(hook["id"], "dead") == []


def test_a_hung_endpoint_does_not_hold_up_ingest_or_reads(
    request: pytest.FixtureRequest, hub_backend: str, tmp_path: Path, receiver: Receiver,
) -> None:
    release = threading.Event()
    entered = threading.Event()

    def hang(number: int, headers: dict[str, str], body: bytes) -> int:
        entered.set()
        return 200 if release.wait(60) else 500

    receiver.behaviour = hang
    with _hub(request, tmp_path, RetrySchedule(first=0.05, timeout=60.0)) as hub:
        try:
            hub.register(receiver.url)
            hub.ingest([started("slow-0")])
            assert entered.wait(30)  # a delivery is now stuck in the endpoint
            for n in range(1, 30):
                hub.ingest([started(f"slow-{n}")])
            page = hub.client.get("/sessions", headers=hub.admin, params={"limit": 500})
            assert page.json()["total"] == 30
            assert not release.is_set()  # all of it while the endpoint still hung
        finally:
            release.set()
        receiver.wait_for(lambda r: len(r.accepted) == 30)


def test_handover_reaches_the_platform(hub: Hub, receiver: Receiver) -> None:
    hook = hub.register(receiver.url, ["session.handover"])
    hub.ingest([started("h1")])
    token = hub.client.post("/auth/login", json={"username": "supervisor",
                                                 "password": "supervisor"}).json()["token"]
    answer = hub.client.post("/sessions/h1/handover",
                             headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    receiver.wait_for(lambda r: len(r.accepted) == 1)
    item = receiver.accepted[0]
    assert verify(hook["secret"], item.headers, item.body)
    assert item.payload["type"] == "session.handover"
    data = item.payload["data"]
    # No operator chosen: the next available one (never the supervisor's own account).
    assert data["session_id"] == "h1" and data["operator"] is None
    assert data["session"]["responsible"]["kind"] == "unassigned"


def test_admin_api_validates_lists_and_removes(hub: Hub, receiver: Receiver) -> None:
    bad = hub.client.post("/webhooks", headers=hub.admin, json={"url": "ftp://x/"})
    assert_error(bad, 422, "invalid_request")
    unknown = hub.client.post("/webhooks", headers=hub.admin,
                              json={"url": receiver.url, "events": ["nope"]})
    assert_error(unknown, 422)
    viewer = hub.client.get("/webhooks", headers={
        "Authorization": f"Bearer {hub.hub.create_token('v', 'viewer')}"})
    assert_error(viewer, 403, "forbidden")
    hook = hub.register(receiver.url, ["session.ended"])
    listed = hub.client.get("/webhooks", headers=hub.admin).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert hub.client.delete(f"/webhooks/{hook['id']}", headers=hub.admin).json() == {
        "removed": True}
    assert_error(hub.client.delete(f"/webhooks/{hook['id']}", headers=hub.admin), 404)
    assert_error(hub.client.get(f"/webhooks/{hook['id']}/deliveries", headers=hub.admin), 404)


def test_cli_manages_webhooks(request: pytest.FixtureRequest, hub_backend: str,
                              tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              receiver: Receiver) -> None:
    db = str(tmp_path / "cli.db")
    if hub_backend == "postgres":
        db = request.getfixturevalue("postgres").create_database()
    assert hub_main(["webhook", "add", "--db", db, receiver.url, "--event",
                     "session.handover"]) == 0
    hook_id, secret = capsys.readouterr().out.strip().split("\t")
    assert hook_id.startswith("wh_") and secret.startswith("whsec_")
    assert hub_main(["webhook", "list", "--db", db]) == 0
    assert capsys.readouterr().out.split("\t")[:3] == [hook_id, receiver.url,
                                                        "session.handover\n"]
    assert hub_main(["webhook", "deliveries", "--db", db, hook_id, "--state", "dead"]) == 0
    assert capsys.readouterr().out == ""
    assert hub_main(["webhook", "replay", "--db", db, hook_id]) == 0
    assert "0 dead deliveries" in capsys.readouterr().err
    assert hub_main(["webhook", "add", "--db", db, "not a url"]) == 2
    assert hub_main(["webhook", "remove", "--db", db, hook_id]) == 0
    assert hub_main(["webhook", "remove", "--db", db, hook_id]) == 1
