"""Two replicas on one database count sign-in failures and ingest rates together: going
round the load balancer does not multiply the limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.store.postgres.store import PostgresStore
from tests.client.hub_events import message, started
from tests.hub.conftest import fresh_pg_database
from tests.postgres_server import PostgresServer


@pytest.fixture
def replicas(postgres: PostgresServer, _pg_template: str, tmp_path: Path
             ) -> Iterator[list[EmbeddedHub]]:
    dsn = fresh_pg_database(postgres, _pg_template)
    hubs: list[EmbeddedHub] = []
    try:
        for n in range(2):
            store = PostgresStore(dsn, files_dir=tmp_path / f"files-{n}")
            hub = EmbeddedHub(store.path, store=store)
            hubs.append(hub)
            hub.start()
        yield hubs
    finally:
        for hub in hubs:
            hub.stop()
        postgres.drop_database(dsn.rsplit("/", 1)[1])


def _login(hub: EmbeddedHub, name: str, password: str) -> httpx.Response:
    return httpx.post(f"{hub.url}/api/v1/auth/login",
                      json={"username": name, "password": password}, timeout=30.0)


def test_failed_sign_ins_through_both_replicas_count_together(
    replicas: list[EmbeddedHub],
) -> None:
    one, two = replicas
    limit = one.server.service.throttle.per_pair
    for attempt in range(limit):
        # Every other guess through the other replica.
        assert _login(replicas[attempt % 2], "viewer", "wrong").status_code == 401
    for hub in (one, two):
        refused = _login(hub, "viewer", "viewer")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "too_many_attempts"
        assert int(refused.headers["Retry-After"]) >= 1
    assert _login(two, "supervisor", "supervisor").status_code == 200  # other names unaffected


def test_a_tokens_ingest_rate_holds_across_replicas(replicas: list[EmbeddedHub]) -> None:
    one, two = replicas
    token = one.create_token("platform", "ingest")
    for hub in replicas:
        hub.server.service.ingest_limit.configure(1.0, burst=1000.0)  # 1 event/s, bursts 1,000

    def post(hub: EmbeddedHub, session_id: str) -> httpx.Response:
        events = [started(session_id)] + [message(session_id, "hi") for _ in range(599)]
        return httpx.post(f"{hub.url}/api/v1/ingest", json={"events": events},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30.0)

    assert post(one, "r1").status_code == 200  # 600 of the 1,000
    refused = post(two, "r2")  # 600 more, through the other replica: over the burst
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 200  # 200 events missing at 1 event/s
    answer = httpx.get(f"{two.url}/api/v1/sessions",
                       headers={"Authorization": f"Bearer {two.create_token('desk', 'viewer')}"},
                       timeout=30.0)
    assert [s["id"] for s in json.loads(answer.text)["items"]] == ["r1"]  # nothing of r2
