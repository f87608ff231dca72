"""Every session id the hub accepts at ingest can be read back through its routes.

An id travels as ONE percent-encoded path segment (``quote(id, safe="")``), so ``x/logs`` is a
session of its own, not the logs of ``x``; the words that name routes under ``/sessions/``
are refused at ingest with a clear 422.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.routing import RESERVED_SESSION_IDS
from tests.hub.conftest import assert_error, started_hub
from tests.hub.factories import message, started

_tokens = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[EmbeddedHub, httpx.Client]]:
    with started_hub(request, request.param, tmp_path_factory.mktemp("ids")) as hub:
        client = httpx.Client(base_url=f"{hub.url}/api/v1", timeout=30.0)
        client.headers["Authorization"] = f"Bearer {hub.create_token('ids', 'admin')}"
        ingest = {"Authorization": f"Bearer {hub.ingest_token}"}  # type: ignore[attr-defined]
        client.ingest_headers = ingest  # type: ignore[attr-defined]
        client.stored = set()  # type: ignore[attr-defined]  # ids this hub holds
        try:
            yield hub, client
        finally:
            client.close()


def _ingest(client: httpx.Client, events: list[dict[str, object]]) -> httpx.Response:
    return client.post("/ingest", json={"events": events},
                       headers=client.ingest_headers)  # type: ignore[attr-defined]


def path_segment(sid: str) -> str:
    """How a client puts an id in a path (docs/protocol.md): percent-encoded, dots of "." and
    ".." too (HTTP clients resolve those segments away)."""
    return sid.replace(".", "%2E") if sid in (".", "..") else quote(sid, safe="")


def _assert_round_trip(client: httpx.Client, sid: str) -> None:
    stored: set[str] = client.stored  # type: ignore[attr-defined]
    if sid not in stored:
        answer = _ingest(client, [started(sid), message(sid, f"m-{next(_tokens)}")])
        if sid in RESERVED_SESSION_IDS:
            body = assert_error(answer, 422, "invalid_event")
            assert body["details"][0]["type"] == "reserved_id"
            return
        assert answer.status_code == 200, answer.text
        stored.add(sid)
    segment = path_segment(sid)
    detail = client.get(f"/sessions/{segment}")
    assert detail.status_code == 200, (sid, detail.text)
    assert detail.json()["session"]["id"] == sid
    logs = client.get(f"/sessions/{segment}/logs", params={"kind": "system"})
    assert logs.status_code == 200, (sid, logs.text)
    handover = client.post(f"/sessions/{segment}/handover")
    assert handover.status_code in (200, 409), (sid, handover.text)
    if handover.status_code == 200:
        assert handover.json()["session"]["id"] == sid


# Ids the hub accepts: 1 to 200 characters without control characters.
_ID_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))
_TRICKY = st.sampled_from(
    ["x/logs", "x/handover", "a/b/c", "metrics/logs", "logs", "handover", "/", "//", "%2F",
     "a%2Fb", "100%", "..", ".", "a?b", "#", "x/files", "export/", " export", "Metrics"]
)


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(sid=st.one_of(_TRICKY, st.text(_ID_CHARS, min_size=1, max_size=200)))
def test_every_accepted_id_round_trips(hub: tuple[EmbeddedHub, httpx.Client], sid: str) -> None:
    _assert_round_trip(hub[1], sid)


@pytest.mark.parametrize("sid", sorted(RESERVED_SESSION_IDS))
def test_reserved_ids_are_refused_at_ingest(
    hub: tuple[EmbeddedHub, httpx.Client], sid: str
) -> None:
    body = assert_error(_ingest(hub[1], [started(sid)]), 422, "invalid_event")
    assert body["details"][0]["field"] == "events.0.session_id"
    assert "reserved" in body["message"]


def test_a_session_named_like_a_sub_route_is_its_own_session(
    hub: tuple[EmbeddedHub, httpx.Client],
) -> None:
    client = hub[1]
    assert _ingest(client, [started("y"), started("y/logs")]).status_code == 200
    client.stored.update(("y", "y/logs"))  # type: ignore[attr-defined]
    assert client.get("/sessions/y%2Flogs").json()["session"]["id"] == "y/logs"
    assert client.get("/sessions/y/logs").json()["kind"] == "system"  # the logs of "y"


def test_reserved_words_are_exactly_the_literal_routes_under_sessions(
    hub: tuple[EmbeddedHub, httpx.Client],
) -> None:
    literal = set()
    for context in iter_route_contexts(hub[0].server.app.routes):
        path = context.path or ""
        if path.startswith("/api/v1/sessions/"):
            first = path.removeprefix("/api/v1/sessions/").split("/")[0]
            if "{" not in first:
                literal.add(first)
    assert literal == set(RESERVED_SESSION_IDS)
