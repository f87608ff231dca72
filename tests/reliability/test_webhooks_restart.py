"""Webhook deliveries survive a hub killed with SIGKILL: the outbox is in the database, written
with the events, so a restarted hub delivers every event the old one acknowledged."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from supervisor_desk.hub.store.sqlite import SqliteStore
from tests.hub.webhook_receiver import Receiver, verify
from tests.reliability.desk import Traffic, auth
from tests.reliability.hubproc import HubProcess, prepare_db


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_nothing_is_lost_across_a_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    port = _free_port()
    storage = SqliteStore(db)
    try:
        hook = storage.add_webhook(f"http://127.0.0.1:{port}/hook", ["session.started",
                                                                     "message.created"])
    finally:
        storage.close()
    hub = HubProcess(db, 0, "--webhook-first-retry", "0.1", "--webhook-timeout", "2")
    receiver: Receiver | None = None
    try:
        url = hub.start()
        traffic = Traffic(seed=3)
        sent: dict[str, list[str]] = {}
        for _ in range(5):
            events = traffic.batch(20)
            answer = httpx.post(f"{url}/api/v1/ingest", headers=auth(tokens["ingest"]),
                                json={"events": events}, timeout=30)
            assert answer.status_code == 200, answer.text
            for event in events:
                if event["type"] in ("session.started", "message.created"):
                    sent.setdefault(event["session_id"], []).append(event["id"])
        # The endpoint was down the whole time (connection refused): all still pending.
        hub.kill9()
        receiver = Receiver(port)
        hub.restart()
        wanted = sum(len(ids) for ids in sent.values())
        receiver.wait_for(
            lambda r: len({a.message_id for a in r.accepted}) >= wanted, timeout=60)
        got: dict[str, list[str]] = {}
        for item in receiver.accepted:
            assert verify(hook.secret, item.headers, item.body)
            data = item.payload["data"]
            ids = got.setdefault(data["session_id"], [])
            if data["id"] not in ids:
                ids.append(data["id"])
        assert got == sent  # every event, each session's in order
    finally:
        hub.stop()
        if receiver is not None:
            receiver.close()
