"""Sessions REST: every filter, sort and paging against a hand-computed expectation.

One hub per module with six hand-made sessions; each expectation below was worked out by hand
from the table in ``_dataset``, and the desktop's offline matcher must agree with the hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.filters import SessionFilter, SortSpec
from supervisor_desk.models.wire import Metrics, SessionPage, SessionSummary
from tests.hub.conftest import Api, assert_error
from tests.hub.factories import ended, message, started

# id  agent     channel   status     responsible       user               loc        start
# s1  a1 Ava    web       active     ai                u1 Zoé Martin      FR .0.1    01-01 10:00
# s2  a2 Bruno  whatsapp  queued     unassigned        u2 Li Wei          -          01-02 08:00
# s3  a1 Ava    phone     completed  human op1 Olga    u3 Sam             DE .0.2    01-03 12:00
# s4  a3 Cleo   web       failed     ai                u4 (no name)       FR .0.1    01-04 00:00
# s5  a2 Bruno  telegram  active     human op2 Pavel   u5 Zoe Adams       -          01-05 15:00
# s6  a1 Ava    email     cancelled  unassigned        u6 Ana             -          01-06 09:00
TEXTS = {
    "s1": ["Bonjour, je voudrais payer ma facture", "Café crème", "ok"],
    "s2": ["Where is my parcel?"],
    "s3": ["one", "two", "three", "four", "five"],
    "s4": [],
    "s5": ["FACTURE impayée", "merci"],
    "s6": ["SELECT * FROM users; --"],
}
ALL = ["s1", "s2", "s3", "s4", "s5", "s6"]


def _human(op_id: str, name: str) -> dict[str, Any]:
    return {"kind": "human", "operator": {"id": op_id, "name": name}}


def _dataset() -> list[dict[str, Any]]:
    events = [
        started("s1", "2026-01-01T10:00:00Z", agent=("a1", "Ava"), channel="web",
                user={"id": "u1", "name": "Zoé Martin", "external_id": "EXT-1"},
                location={"ip": "10.0.0.1", "country_code": "FR"},
                queued_at="2026-01-01T09:58:00Z", accepted_at="2026-01-01T10:00:00Z",
                metadata={"crm": "ACME-42"}, parameters={"plan": "Premium"}),
        started("s2", "2026-01-02T08:00:00Z", agent=("a2", "Bruno"), channel="whatsapp",
                status="queued", user={"id": "u2", "name": "Li Wei"},
                responsible={"kind": "unassigned"}, queued_at="2026-01-02T08:00:00Z"),
        started("s3", "2026-01-03T12:00:00Z", agent=("a1", "Ava"), channel="phone",
                modality="voice", user={"id": "u3", "name": "Sam"},
                responsible=_human("op1", "Olga"),
                location={"ip": "10.0.0.2", "country_code": "de"}),
        started("s4", "2026-01-04T00:00:00Z", agent=("a3", "Cleo"), channel="web",
                user={"id": "u4"}, location={"ip": "10.0.0.1", "country_code": "FR"}),
        started("s5", "2026-01-05T15:00:00Z", agent=("a2", "Bruno"), channel="telegram",
                user={"id": "u5", "name": "Zoe Adams"}, responsible=_human("op2", "Pavel"),
                queued_at="2026-01-05T14:50:00Z", accepted_at="2026-01-05T15:00:00Z"),
        started("s6", "2026-01-06T09:00:00Z", agent=("a1", "Ava"), channel="email",
                user={"id": "u6", "name": "Ana"}, responsible={"kind": "unassigned"},
                metadata={"note": "50% off"}),
    ]
    minute = {"s1": "2026-01-01T10:0{}:00Z", "s2": "2026-01-02T08:0{}:00Z",
              "s3": "2026-01-03T12:0{}:00Z", "s5": "2026-01-05T15:0{}:00Z",
              "s6": "2026-01-06T09:0{}:00Z"}
    for sid, texts in TEXTS.items():
        for n, text in enumerate(texts, start=1):
            extra: dict[str, Any] = {}
            if (sid, n) in (("s1", 2), ("s5", 1)):
                extra["attachments"] = [{"name": "scan.png", "mime": "image/png", "size": 5}]
            events.append(message(sid, f"{sid}-m{n}", text, minute[sid].format(n), **extra))
    events += [
        ended("s3", "2026-01-03T12:30:00Z", "completed", "resolved"),
        ended("s4", "2026-01-04T00:05:00Z", "failed", "error"),
        ended("s6", "2026-01-06T09:10:00Z", "cancelled", "user_disconnect"),
    ]
    return events


@pytest.fixture(scope="module")
def data_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    hub = EmbeddedHub(tmp_path_factory.mktemp("sessions") / "hub.db")
    hub.ingest_token = hub.create_token("tests", "ingest")  # type: ignore[attr-defined]
    hub.start()
    api = Api(hub)
    try:
        assert api.ingest(_dataset()).status_code == 200
        yield api
    finally:
        api.client.close()
        hub.stop()


def _all_sessions(api: Api) -> list[SessionSummary]:
    page = SessionPage.model_validate(api.sessions(limit=500))
    return page.items


FILTER_CASES: list[tuple[list[tuple[str, str]], set[str]]] = [
    ([], set(ALL)),
    ([("q", "zo")], {"s1", "s5"}),
    ([("q", "S3")], {"s3"}),
    ([("q", "acme")], {"s1"}),
    ([("q", "premium")], {"s1"}),
    ([("q", "ext-1")], {"s1"}),
    ([("q", "bruno")], {"s2", "s5"}),
    ([("q", "50%")], {"s6"}),
    ([("text", "facture")], {"s1", "s5"}),
    ([("text", "CAFE")], {"s1"}),
    ([("text", "impayee")], {"s5"}),
    ([("text", "payer facture")], {"s1"}),
    ([("text", "facture merci")], set()),
    ([("text", "select users")], {"s6"}),
    ([("agent", "a1")], {"s1", "s3", "s6"}),
    ([("agent", "a1"), ("agent", "a3")], {"s1", "s3", "s4", "s6"}),
    ([("channel", "web")], {"s1", "s4"}),
    ([("channel", "web"), ("channel", "whatsapp")], {"s1", "s2", "s4"}),
    ([("channel", "web,whatsapp")], {"s1", "s2", "s4"}),
    ([("status", "active")], {"s1", "s5"}),
    ([("status", "queued"), ("status", "active")], {"s1", "s2", "s5"}),
    ([("responsible", "human")], {"s3", "s5"}),
    ([("responsible", "unassigned")], {"s2", "s6"}),
    ([("responsible", "ai")], {"s1", "s4"}),
    ([("operator", "op1")], {"s3"}),
    ([("operator", "op1"), ("operator", "op2")], {"s3", "s5"}),
    ([("user", "zo")], {"s1", "s5"}),
    ([("user", "U3")], {"s3"}),
    ([("user", "li w")], {"s2"}),
    ([("country", "fr")], {"s1", "s4"}),
    ([("country", "DE")], {"s3"}),
    ([("ip", "10.0.0.1")], {"s1", "s4"}),
    ([("ip", "10.0.0")], set()),
    ([("started_after", "2026-01-03T12:00:00Z")], {"s3", "s4", "s5", "s6"}),
    ([("started_before", "2026-01-03T12:00:00Z")], {"s1", "s2"}),
    ([("started_after", "2026-01-03T13:00:00+01:00")], {"s3", "s4", "s5", "s6"}),
    ([("ended_after", "2026-01-04T00:05:00Z")], {"s4", "s6"}),
    ([("ended_before", "2026-01-04T00:05:00Z")], {"s3"}),
    ([("last_message_after", "2026-01-03T12:05:00Z")], {"s3", "s5", "s6"}),
    ([("last_message_before", "2026-01-02T08:01:00Z")], {"s1"}),
    ([("messages", "eq:0")], {"s4"}),
    ([("messages", "gt:2")], {"s1", "s3"}),
    ([("messages", "le:1")], {"s2", "s4", "s6"}),
    ([("messages", "ne:1")], {"s1", "s3", "s4", "s5"}),
    ([("messages", "ge:5")], {"s3"}),
    ([("messages", "lt:1")], {"s4"}),
    ([("has_attachments", "true")], {"s1", "s5"}),
    ([("has_attachments", "false")], {"s2", "s3", "s4", "s6"}),
    ([("live", "true")], {"s1", "s2", "s5"}),
    ([("live", "false")], {"s3", "s4", "s6"}),
    ([("channel", "web"), ("live", "true")], {"s1"}),
    ([("agent", "a1"), ("text", "facture"), ("country", "FR")], {"s1"}),
    # Hostile-looking values are just values.
    ([("q", "' OR 1=1 --")], set()),
    ([("q", "%")], {"s6"}),
    ([("user", "_")], set()),
    ([("text", '" OR *')], set()),
    ([("agent", "a1') OR ('1'='1")], set()),
]


def _case_id(value: object) -> str:
    # Sets by their sorted items: the ids must not follow the hash seed (each pytest-xdist
    # worker collects the tests itself, and all must name them alike).
    return str(sorted(value) if isinstance(value, set) else value)[:60]


@pytest.mark.parametrize(("pairs", "expected"), FILTER_CASES, ids=_case_id)
def test_filter_matches_hand_computed_set(
    data_api: Api, pairs: list[tuple[str, str]], expected: set[str]
) -> None:
    page = data_api.sessions(*pairs)
    got = [s["id"] for s in page["items"]]
    assert set(got) == expected
    assert page["total"] == len(expected)
    # The desktop's offline matcher agrees with the hub on the same definition.
    flt = SessionFilter.from_query(pairs)
    offline = {s.id for s in _all_sessions(data_api) if flt.matches(s, TEXTS[s.id])}
    assert offline == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["s6", "s5", "s4", "s3", "s2", "s1"]),
        ("started_at", ALL),
        ("-message_count", ["s3", "s1", "s5", "s6", "s2", "s4"]),
        ("message_count", ["s4", "s2", "s6", "s5", "s1", "s3"]),
        ("ended_at", ["s1", "s2", "s5", "s3", "s4", "s6"]),
        ("-ended_at", ["s6", "s4", "s3", "s5", "s2", "s1"]),
        ("wait", ["s3", "s4", "s6", "s1", "s5", "s2"]),
        ("duration", ["s4", "s6", "s3", "s5", "s2", "s1"]),
        ("-last_message_at", ["s6", "s5", "s3", "s2", "s1", "s4"]),
    ],
)
def test_sort_orders(data_api: Api, sort: str | None, expected: list[str]) -> None:
    params = {} if sort is None else {"sort": sort}
    assert data_api.ids(**params) == expected
    spec = SortSpec.parse(sort)
    offline = spec.sort(_all_sessions(data_api), datetime.now(UTC))
    assert [s.id for s in offline] == expected


def test_paging_keeps_total(data_api: Api) -> None:
    first = data_api.sessions(limit=2)
    assert [s["id"] for s in first["items"]] == ["s6", "s5"]
    assert (first["total"], first["offset"], first["limit"]) == (6, 0, 2)
    last = data_api.sessions(limit=2, offset=4)
    assert [s["id"] for s in last["items"]] == ["s2", "s1"] and last["total"] == 6
    beyond = data_api.sessions(limit=2, offset=6)
    assert beyond["items"] == [] and beyond["total"] == 6
    filtered = data_api.sessions(("agent", "a1"), limit=1, offset=1, sort="started_at")
    assert [s["id"] for s in filtered["items"]] == ["s3"] and filtered["total"] == 3
    # Full-text lists count the same way, through the agent's index or the narrow one.
    for extra in ((), (("agent", "a1"),), (("channel", "web"),), (("status", "active"),)):
        hits = data_api.sessions(("text", "facture"), *extra, limit=1, offset=5)
        expected = data_api.sessions(("text", "facture"), *extra)["total"]
        assert hits["items"] == [] and hits["total"] == expected
    assert data_api.sessions(("text", "nowhere"), ("agent", "a1"))["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"offset": "-1"},
        {"sort": "-name"}, {"messages": "between:3"}, {"messages": "gt:-1"},
        {"status": "sleeping"}, {"channel": "pigeon"}, {"responsible": "robot"},
        {"live": "maybe"}, {"started_after": "yesterday"},
        {"started_after": "2026-01-01T10:00:00"}, {"text": "!!!"}, {"colour": "red"},
        {"q": "x" * 501},
    ],
)
def test_bad_parameters_are_422(data_api: Api, params: dict[str, str]) -> None:
    body = assert_error(data_api.get("/sessions", params=params), 422)
    assert body["details"], body
    assert body["error"] in ("invalid_filter", "invalid_request")
    for key in params:
        assert key in body["message"] or any(key in str(d) for d in body["details"])


def test_metrics(data_api: Api) -> None:
    metrics = Metrics.model_validate(data_api.get("/sessions/metrics").json())
    assert (metrics.total, metrics.live, metrics.queued, metrics.active) == (6, 3, 1, 2)
    assert metrics.recent_24h == 0
    assert metrics.by_channel == {"web": 2, "whatsapp": 1, "phone": 1, "telegram": 1, "email": 1}
    assert metrics.by_status == {"active": 2, "queued": 1, "completed": 1, "failed": 1,
                                 "cancelled": 1}
    assert metrics.top_channel is not None
    assert (metrics.top_channel.channel, metrics.top_channel.count) == ("web", 2)
    waited = datetime.now(UTC) - datetime(2026, 1, 2, 8, tzinfo=UTC)
    assert metrics.longest_wait_seconds is not None
    assert abs(metrics.longest_wait_seconds - waited.total_seconds()) < 60
    web = Metrics.model_validate(data_api.get("/sessions/metrics",
                                              params={"channel": "web"}).json())
    assert (web.total, web.live, web.queued, web.longest_wait_seconds) == (2, 1, 0, None)
    nothing = Metrics.model_validate(data_api.get("/sessions/metrics",
                                                  params={"q": "nobody"}).json())
    assert (nothing.total, nothing.top_channel, nothing.by_channel) == (0, None, {})


def test_detail_logs_agents_operators_and_404(data_api: Api) -> None:
    detail = data_api.get("/sessions/s1").json()
    assert detail["session"]["id"] == "s1"
    assert [m["text"] for m in detail["messages"]] == TEXTS["s1"]
    assert data_api.get("/sessions/s1/logs", params={"kind": "trace"}).json() == {
        "kind": "trace", "entries": []}
    assert_error(data_api.get("/sessions/nope"), 404, "not_found")
    assert_error(data_api.get("/sessions/nope/logs"), 404, "not_found")
    assert_error(data_api.get("/sessions/s1/logs", params={"kind": "debug"}), 422)
    assert data_api.get("/agents").json() == {"items": [
        {"id": "a1", "name": "Ava"}, {"id": "a2", "name": "Bruno"}, {"id": "a3", "name": "Cleo"}]}
    assert data_api.get("/operators").json() == {"items": [
        {"id": "op1", "name": "Olga"}, {"id": "op2", "name": "Pavel"}]}


def test_live_snapshot(data_api: Api) -> None:
    live = data_api.get("/live").json()
    assert [s["id"] for s in live["sessions"]] == ["s1", "s2", "s5"]
    assert live["seq"] == len(_dataset())
    assert isinstance(live["epoch"], str) and live["epoch"]


def test_openapi_document(data_api: Api) -> None:
    doc = data_api.get("/openapi.json", role=None).json()
    assert "/api/v1/sessions" in doc["paths"]
    assert "/api/v1/ingest" in doc["paths"]
    # The ingest body's schema is there (the fuzzer generates batches from it).
    body = doc["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    items = doc["components"]["schemas"][name]["properties"]["events"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert len(items["oneOf"]) == 6


@pytest.mark.parametrize("path", ["/sessions", "/sessions/metrics", "/sessions/export"])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("started_after", "9999-12-31T23:59:59-01:00"),
        ("started_before", "0001-01-01T00:00:00+01:00"),
        ("ended_after", "0999-01-01T00:00:00Z"),
        ("last_message_before", "1969-12-31T23:59:59Z"),
        ("started_after", "12345"),
    ],
)
def test_timestamps_out_of_range_in_queries_are_422_naming_the_parameter(
    data_api: Api, path: str, key: str, value: str
) -> None:
    body = assert_error(data_api.get(path, params={key: value}), 422, "invalid_filter")
    assert [d["field"] for d in body["details"]] == [key], body
    assert "1970-01-01 to 9999-12-31" in body["message"], body


@pytest.mark.parametrize("path", ["/sessions", "/sessions/metrics"])
def test_the_edges_of_the_range_are_valid_filters(data_api: Api, path: str) -> None:
    for params in ({"started_after": "9999-12-31T23:59:59.999Z"},
                   {"started_after": "9999-12-31T23:59:59.999999Z"},
                   {"ended_before": "9999-12-31T23:59:59.9999999+00:00"},
                   {"started_before": "1970-01-01T00:00:00Z"},
                   {"started_after": "1970-01-01T00:00:00Z",
                    "started_before": "9999-12-31T23:59:59Z"}):
        assert data_api.get(path, params=params).status_code == 200, params
    everything = data_api.get("/sessions", params={
        "started_after": "1970-01-01T00:00:00Z", "ended_before": "9999-12-31T23:59:59Z"})
    assert everything.json()["total"] == 3  # the ended ones
