"""Three-way differential: the SQLite hub, the PostgreSQL hub and the offline index return
the same sessions for every filter, in the same order for every time-independent sort
(hypothesis over ``tests/hub/test_filters_differential.py``'s filter strategy)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.hub.test_filters_differential as base
from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.store.postgres.store import PostgresStore
from supervisor_desk.models.analytics import TimeRange
from supervisor_desk.models.export import ExportReader
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.offline_index import OfflineIndex
from tests.postgres_server import PostgresServer
from tests.views.history_data import history_events, post_history, with_teams


class Worlds:
    def __init__(self, sqlite: base.World, postgres: base.World) -> None:
        self.sqlite = sqlite
        self.postgres = postgres
        self.index = sqlite.index
        self.sessions = sqlite.sessions


def _world(hub: EmbeddedHub, folder: Path) -> base.World:
    hub.add_user("viewer", "viewer", "viewer")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    post_history(hub, with_teams(history_events(base.N_SESSIONS, seed=5, now=base.NOW)))
    export = folder / "all.jsonl"

    async def fetch() -> tuple[list[Any], str]:
        async with HubClient(hub.url) as client:
            await client.login("viewer", "viewer")
            await client.export("jsonl", None, export)
            page = await client.sessions(limit=500)
            assert client.token is not None
            return page.items, client.token

    sessions, token = asyncio.run(fetch())
    reader = ExportReader(export, batch_size=64)
    index: OfflineIndex | None = None
    for batch in reader.batches():
        if index is None:
            index = OfflineIndex(export, now=reader.header.exported_at if reader.header else None)
        index.add(batch)
    assert index is not None and len(index) == base.N_SESSIONS
    return base.World(hub, index, sessions, token)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
           ) -> Iterator[Worlds]:
    folder = tmp_path_factory.mktemp("three-way")
    lite = EmbeddedHub(folder / "hub.db")
    dsn = postgres.create_database()
    store = PostgresStore(dsn, files_dir=folder / "pg-files")
    pg = EmbeddedHub(store.path, store=store)
    try:
        (folder / "sqlite").mkdir()
        (folder / "pg").mkdir()
        w = Worlds(_world(lite, folder / "sqlite"), _world(pg, folder / "pg"))
        yield w
        w.sqlite.http.close()
        w.postgres.http.close()
    finally:
        lite.stop()
        pg.stop()
        postgres.drop_database(dsn.rsplit("/", 1)[1])


def test_both_hubs_hold_the_same_sessions_byte_for_byte(worlds: Worlds) -> None:
    assert worlds.sqlite.sessions == worlds.postgres.sessions
    assert worlds.sqlite.hub.storage.last_seq == worlds.postgres.hub.storage.last_seq


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_sqlite_postgres_and_offline_return_the_same_sessions(worlds: Worlds, data: Any) -> None:
    flt = data.draw(base.filters(worlds.sessions), label="filter")
    on_sqlite = worlds.sqlite.hub_ids(flt)
    assert worlds.postgres.hub_ids(flt) == on_sqlite, flt.to_query()
    assert worlds.index.matching_ids(flt) == set(on_sqlite), flt.to_query()


@given(data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_same_order_on_all_three_for_time_independent_sorts(worlds: Worlds, data: Any) -> None:
    flt = data.draw(base.filters(worlds.sessions), label="filter")
    key = data.draw(st.sampled_from(("started_at", "last_message_at", "ended_at",
                                     "message_count")))
    sort = data.draw(st.sampled_from((key, f"-{key}")))
    expected = [s.id for s in worlds.index.query(flt, sort, 0, 500).items]
    assert worlds.sqlite.hub_ids(flt, sort) == expected
    assert worlds.postgres.hub_ids(flt, sort) == expected, (flt.to_query(), sort)


def test_metrics_agree_between_the_backends(worlds: Worlds) -> None:
    for flt in (SessionFilter(), SessionFilter(live=True),
                SessionFilter(channel=["web", "phone"])):
        lite, _, _ = worlds.sqlite.hub_metrics(flt)
        pg, _, _ = worlds.postgres.hub_metrics(flt)
        assert base._timeless(pg) == base._timeless(lite)


def test_analytics_agree_between_the_backends(worlds: Worlds) -> None:
    """Each backend computes the report in its own SQL (store/sqlite/analytics.py,
    store/postgres/analytics.py): the same report at the same clock, filtered or not."""
    end_ms = int(base.NOW.timestamp() * 1000)
    now_ms = end_ms - 30 * 60_000
    time_range = TimeRange(end_ms - 2 * 86_400_000, end_ms, 3_600_000)
    for flt in (SessionFilter(), SessionFilter(channel=["web", "phone"]),
                SessionFilter(status=["completed"], text="refund")):
        lite = worlds.sqlite.hub.storage.analytics_report(flt, time_range, now_ms, 60)
        pg = worlds.postgres.hub.storage.analytics_report(flt, time_range, now_ms, 60)
        assert pg == lite, flt.to_query()
