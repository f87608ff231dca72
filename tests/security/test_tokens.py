"""Tokens: expiry, logout and admin revocation are honoured by REST and by open feed sockets
(closed with 4401 within seconds); sign-in throttling; per-token ingest rate limits."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.ratelimit import IngestRateLimit
from supervisor_desk.models.wire import FEED_CLOSE_UNAUTHORIZED
from tests.reliability.desk import Desk, Traffic, auth, call

pytestmark = pytest.mark.timeout(60)


def login(hub: EmbeddedHub, name: str, password: str | None = None,
          source: str = "127.0.0.1") -> httpx.Response:
    """Sign in from the loopback address ``source`` (any of 127.0.0.0/8 reaches the hub)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30.0) as client:
        return client.post(f"{hub.url}/api/v1/auth/login",
                           json={"username": name, "password": password or name})


def token_of(hub: EmbeddedHub, name: str) -> str:
    answer = login(hub, name)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def close_code_of_feed(hub: EmbeddedHub, token: str, action: object) -> tuple[int, float]:
    """Open a raw feed socket, run ``action`` (sync callable), return (close code, seconds)."""
    url = hub.url.replace("http://", "ws://") + "/api/v1/feed"
    async with connect(url, additional_headers=auth(token)) as ws:
        hello = await ws.recv()
        assert '"hello"' in str(hello)
        assert callable(action)
        await asyncio.to_thread(action)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(15):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, time.monotonic() - started


@pytest.mark.asyncio
async def test_logout_closes_the_open_feed_and_refuses_rest(running_hub: EmbeddedHub) -> None:
    token = token_of(running_hub, "viewer")

    def logout() -> None:
        answer = httpx.post(f"{running_hub.url}/api/v1/auth/logout", headers=auth(token))
        assert answer.status_code == 200

    code, seconds = await close_code_of_feed(running_hub, token, logout)
    assert code == FEED_CLOSE_UNAUTHORIZED
    assert seconds < 5
    answer = await call("GET", f"{running_hub.url}/api/v1/live", headers=auth(token))
    assert answer.status_code == 401


@pytest.mark.asyncio
async def test_admin_revokes_a_user_everywhere(running_hub: EmbeddedHub) -> None:
    first, second = token_of(running_hub, "supervisor"), token_of(running_hub, "supervisor")
    other = token_of(running_hub, "viewer")
    admin = token_of(running_hub, "admin")
    url = f"{running_hub.url}/api/v1/admin/revoke"

    def revoke() -> None:
        answer = httpx.post(url, headers=auth(admin), json={"user": "supervisor"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"revoked": 2}

    code, seconds = await close_code_of_feed(running_hub, first, revoke)
    assert code == FEED_CLOSE_UNAUTHORIZED
    assert seconds < 5
    me = f"{running_hub.url}/api/v1/me"
    for token in (first, second):
        assert (await call("GET", me, headers=auth(token))).status_code == 401
    assert (await call("GET", me, headers=auth(other))).status_code == 200
    # Only an admin may revoke; bad requests get the one error shape.
    ingest_token: str = running_hub.ingest_token  # type: ignore[attr-defined]
    for role_token in (other, token_of(running_hub, "supervisor"), ingest_token):
        answer = await call("POST", url, headers=auth(role_token), json={"user": "viewer"})
        assert answer.status_code == 403
        assert answer.json()["error"] == "forbidden"
    assert (await call("POST", url, json={"user": "viewer"})).status_code == 401
    missing = await call("POST", url, headers=auth(admin), json={"user": "nobody"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    both = await call("POST", url, headers=auth(admin), json={"user": "viewer", "label": "x"})
    assert both.status_code == 422 and both.json()["error"] == "invalid_request"


def test_admin_revokes_an_api_token_by_label(running_hub: EmbeddedHub) -> None:
    admin = token_of(running_hub, "admin")
    platform = running_hub.create_token("platform-a", "ingest")
    kept = running_hub.create_token("platform-b", "ingest")
    answer = httpx.post(f"{running_hub.url}/api/v1/admin/revoke", headers=auth(admin),
                        json={"label": "platform-a"})
    assert answer.json() == {"revoked": 1}
    batch = {"events": Traffic().batch(1)}
    ingest = f"{running_hub.url}/api/v1/ingest"
    assert httpx.post(ingest, headers=auth(platform), json=batch).status_code == 401
    assert httpx.post(ingest, headers=auth(kept), json=batch).status_code == 200


@pytest.mark.asyncio
async def test_expired_token_is_refused_and_its_open_feed_closed(
    running_hub: EmbeddedHub,
) -> None:
    token, _ = running_hub.storage.create_token("short", "viewer", ttl=timedelta(seconds=2))
    me = f"{running_hub.url}/api/v1/me"
    assert (await call("GET", me, headers=auth(token))).status_code == 200
    code, seconds = await close_code_of_feed(running_hub, token, lambda: None)
    assert code == FEED_CLOSE_UNAUTHORIZED
    assert seconds < 8
    answer = await call("GET", me, headers=auth(token))
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"


@pytest.mark.asyncio
async def test_desktop_feed_shows_unauthorized_after_revocation(
    running_hub: EmbeddedHub,
) -> None:
    client = HubClient(running_hub.url)
    await client.login("viewer", "viewer")
    desk = Desk(client)
    desk.start()
    try:
        await desk.connected()
        await client.logout()
        await desk.until(lambda: desk.state is ConnectionState.UNAUTHORIZED, 10)
        assert desk.task is not None
        await asyncio.wait_for(desk.task, 5)  # the run ends: no reconnect loop on a dead token
    finally:
        await desk.stop()
        await client.aclose()


def test_sign_in_is_throttled_per_name_and_address_then_recovers(
    running_hub: EmbeddedHub,
) -> None:
    throttle = running_hub.server.service.throttle
    for _ in range(throttle.per_pair):
        assert login(running_hub, "viewer", "wrong").status_code == 401
    # From this address, never used by the viewer, even the right password waits ...
    blocked = login(running_hub, "viewer")
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "too_many_attempts"
    assert 1 <= int(blocked.headers["Retry-After"]) <= throttle.window + 1
    assert login(running_hub, "supervisor").status_code == 200  # other names unaffected
    # ... until the window has passed.
    throttle.window = 0.5
    deadline = time.monotonic() + 10
    while throttle.verdict("viewer", "127.0.0.1").refuse_for is not None:
        assert time.monotonic() < deadline, "the window never passed"
        time.sleep(0.05)
    assert login(running_hub, "viewer").status_code == 200
    # Unknown and known names answer alike.
    unknown = login(running_hub, "nobody", "x")
    wrong = login(running_hub, "admin", "x")
    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())


def test_an_attacker_cannot_lock_a_user_out_from_elsewhere(running_hub: EmbeddedHub) -> None:
    """Five wrong passwords for a user from one address refuse that address only."""
    throttle = running_hub.server.service.throttle
    for _ in range(throttle.per_pair + 3):
        answer = login(running_hub, "supervisor", "guess", source="127.0.0.66")
        assert answer.status_code in (401, 429)
    assert login(running_hub, "supervisor", source="127.0.0.66").status_code == 429
    # The supervisor, at their own desk, signs in at once.
    assert login(running_hub, "supervisor", source="127.0.0.2").status_code == 200


def test_parallel_guesses_cannot_slip_past_the_count(running_hub: EmbeddedHub) -> None:
    throttle = running_hub.server.service.throttle

    async def guesses() -> list[int]:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.77")
        async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
            answers = await asyncio.gather(*(
                client.post(f"{running_hub.url}/api/v1/auth/login",
                            json={"username": "admin", "password": f"guess-{n}"})
                for n in range(4 * throttle.per_pair)))
        return sorted(a.status_code for a in answers)

    statuses = asyncio.run(guesses())
    assert statuses.count(401) == throttle.per_pair, statuses
    assert statuses.count(429) == 3 * throttle.per_pair, statuses


def test_a_known_address_is_slowed_down_never_locked_out(running_hub: EmbeddedHub) -> None:
    """Over the limit from an address the user signed in from before: each attempt waits
    longer (one at a time), and the right password still gets in."""
    throttle = running_hub.server.service.throttle
    throttle.base_delay = 0.3
    desk = "127.0.0.3"
    assert login(running_hub, "viewer", source=desk).status_code == 200  # now a known address
    for _ in range(throttle.per_pair):
        assert login(running_hub, "viewer", "typo", source=desk).status_code == 401
    started = time.monotonic()
    assert login(running_hub, "viewer", "typo", source=desk).status_code == 401  # not 429
    assert login(running_hub, "viewer", source=desk).status_code == 200
    assert time.monotonic() - started >= 0.3 + 0.6  # slowed: 0.3 s, then 0.6 s
    # Signed in: the slate is clean again.
    assert throttle.verdict("viewer", desk).delay == 0.0


def test_sign_in_is_throttled_per_address(running_hub: EmbeddedHub) -> None:
    throttle = running_hub.server.service.throttle
    for n in range(throttle.per_address):
        assert login(running_hub, f"spray-{n}", "x").status_code == 401
    assert login(running_hub, "admin").status_code == 429


def test_ingest_rate_limit_answers_429_with_retry_after(running_hub: EmbeddedHub) -> None:
    limit = running_hub.server.service.ingest_limit
    limit.configure(100.0, burst=1000)
    traffic = Traffic(seed=5)
    ingest = f"{running_hub.url}/api/v1/ingest"
    token = running_hub.ingest_token  # type: ignore[attr-defined]
    first = httpx.post(ingest, headers=auth(token), json={"events": traffic.batch(900)})
    assert first.status_code == 200
    refused_batch = traffic.batch(500)
    refused = httpx.post(ingest, headers=auth(token), json={"events": refused_batch})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Nothing of the refused batch was stored; another token has its own bucket.
    other = running_hub.create_token("other-platform", "ingest")
    answer = httpx.post(ingest, headers=auth(other), json={"events": refused_batch})
    assert answer.json()["accepted"] == 500
    assert answer.json()["duplicates"] == 0


def test_default_ingest_limit_lets_a_fast_platform_through() -> None:
    limit = IngestRateLimit()
    now = 0.0
    # 1,000 events/s for a minute, in batches of 100 every 0.1 s: never refused.
    for _ in range(600):
        assert limit.take("simulator", 100, now) is None
        now += 0.1
    tight = IngestRateLimit(10.0)
    assert tight.take("t", 1000, 0.0) is None  # a full batch always fits the burst
    wait = tight.take("t", 10, 0.0)
    assert wait is not None and wait == pytest.approx(1.0)
    assert tight.take("t", 10, 1.0) is None
    assert IngestRateLimit(None).take("t", 10**9) is None
