"""The simulated platform hears a supervisor's hand-over through the hub's webhook: the AI of
that session stops and the operator joins (``serve --simulate`` / ``--demo`` path)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.simulator.handovers import HandoverReceiver, verify


@pytest.fixture
def simulated(tmp_path: Path) -> Iterator[EmbeddedHub]:
    hub = EmbeddedHub(tmp_path / "hub.db", simulate_rate=60, seed=5)
    hub.add_user("supervisor", "supervisor", "supervisor")
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def _until(check: Any, what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_handover_stops_the_ai_and_the_operator_joins(simulated: EmbeddedHub) -> None:
    with httpx.Client(base_url=f"{simulated.url}/api/v1", timeout=30) as client:
        token = client.post("/auth/login", json={"username": "supervisor",
                                                 "password": "supervisor"}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        hooks = client.get("/webhooks", headers={
            "Authorization": f"Bearer {simulated.create_token('t', 'admin')}"}).json()
        assert [h["events"] for h in hooks["items"]] == [["session.handover"]]

        def ai_session() -> str | None:
            for session in client.get("/live").json()["sessions"]:
                if session["responsible"]["kind"] == "ai" and session["status"] == "active" \
                        and session["message_count"] >= 2:
                    return str(session["id"])
            return None

        sid = _until(ai_session, "an active session the AI handles")
        answer = client.post(f"/sessions/{sid}/handover")
        assert answer.status_code == 200, answer.text

        def joined() -> list[dict[str, Any]] | None:
            messages: list[dict[str, Any]] = client.get(f"/sessions/{sid}").json()["messages"]
            found = [m for m in messages if m["author"]["role"] == "human"
                     and "taking over" in m["text"]]
            return messages if found else None

        messages = _until(joined, "the operator to join after the hand-over webhook")
        join = next(i for i, m in enumerate(messages) if "taking over" in m["text"])
        assert all(m["author"]["role"] != "ai" for m in messages[join:])
        # Handed to the next available operator: the platform's operator is assigned, and
        # it is never the supervisor's own account.
        session = client.get(f"/sessions/{sid}").json()["session"]
        assert session["responsible"]["kind"] == "human"
        assert session["responsible"]["operator"]["name"] != "supervisor"
        assert messages[join]["author"]["name"] == session["responsible"]["operator"]["name"]
        logs = client.get(f"/sessions/{sid}/logs", params={"kind": "system"}).json()
        assert any("Hand-over from the supervisor desk" in e["text"] for e in logs["entries"])


def test_the_receiver_verifies_signatures() -> None:
    import base64
    import hashlib
    import hmac

    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    body = b'{"type":"session.handover"}'
    stamp = str(int(time.time()))
    sig = base64.b64encode(hmac.new(b"k" * 24, f"m1.{stamp}.".encode() + body,
                                    hashlib.sha256).digest()).decode()
    headers = {"webhook-id": "m1", "webhook-timestamp": stamp, "webhook-signature": f"v1,{sig}"}
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify(secret, {**headers, "webhook-timestamp": str(int(stamp) - 3600)}, body)
    assert HandoverReceiver(secret).secret == secret
