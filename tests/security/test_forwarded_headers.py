"""X-Forwarded-For is believed only from configured proxies: a client on loopback cannot dodge
the per-address sign-in limit by sending a new forwarded address with each attempt, and behind
a configured proxy the forwarded address is the client's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub

pytestmark = pytest.mark.timeout(90)

ATTEMPTS = 25


def sign_in_spray(url: str) -> list[int]:
    """25 wrong sign-ins, each with a new user name and a new X-Forwarded-For."""
    statuses = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for n in range(ATTEMPTS):
            answer = http.post(
                "/api/v1/auth/login",
                json={"username": f"nobody-{n}", "password": "wrong-password"},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            )
            statuses.append(answer.status_code)
    return statuses


def test_rotating_forwarded_for_does_not_escape_the_address_limit(tmp_path: Path) -> None:
    with EmbeddedHub(tmp_path / "hub.db") as hub:  # default: no proxy is trusted
        statuses = sign_in_spray(hub.url)
    assert set(statuses) <= {401, 429}, statuses
    first_refusal = statuses.index(429)  # the loopback address ran out of attempts
    assert first_refusal < ATTEMPTS
    assert set(statuses[first_refusal:]) == {429}, statuses


def test_forwarded_for_from_a_configured_proxy_is_the_client_address(tmp_path: Path) -> None:
    with EmbeddedHub(tmp_path / "hub.db", forwarded_allow_ips="127.0.0.1") as hub:
        statuses = sign_in_spray(hub.url)
    # Each attempt came from another client address and another name: none over a limit.
    assert statuses == [401] * ATTEMPTS, statuses


def test_a_malformed_proxy_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not-an-address"):
        EmbeddedHub(tmp_path / "hub.db", forwarded_allow_ips="127.0.0.1,not-an-address")
