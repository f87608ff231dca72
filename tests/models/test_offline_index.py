"""Offline index: local filtering and sorting agree with SessionFilter.matches / SortSpec."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_desk.models.export import ExportReader, IndexedSession, write_export
from supervisor_desk.models.filters import (
    MessageCountFilter,
    SessionFilter,
    SortSpec,
    normalize_words,
)
from supervisor_desk.models.metrics import session_metrics
from supervisor_desk.models.offline_index import (
    OfflineIndex,
    normalized_raw_transcript,
    normalized_transcript,
    raw_transcripts,
    transcript_has_words,
)
from tests.models.export_samples import T0, make_record, make_records

RECORDS = make_records(40)
FILTERS = [
    SessionFilter(),
    SessionFilter(channel=("web", "whatsapp")),
    SessionFilter(status=("completed",), responsible="ai"),
    SessionFilter(q="billing"),
    SessionFilter(q="s001"),
    SessionFilter(text="CANCEL"),
    SessionFilter(text="cafe #1"),
    SessionFilter(text="zurich"),
    SessionFilter(user="customer 3"),
    SessionFilter(country="de", has_attachments=True),
    SessionFilter(operator=("op1",)),
    SessionFilter(messages=MessageCountFilter(op="ge", n=3)),
    SessionFilter(started_after=T0 + timedelta(minutes=30), started_before=T0 + timedelta(hours=2)),
    SessionFilter(ended_before=T0 + timedelta(hours=1)),
    SessionFilter(live=True),
    SessionFilter(ip="10.0.0.7"),
]


def _name(flt: SessionFilter) -> str:
    return ",".join(k for k, _ in flt.to_query()) or "all"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> OfflineIndex:
    path = tmp_path_factory.mktemp("idx") / "export.jsonl"
    write_export(path, "jsonl", RECORDS)
    reader = ExportReader(path, batch_size=16)
    idx = OfflineIndex(path)
    for batch in reader.batches():
        idx.add(batch)
    return idx


@pytest.mark.parametrize("flt", FILTERS, ids=_name)
def test_filter_equals_matches(index: OfflineIndex, flt: SessionFilter) -> None:
    expected = {
        r.session.id for r in RECORDS if flt.matches(r.session, [m.text for m in r.messages])
    }
    assert index.matching_ids(flt) == expected


@pytest.mark.parametrize("sort", ["-started_at", "message_count", "-ended_at", "wait",
                                  "-duration", "last_message_at"])
def test_sort_equals_sortspec(index: OfflineIndex, sort: str) -> None:
    spec = SortSpec.parse(sort)
    expected = [s.id for s in spec.sort([r.session for r in RECORDS], index.now)]
    page = index.query(SessionFilter(), sort, 0, 100)
    assert [s.id for s in page.items] == expected


def test_paging_and_metrics(index: OfflineIndex) -> None:
    flt = SessionFilter(channel=("web", "phone", "sip"))
    first = index.query(flt, "-started_at", 0, 2)
    second = index.query(flt, "-started_at", 2, 2)
    assert first.total == second.total == len(index.matching_ids(flt))
    assert not {s.id for s in first.items} & {s.id for s in second.items}
    metrics = index.metrics(flt)
    assert metrics.total == first.total
    assert metrics.top_channel is not None and sum(metrics.by_channel.values()) == first.total


def test_transcripts_are_read_lazily_by_byte_range(index: OfflineIndex) -> None:
    record = index.record("s0007")
    assert record == RECORDS[7]
    assert [a.name for a in index.agents()] == ["Billing bot", "Sales bot", "Support bot"]
    assert [o.name for o in index.operators()] == ["Dana Ops"]


def test_text_rule_is_per_message() -> None:
    transcript = normalized_transcript(["Cancel my order", "the café refund"])
    assert transcript_has_words({"cancel", "order"}, transcript)
    assert transcript_has_words({"cafe"}, transcript)
    assert not transcript_has_words({"cancel", "refund"}, transcript)  # two different messages
    assert not transcript_has_words({"can"}, transcript)  # whole words only


def test_csv_has_no_transcripts_so_text_is_not_applied(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    write_export(path, "csv", [make_record(1), make_record(2)])
    idx = OfflineIndex(path, has_transcripts=False)
    idx.add(ExportReader(path).read_all())
    assert idx.matching_ids(SessionFilter(text="nothing-like-this")) == {"s0001", "s0002"}


@pytest.mark.parametrize("flt", FILTERS, ids=_name)
def test_column_checks_alone_equal_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flt: SessionFilter
) -> None:
    """Big results skip the final ``matches`` re-check: the column checks must agree alone."""
    from supervisor_desk.models import offline_index

    monkeypatch.setattr(offline_index, "_RECHECK_LIMIT", -1)
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", RECORDS)
    idx = OfflineIndex(path)
    idx.add(ExportReader(path).read_all())
    expected = {
        r.session.id for r in RECORDS if flt.matches(r.session, [m.text for m in r.messages])
    }
    assert idx.matching_ids(flt) == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet="aZé_- \n\t!'.çÉ\u0301\u00a8ﬁ①ßİ\u2028日Σς\U0001d167\U0001f600",
                        max_size=12), max_size=4))
def test_fast_normalisation_equals_normalize_words_per_message(texts: list[str]) -> None:
    expected = "\n".join(" ".join(normalize_words(t)) for t in texts)
    assert normalized_transcript(texts) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=20),
                          st.text(alphabet=[chr(c) for c in range(128)], max_size=20)),
                max_size=5))
def test_a_raw_transcript_normalised_at_once_equals_normalize_words_per_message(
        texts: list[str]) -> None:
    """Any characters (ASCII punctuation, control characters, every plane): the whole
    transcript folded in one pass and split by ``str.translate`` gives the shared rule's words."""
    raw = raw_transcripts([IndexedSession(_BASES[0], 0, 0, tuple(texts))])[0]
    assert raw is not None
    expected = "\n".join(" ".join(normalize_words(t)) for t in texts)
    assert normalized_raw_transcript(raw) == expected


def test_transcripts_normalised_later_match_the_same(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", RECORDS)
    entries = ExportReader(path).read_all()
    idx = OfflineIndex(path)
    idx.add(entries[:25], raw_transcripts(entries[:25]), normalized=False)
    idx.add(entries[25:], raw_transcripts(entries[25:]), normalized=False)
    assert idx.pending_transcripts == len(RECORDS)
    assert idx.normalize_transcripts(10) == len(RECORDS) - 10  # a step at a time
    for flt in [f for f in FILTERS if f.text is not None]:
        expected = {r.session.id for r in RECORDS
                    if flt.matches(r.session, [m.text for m in r.messages])}
        assert idx.matching_ids(flt) == expected  # a search finishes the rest first
    assert idx.pending_transcripts == 0


_BASES = [make_record(i).session for i in range(12)]
# Few distinct values, so ties are common; microseconds inside one millisecond tie in the
# hub's units (ms) and must fall back to the id.
_MOMENTS = st.one_of(st.none(), st.sampled_from([
    T0, T0 + timedelta(microseconds=300), T0 + timedelta(milliseconds=1),
    T0 + timedelta(minutes=2), T0 - timedelta(minutes=1)]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(range(12)), st.sampled_from([0, 1, 5]), _MOMENTS,
                          _MOMENTS, _MOMENTS, _MOMENTS), min_size=1, max_size=30),
       st.sampled_from(["started_at", "-started_at", "message_count", "-message_count",
                        "last_message_at", "-last_message_at", "ended_at", "-ended_at",
                        "wait", "-wait", "duration", "-duration"]))
def test_array_sort_equals_a_plain_python_sort(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[int, int, object, object, object, object]], sort: str,
) -> None:
    """The index's argsort of ready columns orders rows exactly as ``SortSpec.sort`` does."""
    sessions = []
    for n, (base, count, last, ended, queued, accepted) in enumerate(rows):
        sessions.append(_BASES[base].model_copy(update={
            "id": f"x{(n * 7919) % 1000:03d}-{n}", "message_count": count,
            "started_at": T0 + timedelta(minutes=base % 3),
            "last_message_at": last, "ended_at": ended, "queued_at": queued,
            "accepted_at": accepted,
        }))
    idx = OfflineIndex(tmp_path_factory.mktemp("sort") / "none.jsonl", has_transcripts=False,
                       now=T0 + timedelta(hours=1))
    idx.add([IndexedSession(s, 0, 0, None) for s in sessions], [None] * len(sessions))
    spec = SortSpec.parse(sort)
    expected = [s.id for s in spec.sort(sessions, idx.now)]
    assert [s.id for s in idx.query(SessionFilter(), sort, 0, len(sessions)).items] == expected


def test_an_index_queried_while_it_grows_answers_as_one_built_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sort columns, time columns and name lists extended batch by batch (as while a file is
    read and the window refreshes) give what a fresh index gives, a replaced row included
    (in a later batch, and in the same batch: that one once raised IndexError)."""
    record = make_record(7)
    renamed = record.model_copy(update={"session": record.session.model_copy(update={
        "started_at": T0 + timedelta(days=3)})})
    records = [*RECORDS, renamed]  # the same id again, later in the file: replaces the row
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", records)
    entries = ExportReader(path).read_all()
    sorts = ["-started_at", "ended_at", "-wait", "duration", "message_count"]
    growing = OfflineIndex(path, now=T0 + timedelta(days=5))
    for start in range(0, len(entries), 9):
        growing.add(entries[start:start + 9])
        for sort in sorts:
            growing.query(SessionFilter(), sort)
        growing.query(SessionFilter(ended_before=T0 + timedelta(hours=1)), "-started_at")
        growing.agents()
        growing.operators()
        assert growing.metrics(SessionFilter()) == session_metrics(growing.sessions(),
                                                                   growing.now)
    fresh = OfflineIndex(path, now=T0 + timedelta(days=5))
    fresh.add(entries)
    everything = [fresh.get(e.summary.id) for e in entries[:len(RECORDS)]]
    assert growing.metrics(SessionFilter()) == session_metrics(everything, fresh.now)
    assert growing.agents() == fresh.agents()
    replaced = growing.get("s0007")
    assert replaced is not None and replaced.started_at == T0 + timedelta(days=3)
    assert growing.operators() == fresh.operators()
    for flt in FILTERS:
        for sort in sorts:
            assert growing.matching_rows(flt, sort) == fresh.matching_rows(flt, sort)
    # Many ties (every count the same): broken by the rows' id ranks, the same order.
    from supervisor_desk.models import offline_index
    monkeypatch.setattr(offline_index, "_TIE_LIMIT", 0)
    ranked = OfflineIndex(path, now=T0 + timedelta(days=5))
    ranked.add(entries)
    for sort in sorts:
        assert ranked.matching_rows(SessionFilter(), sort) == fresh.matching_rows(
            SessionFilter(), sort)
