"""``GET /analytics``: the hub and offline review give the same figures (hypothesis,
differential), and bad ranges get clear errors — on both backends.

A real hub (on SQLite, then on a real PostgreSQL) holds a varied history (with teams); it is
exported through the real streaming endpoint and opened with the offline reader and index, as
offline review does. Random SessionFilters and ranges then run on both sides; the offline side
uses the hub's ``now_ms`` so still-waiting sessions count the same wait.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.store.sqlite import SqliteStore
from supervisor_desk.hub.store.sqlite import analytics as sqlite_analytics
from supervisor_desk.models.analytics import AnalyticsReport, TimeRange
from supervisor_desk.models.export import ExportReader
from supervisor_desk.models.filters import SessionFilter, to_ms
from supervisor_desk.models.offline_index import OfflineIndex
from supervisor_desk.models.wire import (
    CHANNELS,
    STATUSES,
    IngestEvent,
    format_timestamp,
    parse_event_data,
)
from tests.hub.conftest import assert_error, fresh_pg_database
from tests.views.history_data import (
    AGENTS,
    OPERATORS,
    history_events,
    post_history,
    with_teams,
)

N_SESSIONS = 150
NOW = datetime.now(UTC).replace(microsecond=0)


class World:
    def __init__(self, backend: str, hub: EmbeddedHub, index: OfflineIndex, token: str) -> None:
        self.backend = backend
        self.hub = hub
        self.index = index
        self.http = httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30.0,
                                 headers={"Authorization": f"Bearer {token}"})

    def report(self, flt: SessionFilter, start: datetime, end: datetime,
               **extra: Any) -> AnalyticsReport:
        params: list[tuple[str, str | int | float | bool | None]] = [
            *flt.to_query(), ("start", format_timestamp(start)), ("end", format_timestamp(end)),
            *((k, str(v)) for k, v in extra.items())]
        answer = self.http.get("/analytics", params=params)
        assert answer.status_code == 200, answer.text
        return AnalyticsReport.model_validate(answer.json())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("analytics")
    backend: str = request.param
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if backend == "postgres":
        from supervisor_desk.hub.store.postgres.store import PostgresStore

        postgres = request.getfixturevalue("postgres")
        dsn = fresh_pg_database(postgres, request.getfixturevalue("_pg_template"))
        store = PostgresStore(dsn, files_dir=folder / "files")
        hub = EmbeddedHub(store.path, store=store)  # its template has the user viewer
        drop = functools.partial(postgres.drop_database, dsn.rsplit("/", 1)[1])
    else:
        hub = EmbeddedHub(folder / "hub.db")
        hub.add_user("viewer", "viewer", "viewer")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    try:
        post_history(hub, with_teams(history_events(N_SESSIONS, seed=7, now=NOW)))
        export = folder / "all.jsonl"

        async def fetch() -> str:
            async with HubClient(hub.url) as client:
                await client.login("viewer", "viewer")
                await client.export("jsonl", None, export)
                assert client.token is not None
                return client.token

        token = asyncio.run(fetch())
        reader = ExportReader(export, batch_size=64)
        index = OfflineIndex(export)
        for batch in reader.batches():
            index.add(batch)
        assert len(index) == N_SESSIONS
        w = World(backend, hub, index, token)
        yield w
        w.http.close()
    finally:
        hub.stop()
        drop()


def test_report_counts_what_a_supervisor_expects(world: World) -> None:
    start, end = NOW - timedelta(days=11), NOW + timedelta(hours=1)
    report = world.report(SessionFilter(), start, end, bucket_seconds=86400)
    assert report.sessions == N_SESSIONS
    assert sum(sum(v) for v in report.started_by_channel.values()) == N_SESSIONS
    ended = [s for s in world.index.sessions() if s.ended_at is not None]
    assert sum(sum(v) for v in report.outcomes.values()) == len(ended)
    # Every session started in the range: live at the last bucket = sessions not ended.
    assert report.live[-1] == N_SESSIONS - len(ended)
    assert {row.key for row in report.handover_by_team} == {"billing", "support"}
    assert sum(r.total for r in report.handover_by_agent) == N_SESSIONS
    humans = sum(1 for s in world.index.sessions() if s.responsible.kind == "human")
    assert sum(r.handed_over for r in report.handover_by_agent) == humans
    assert sum(b.count for b in report.messages_per_session) == N_SESSIONS
    assert {row.id for row in report.operators} <= {o for o, _ in OPERATORS}
    assert any(v is not None for v in report.wait_p90_seconds)
    assert all(v is None or 0.0 <= v <= 1.0 for v in report.within_sla)


@st.composite
def cases(draw: st.DrawFn) -> tuple[SessionFilter, datetime, datetime, int, int]:
    flt = SessionFilter(
        agent=tuple(draw(st.lists(st.sampled_from([a for a, _ in AGENTS]), max_size=2,
                                  unique=True))),
        channel=tuple(draw(st.lists(st.sampled_from(CHANNELS), max_size=3, unique=True)))
        if draw(st.booleans()) else (),
        status=tuple(draw(st.lists(st.sampled_from(STATUSES), max_size=3, unique=True)))
        if draw(st.integers(0, 2)) == 0 else (),
        responsible=draw(st.sampled_from((None, None, "ai", "human"))),
        q=draw(st.sampled_from((None, None, None, "Premium", "crm-1", "hist-01"))),
        text=draw(st.sampled_from((None, None, None, "refund", "card"))),
    )
    span = draw(st.sampled_from((timedelta(hours=1), timedelta(days=1), timedelta(days=7),
                                 timedelta(days=12))))
    end = NOW + timedelta(minutes=draw(st.integers(-60 * 24 * 9, 60)))
    bucket = draw(st.sampled_from((None, 60, 900, 3600, 21600)))
    sla = draw(st.sampled_from((30, 60, 120)))
    if bucket is not None and span // timedelta(seconds=bucket) > 2000:
        bucket = None
    return flt, end - span, end, bucket or 0, sla


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=cases())
@pytest.mark.parametrize(("recent_rows", "by_agent_share"), [(0, 10.0**9), (10**9, 0.0)],
                         ids=["covering-index-sorted-agents", "end-index-agent-index"])
def test_hub_and_offline_review_agree(world: World, case: tuple[Any, ...],
                                      recent_rows: int, by_agent_share: float) -> None:
    if world.backend == "postgres" and recent_rows:
        pytest.skip("the ways of reading are SQLite's; PostgreSQL's plan is its planner's")
    flt, start, end, bucket, sla = case
    extra: dict[str, Any] = {"sla_seconds": sla}
    if bucket:
        extra["bucket_seconds"] = bucket
    # Both ways of finding the sessions that started before the range (the hub picks one by
    # how many ended since its start), and both ways of reading the agents' figures (sorted
    # from the range, or along the agent index: the hub picks one by the range's share of
    # the history).
    saved = sqlite_analytics.RECENT_ROWS, sqlite_analytics.BY_AGENT_SHARE
    sqlite_analytics.RECENT_ROWS, sqlite_analytics.BY_AGENT_SHARE = recent_rows, by_agent_share
    try:
        hub = world.report(flt, start, end, **extra)
    finally:
        sqlite_analytics.RECENT_ROWS, sqlite_analytics.BY_AGENT_SHARE = saved
    offline = world.index.analytics(
        flt, TimeRange(to_ms(start), to_ms(end), hub.bucket_ms), hub.now_ms, sla
    )
    assert hub == offline


def test_bad_ranges_are_clear_errors(world: World) -> None:
    def get(**params: str) -> httpx.Response:
        return world.http.get("/analytics", params=params)

    now = format_timestamp(NOW)
    earlier = format_timestamp(NOW - timedelta(days=1))
    assert "start" in assert_error(get(start="yesterday", end=now), 422)["message"]
    assert "after it starts" in assert_error(get(start=now, end=earlier), 422)["message"]
    assert "at most 2000 buckets" in assert_error(
        get(start=format_timestamp(NOW - timedelta(days=30)), end=now, bucket_seconds="60"), 422
    )["message"]
    assert_error(get(start=earlier, end=now, channel="fax"), 422, "invalid_filter")
    assert_error(world.http.get("/analytics", params={"end": now}), 422)


def test_a_write_between_the_two_halves_snapshots_is_not_mixed_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report reads its halves on two connections; when a write commits between their
    snapshots, the request's connection reads both halves itself (one snapshot, no mix)."""
    # Not the recent-range way (a few rows, read on one connection): this history is small.
    monkeypatch.setattr(sqlite_analytics, "RECENT_ROWS", 0)
    events = [IngestEvent.model_validate(raw)
              for raw in history_events(21, seed=5, now=NOW)]
    first = [e for e in events if e.session_id != "hist-020"]
    late = [e for e in events if e.session_id == "hist-020"]
    store = SqliteStore(tmp_path / "hub.db")
    try:
        store.ingest([(e, parse_event_data(e.type, e.data)) for e in first])
        time_range = TimeRange(to_ms(NOW - timedelta(days=11)), to_ms(NOW + timedelta(hours=1)),
                               86_400_000)
        now_ms = to_ms(NOW)
        expected = sqlite_analytics.analytics(store.reader(), SessionFilter(), time_range,
                                              now_ms, 60)
        helped: list[bool] = []

        def help_after(write: list[IngestEvent]) -> Any:
            def helper(job: Any) -> Any:
                if write:
                    store.ingest([(e, parse_event_data(e.type, e.data)) for e in write])
                with ThreadPoolExecutor(1) as pool:
                    future = pool.submit(lambda: job(store.reader()))
                    helped.append(future.result() is not None)
                    return future
            return helper

        assert sqlite_analytics.analytics(store.reader(), SessionFilter(), time_range, now_ms,
                                          60, help_after([])) == expected
        # The helper's snapshot holds the late session: it declines the job.
        got = sqlite_analytics.analytics(store.reader(), SessionFilter(), time_range, now_ms,
                                         60, help_after(late))
        assert helped == [True, False]
        assert got == expected and got.sessions == 20
        after = sqlite_analytics.analytics(store.reader(), SessionFilter(), time_range, now_ms,
                                           60)
        assert after.sessions == 21
    finally:
        store.close()
