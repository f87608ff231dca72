"""SessionFilter / SortSpec / normalize_words: parsing, round trips, offline matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor_desk.models.filters import (
    FilterError,
    MessageCountFilter,
    SessionFilter,
    SortSpec,
    normalize_words,
)
from supervisor_desk.models.wire import CHANNELS, STATUSES, SessionSummary


def _session(**fields: object) -> SessionSummary:
    base: dict[str, object] = {
        "id": "Sess-1", "agent": {"id": "a1", "name": "Ava"}, "channel": "web",
        "status": "active", "user": {"id": "u1", "name": "Zoé"},
        "started_at": "2026-01-01T10:00:00Z",
    }
    return SessionSummary.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Élodie's CAFÉ", ["elodie", "s", "cafe"]),
        ("naïve—façade, 2 €", ["naive", "facade", "2"]),
        ("snake_case-id", ["snake", "case", "id"]),
        ("  ", []),
        ("Ärger ÜBER Öl", ["arger", "uber", "ol"]),
    ],
)
def test_normalize_words(text: str, words: list[str]) -> None:
    assert normalize_words(text) == words


def test_from_query_parses_every_parameter() -> None:
    flt = SessionFilter.from_query([
        ("q", "zo"), ("text", "facture"), ("agent", "a1"), ("agent", "a2"),
        ("channel", "web,phone"), ("status", "queued"), ("responsible", "human"),
        ("operator", "op1"), ("user", "u"), ("country", "fr"), ("ip", "10.0.0.1"),
        ("started_after", "2026-01-01T00:00:00Z"), ("started_before", "2026-02-01T00:00:00+01:00"),
        ("ended_after", "2026-01-01T00:00:00Z"), ("ended_before", "2026-01-03T00:00:00Z"),
        ("last_message_after", "2026-01-01T00:00:00Z"),
        ("last_message_before", "2026-01-03T00:00:00Z"),
        ("messages", "ge:3"), ("has_attachments", "true"), ("live", "false"),
        ("team", "billing"), ("team", "sales desk"), ("messages_max", "10"),
    ])
    assert flt.team == ("billing", "sales desk") and flt.messages_max == 10
    assert flt.agent == ("a1", "a2") and flt.channel == ("web", "phone")
    assert flt.messages == MessageCountFilter(op="ge", n=3)
    assert flt.started_before == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert flt.has_attachments is True and flt.live is False
    assert SessionFilter.from_query(flt.to_query()) == flt
    assert not flt.is_empty() and SessionFilter().is_empty()


def test_from_query_reports_every_bad_parameter() -> None:
    with pytest.raises(FilterError) as caught:
        SessionFilter.from_query([
            ("channel", "pigeon"), ("messages", "lots"), ("live", "maybe"), ("nope", "1"),
            ("started_after", "2026-01-01T00:00:00"), ("messages_max", "-1"),
        ])
    fields = {d["field"] for d in caught.value.details}
    assert fields == {"messages", "live", "nope", "started_after", "messages_max"}
    with pytest.raises(FilterError) as caught:
        SessionFilter.from_query([("channel", "pigeon")])
    assert "pigeon" in str(caught.value)
    with pytest.raises(FilterError):
        SessionFilter.from_query([("q", "a"), ("q", "b")])


def test_empty_values_mean_no_criterion() -> None:
    assert SessionFilter.from_query([("q", ""), ("agent", " ")]).is_empty()


def test_space_for_plus_in_unencoded_offsets() -> None:
    flt = SessionFilter.from_query([("started_after", "2026-01-01T10:00:00 01:00")])
    assert flt.started_after == datetime(2026, 1, 1, 9, tzinfo=UTC)


def test_matches_edges() -> None:
    s = _session(ended_at=None, message_count=3,
                 location={"ip": "1.2.3.4", "country_code": "fr"},
                 responsible={"kind": "human", "operator": {"id": "op1", "name": "Olga"}})
    assert SessionFilter(q="sess").matches(s)
    assert SessionFilter(q="zoé").matches(s)
    assert not SessionFilter(q="ess-1").matches(s)  # id matches by prefix only
    assert SessionFilter(country="FR").matches(s)
    assert not SessionFilter(ended_after=datetime(2000, 1, 1, tzinfo=UTC)).matches(s)
    assert SessionFilter(operator=("op1",)).matches(s)
    assert SessionFilter(text="CAFE creme").matches(s, ["un café crème"])
    assert not SessionFilter(text="cafe merci").matches(s, ["café", "merci"])
    assert SessionFilter(text="anything").matches(s, None)  # cannot judge: not applied
    at = s.started_at
    assert SessionFilter(started_after=at).matches(s)
    assert not SessionFilter(started_before=at).matches(s)
    assert SessionFilter(started_before=at + timedelta(microseconds=1)).matches(s)


def test_team_and_message_range() -> None:
    in_team = _session(team="billing", message_count=8)
    no_team = _session(message_count=8)
    assert SessionFilter(team=("billing", "sales")).matches(in_team)
    assert not SessionFilter(team=("sales",)).matches(in_team)
    assert not SessionFilter(team=("billing",)).matches(no_team)  # no team never matches
    bin_6_10 = SessionFilter(messages=MessageCountFilter(op="ge", n=6), messages_max=10)
    assert bin_6_10.matches(in_team)
    assert not bin_6_10.matches(_session(message_count=11))
    assert not bin_6_10.matches(_session(message_count=5))


def test_sort_spec() -> None:
    assert SortSpec.parse(None) == SortSpec(key="started_at", descending=True)
    assert SortSpec.parse("wait").to_query() == "wait"
    assert SortSpec.parse("-duration").to_query() == "-duration"
    with pytest.raises(FilterError):
        SortSpec.parse("-colour")
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    queued = _session(id="q", status="queued", queued_at="2026-01-01T11:00:00Z")
    quick = _session(id="k", queued_at="2026-01-01T10:00:00Z",
                     accepted_at="2026-01-01T10:00:30Z")
    never = _session(id="n")
    order = SortSpec.parse("-wait").sort([never, quick, queued], now)
    assert [s.id for s in order] == ["q", "k", "n"]
    assert SortSpec.parse("wait").value(queued, now) == 3_600_000


_values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                  max_size=20).filter(lambda v: v.strip() == v and "," not in v)


@given(
    q=st.none() | _values,
    agent=st.lists(_values, max_size=3, unique=True),
    channel=st.lists(st.sampled_from(CHANNELS), max_size=3, unique=True),
    status=st.lists(st.sampled_from(STATUSES), max_size=3, unique=True),
    n=st.none() | st.integers(min_value=0, max_value=10_000),
    live=st.none() | st.booleans(),
)
def test_query_round_trip(q: str | None, agent: list[str], channel: list[str],
                          status: list[str], n: int | None, live: bool | None) -> None:
    flt = SessionFilter(
        q=q, agent=tuple(agent), channel=tuple(channel), status=tuple(status),
        messages=None if n is None else MessageCountFilter(op="gt", n=n), live=live,
    )
    assert SessionFilter.from_query(flt.to_query()) == flt
