"""The hub and the offline engine agree on every filter (hypothesis, differential).

One real hub holds a varied history; it is exported through the real streaming endpoint and
the file is opened with the offline reader and index, exactly as offline review does. Random
SessionFilters then run on both sides: the hub's SQL (``GET /sessions``) and the local
engine must return the same ids, and for time-independent sorts the same order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.export import ExportReader
from supervisor_desk.models.filters import COUNT_OPS, MessageCountFilter, SessionFilter
from supervisor_desk.models.metrics import session_metrics
from supervisor_desk.models.offline_index import OfflineIndex
from supervisor_desk.models.wire import CHANNELS, STATUSES, Metrics, SessionSummary
from tests.views.history_data import (
    AGENTS,
    OPERATORS,
    TEAMS,
    WORDS,
    history_events,
    post_history,
    with_teams,
)

N_SESSIONS = 150
NOW = datetime.now(UTC).replace(microsecond=0)


class World:
    def __init__(self, hub: EmbeddedHub, index: OfflineIndex, sessions: list[SessionSummary],
                 token: str) -> None:
        self.hub = hub
        self.index = index
        self.sessions = sessions
        self.http = httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30.0,
                                 headers={"Authorization": f"Bearer {token}"})

    def hub_ids(self, flt: SessionFilter, sort: str = "-started_at") -> list[str]:
        answer = self.http.get("/sessions", params=[*flt.to_query(), ("sort", sort),
                                                    ("limit", "500")])
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == len(body["items"])
        return [item["id"] for item in body["items"]]

    def hub_metrics(self, flt: SessionFilter) -> tuple[Metrics, datetime, datetime]:
        """The hub's metrics and the clock just before and just after it answered."""
        before = datetime.now(UTC)
        answer = self.http.get("/sessions/metrics", params=flt.to_query())
        after = datetime.now(UTC)
        assert answer.status_code == 200, answer.text
        return Metrics.model_validate(answer.json()), before, after


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("differential")
    hub = EmbeddedHub(folder / "hub.db")
    hub.add_user("viewer", "viewer", "viewer")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    try:
        post_history(hub, with_teams(history_events(N_SESSIONS, seed=5, now=NOW)))
        export = folder / "all.jsonl"

        async def fetch() -> tuple[list[SessionSummary], str]:
            async with HubClient(hub.url) as client:
                await client.login("viewer", "viewer")
                await client.export("jsonl", None, export)
                page = await client.sessions(limit=500)
                assert client.token is not None
                return page.items, client.token

        sessions, token = asyncio.run(fetch())
        reader = ExportReader(export, batch_size=64)
        header_now = None
        index: OfflineIndex | None = None
        for batch in reader.batches():
            if index is None:
                header_now = reader.header.exported_at if reader.header else None
                index = OfflineIndex(export, now=header_now)
            index.add(batch)
        assert index is not None and len(index) == N_SESSIONS == len(sessions)
        assert reader.report.skipped == 0
        w = World(hub, index, sessions, token)
        yield w
        w.http.close()
    finally:
        hub.stop()


def _times(sessions: list[SessionSummary], field: str) -> list[datetime]:
    return [v for s in sessions if (v := getattr(s, field)) is not None]


@st.composite
def filters(draw: st.DrawFn, sessions: list[SessionSummary]) -> SessionFilter:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.none(), strategy)) if draw(st.integers(0, 3)) == 0 else None

    ids = [s.id for s in sessions]
    texts = [s.agent.name for s in sessions] + [s.user.name or s.user.id for s in sessions] + [
        v for s in sessions for v in (*s.metadata.values(), *s.parameters.values())]
    substrings = st.builds(
        lambda t, a, b: t[min(a, b): max(a, b) + 1] or t,
        st.sampled_from(texts), st.integers(0, 10), st.integers(0, 10))
    id_prefix = st.builds(lambda i, n: i[:n], st.sampled_from(ids), st.integers(1, 10))
    moment_fields = ("started_at", "ended_at", "last_message_at")
    all_moments = sorted({m for f in moment_fields for m in _times(sessions, f)})
    # Exact stored instants, and instants a few hundred microseconds off them (rounding).
    moments = st.builds(lambda m, us: m + timedelta(microseconds=us),
                        st.sampled_from(all_moments), st.sampled_from((0, 0, 1, -1, 400, 999)))
    fields: dict[str, Any] = {
        "q": maybe(st.one_of(substrings, id_prefix, st.sampled_from(("BOT", "crm-1", "Premium",
                                                                      "zzz", "é")))),
        "text": maybe(st.lists(st.sampled_from((*WORDS, "cafe", "zurich", "naive", "#2")),
                               min_size=1, max_size=2).map(" ".join)),
        "user": maybe(st.sampled_from(("customer 1", "USER-3", "user-1", "Customer", "nobody"))),
        "country": maybe(st.sampled_from(("DE", "fr", "US", "GB"))),
        "ip": maybe(st.sampled_from(
            [*sorted({s.location.ip for s in sessions if s.location.ip}), "10.9.9.9"])),
        "agent": draw(st.lists(st.sampled_from([a for a, _ in AGENTS] + ["ghost"]), max_size=2,
                               unique=True)) if draw(st.integers(0, 3)) == 0 else [],
        "channel": draw(st.lists(st.sampled_from(CHANNELS), max_size=3, unique=True))
        if draw(st.integers(0, 2)) == 0 else [],
        "status": draw(st.lists(st.sampled_from(STATUSES), max_size=3, unique=True))
        if draw(st.integers(0, 2)) == 0 else [],
        "operator": draw(st.lists(st.sampled_from([o for o, _ in OPERATORS]), max_size=2,
                                  unique=True)) if draw(st.integers(0, 4)) == 0 else [],
        "team": draw(st.lists(st.sampled_from([t for t in TEAMS if t] + ["nobody"]), max_size=2,
                              unique=True)) if draw(st.integers(0, 3)) == 0 else [],
        "responsible": maybe(st.sampled_from(("ai", "human", "unassigned"))),
        "messages": maybe(st.builds(MessageCountFilter, op=st.sampled_from(COUNT_OPS),
                                    n=st.integers(0, 8))),
        "messages_max": maybe(st.integers(0, 8)),
        "has_attachments": maybe(st.booleans()),
        "live": maybe(st.booleans()),
    }
    for f in moment_fields:
        prefix = f.removesuffix("_at")
        fields[f"{prefix}_after"] = maybe(moments)
        fields[f"{prefix}_before"] = maybe(moments)
    return SessionFilter.model_validate(fields)


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=False)
def test_hub_and_offline_engine_return_the_same_sessions(world: World, data: Any) -> None:
    flt = data.draw(filters(world.sessions), label="filter")
    expected = world.hub_ids(flt)
    assert world.index.matching_ids(flt) == set(expected), flt.to_query()


@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_same_order_for_time_independent_sorts(world: World, data: Any) -> None:
    flt = data.draw(filters(world.sessions), label="filter")
    key = data.draw(st.sampled_from(("started_at", "last_message_at", "ended_at",
                                     "message_count")))
    sort = data.draw(st.sampled_from((key, f"-{key}")))
    page = world.index.query(flt, sort, 0, 500)
    assert [s.id for s in page.items] == world.hub_ids(flt, sort)


def test_the_export_holds_the_hubs_sessions_exactly(world: World) -> None:
    by_id = {s.id: s for s in world.sessions}
    assert {s.id: s for s in world.index.sessions()} == by_id


_TIMELESS = ("total", "live", "queued", "active", "top_channel", "by_channel", "by_status")


def _timeless(m: Metrics) -> dict[str, Any]:
    return m.model_dump(include=set(_TIMELESS))


def _assert_metrics_agree(world: World, flt: SessionFilter) -> Metrics:
    hub, before, after = world.hub_metrics(flt)
    offline = world.index.metrics(flt)  # as of the export, like offline review shows it
    assert _timeless(offline) == _timeless(hub), flt.to_query()
    # The clock-dependent figures, computed offline at the instants around the hub's answer.
    matching = [s for s in world.index.sessions() if s.id in world.index.matching_ids(flt)]
    early, late = session_metrics(matching, before), session_metrics(matching, after)
    assert late.recent_24h <= hub.recent_24h <= early.recent_24h
    if early.longest_wait_seconds is None:
        assert hub.longest_wait_seconds is None
    else:
        assert late.longest_wait_seconds is not None and hub.longest_wait_seconds is not None
        assert early.longest_wait_seconds - 0.001 <= hub.longest_wait_seconds
        assert hub.longest_wait_seconds <= late.longest_wait_seconds + 0.001
    return hub


@given(data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hub_and_offline_engine_compute_the_same_metrics(world: World, data: Any) -> None:
    _assert_metrics_agree(world, data.draw(filters(world.sessions), label="filter"))


def test_a_tie_for_top_channel_reads_the_same_on_the_hub_and_offline(world: World) -> None:
    # Two channels with the same count: both sides name the one whose id sorts first.
    ties = 0
    for first in CHANNELS:
        for second in CHANNELS:
            for status in (None, *STATUSES):
                if first >= second:
                    continue
                flt = SessionFilter(channel=[first, second], status=[status] if status else [])
                counts = world.index.metrics(flt).by_channel
                if counts.get(first, 0) == counts.get(second, 0) > 0:
                    hub = _assert_metrics_agree(world, flt)
                    assert hub.top_channel is not None and hub.top_channel.channel == first
                    ties += 1
    assert ties > 0, "the history has no tie to check"
