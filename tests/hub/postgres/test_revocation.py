"""A token revoked through one replica closes the feeds it holds open on another replica
within two seconds (the open feed re-checks its token in the shared database)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.revocation import CLOSE_CODE
from supervisor_desk.hub.store.postgres.store import PostgresStore
from tests.hub.conftest import fresh_pg_database
from tests.postgres_server import PostgresServer


@pytest.fixture
def two_replicas(postgres: PostgresServer, _pg_template: str, tmp_path: Path
                 ) -> Iterator[tuple[EmbeddedHub, EmbeddedHub]]:
    dsn = fresh_pg_database(postgres, _pg_template)
    hubs = [EmbeddedHub(tmp_path / f"r{n}" / "local.db",
                        store=PostgresStore(dsn, files_dir=tmp_path / f"r{n}"))
            for n in range(2)]
    for hub in hubs:
        hub.start()
    try:
        yield hubs[0], hubs[1]
    finally:
        for hub in hubs:
            hub.stop()
        postgres.drop_database(dsn.rsplit("/", 1)[1])


@pytest.mark.asyncio
async def test_sign_out_on_one_replica_closes_the_feed_on_another_within_2_s(
    two_replicas: tuple[EmbeddedHub, EmbeddedHub],
) -> None:
    one, two = two_replicas
    async with httpx.AsyncClient(base_url=f"{one.url}/api/v1") as http:
        answer = await http.post("/auth/login", json={"username": "viewer", "password": "viewer"})
        token = answer.json()["token"]
        feed_url = two.url.replace("http://", "ws://") + "/api/v1/feed"
        async with websockets.connect(
                feed_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.recv()  # hello: the feed is open on the other replica
            answer = await http.post("/auth/logout",
                                     headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code in (200, 204), answer.text
            revoked_at = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            took = time.monotonic() - revoked_at
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_CODE
    assert took < 2.0, f"closed {took:.2f} s after the revocation"
