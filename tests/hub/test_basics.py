"""The hub fixture, ingest, the live snapshot, sign-in: the minimal path others build on."""

from __future__ import annotations

import httpx

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import LiveSnapshot, LoginAnswer, MeAnswer
from tests.conftest import ingest
from tests.hub.conftest import Api
from tests.hub.factories import ended, message, started


def _login(hub: EmbeddedHub, name: str) -> dict[str, str]:
    answer = httpx.post(f"{hub.url}/api/v1/auth/login", json={"username": name, "password": name})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {LoginAnswer.model_validate(answer.json()).token}"}


def test_ingest_then_live_snapshot_shows_only_live_sessions(api: Api) -> None:
    hub = api.hub
    result = ingest(hub, [
        started("s1"), message("s1", "m1", "hi"), started("s2"), ended("s2"),
    ])
    assert result == {"accepted": 4, "duplicates": 0, "last_seq": 4}
    headers = _login(hub, "viewer")
    snapshot = LiveSnapshot.model_validate(
        httpx.get(f"{hub.url}/api/v1/live", headers=headers).json()
    )
    assert snapshot.seq == 4
    assert [s.id for s in snapshot.sessions] == ["s1"]
    session = snapshot.sessions[0]
    assert session.message_count == 1
    assert session.version == 2
    assert session.last_message_at is not None


def test_login_me_logout(api: Api) -> None:
    hub = api.hub
    headers = _login(hub, "supervisor")
    me = MeAnswer.model_validate(httpx.get(f"{hub.url}/api/v1/me", headers=headers).json())
    assert me.role == "supervisor"
    assert me.user.name == "supervisor"
    assert "sessions:handover" in me.permissions
    assert httpx.post(f"{hub.url}/api/v1/auth/logout", headers=headers).status_code == 200
    after = httpx.get(f"{hub.url}/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["error"] == "unauthorized"
