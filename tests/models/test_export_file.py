"""Export files: exact round trips, incremental reading, and the bad-file corpus."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from supervisor_desk.models.export import (
    CSV_COLUMNS,
    MAX_RECORD_BYTES,
    ExportFileError,
    ExportReader,
    ExportWriter,
    check_export,
    iter_records,
    json_walker,
    write_export,
)
from supervisor_desk.models.wire import EXPORT_FORMAT
from tests.models.export_samples import make_record, make_records

BAD = Path(__file__).parent / "bad_files"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_formats_round_trip_sessions_messages_and_logs(tmp_path: Path, fmt: str) -> None:
    records = make_records(12)
    path = tmp_path / f"out.{fmt}"
    assert write_export(path, fmt, records, filters={"channel": ["web"]}) == 12  # type: ignore[arg-type]
    assert list(iter_records(path)) == records
    reader = ExportReader(path)
    entries = reader.read_all()
    assert reader.header is not None and reader.header.filters == {"channel": ["web"]}
    assert [e.summary for e in entries] == [r.session for r in records]
    assert entries[0].texts == tuple(m.text for m in records[0].messages)
    assert reader.report.skipped == 0 and reader.report.bytes_read == path.stat().st_size


def test_json_document_is_the_protocol_shape(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_export(path, "json", make_records(2))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == EXPORT_FORMAT and doc["version"] == 1
    assert doc["exported_at"].endswith("Z")
    assert set(doc["sessions"][0]) == {"session", "messages", "logs"}
    assert set(doc["sessions"][0]["logs"]) == {"system", "trace"}
    lines = (tmp_path / "l.jsonl")
    write_export(lines, "jsonl", make_records(2))
    first, *rest = lines.read_text(encoding="utf-8").splitlines()
    assert json.loads(first)["format"] == EXPORT_FORMAT and len(rest) == 2


def test_json_reader_crosses_buffer_boundaries_and_keeps_exact_byte_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny chunks force every record (with non-ASCII text) to straddle several reads.
    monkeypatch.setattr(json_walker, "CHUNK", 97)
    records = make_records(30, n_messages=5)
    path = tmp_path / "out.json"
    write_export(path, "json", records)
    reader = ExportReader(path, batch_size=7)
    batches = list(reader.batches())
    assert [len(b) for b in batches] == [7, 7, 7, 7, 2]
    entries = [e for b in batches for e in b]
    assert [reader.read_record(e) for e in entries] == records


def test_csv_round_trips_the_summary_and_neutralises_formulas(tmp_path: Path) -> None:
    records = make_records(9)
    path = tmp_path / "out.csv"
    write_export(path, "csv", records)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert all(not cell.startswith("=") for row in rows[1:] for cell in row)
    reader = ExportReader(path)
    entries = reader.read_all()
    assert [e.summary for e in entries] == [r.session for r in records]
    assert entries[0].texts is None and not reader.has_transcripts
    assert reader.read_record(entries[0]).messages == []


def test_csv_of_visible_columns_only_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    path.write_text("id,agent,channel,status,started_at,message_count\r\n"
                    "abc,Sales bot,web,completed,2026-03-01T10:00:00.000Z,4\r\n", encoding="utf-8")
    [entry] = ExportReader(path).read_all()
    assert entry.summary.agent.name == "Sales bot" and entry.summary.message_count == 4


def test_writer_leaves_no_file_when_aborted(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(RuntimeError), ExportWriter(folder / "o.jsonl", "jsonl") as w:
        w.write(make_record(1))
        raise RuntimeError("cancelled")
    assert list(folder.iterdir()) == []


def _problem(path: Path) -> str:
    with pytest.raises(ExportFileError) as info:
        ExportReader(path).read_all()
    assert info.value.path == path
    assert str(info.value).startswith(path.name + ": ")
    return info.value.problem


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.json", "ends early (truncated)"),
        ("wrong_version.jsonl", "unsupported export version 2"),
        ("wrong_format.json", "not a Supervisor Desk export"),
        ("not_export.json", "not a JSON object"),
        ("other_tool.csv", "missing columns id, channel, status, started_at, agent"),
        ("invalid_utf8.json", "invalid UTF-8"),
        ("binary.json", "not a JSON object"),
        ("empty.jsonl", "the file is empty"),
        ("notes.txt", "unknown file type '.txt'"),
        ("header_only_garbage.jsonl", "line 1 is not JSON"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(name: str, expected: str) -> None:
    assert expected in _problem(BAD / name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.json", "truncated"),
        ("wrong_version.jsonl", "version 2"),
        ("other_tool.csv", "missing columns"),
        ("binary.json", "binary"),
        ("invalid_utf8.jsonl", None),
        ("html_script.jsonl", None),
    ],
)
def test_quick_check_before_opening(name: str, expected: str | None) -> None:
    if expected is None:
        check_export(BAD / name)
        return
    with pytest.raises(ExportFileError, match=expected):
        check_export(BAD / name)


def test_jsonl_keeps_valid_lines_and_counts_the_rest() -> None:
    reader = ExportReader(BAD / "invalid_utf8.jsonl")
    assert len(reader.read_all()) == 3
    assert reader.report.skipped == 1 and "line 3: invalid UTF-8" in reader.report.problems[0]
    reader = ExportReader(BAD / "garbage_lines.jsonl")
    assert [e.summary.id for e in reader.read_all()] == ["s0000", "s0001"]
    assert reader.report.skipped == 3
    reader = ExportReader(BAD / "truncated.jsonl")
    assert len(reader.read_all()) == 3
    assert reader.report.problems == ["line 5: cut off (file truncated)"]


def test_html_and_script_stay_inert_text() -> None:
    entries = ExportReader(BAD / "html_script.jsonl").read_all()
    assert entries[0].summary.agent.name == "<b>Bold</b> bot"
    assert entries[0].texts is not None and entries[0].texts[0].startswith("<script>")


def test_huge_files_are_refused_without_reading_them_whole(tmp_path: Path) -> None:
    # Sparse 2 GB files: no disk used, but any attempt to slurp them would take seconds and GBs.
    size = 2 * 1024**3
    zeros = tmp_path / "huge.jsonl"
    with zeros.open("wb") as f:
        f.truncate(size)
    assert "first line too long" in _problem(zeros)
    doc = tmp_path / "huge.json"
    with doc.open("wb") as f:
        f.write(b'{"format": "supervisor-desk-export", "version": 1, "sessions": [{"session": "')
        f.truncate(size)
    with pytest.raises(ExportFileError, match="binary"):
        check_export(doc)
    assert "invalid JSON in session #1" in _problem(doc)
    text = tmp_path / "long.json"
    with text.open("wb") as f:
        f.write(b'{"format": "supervisor-desk-export", "version": 1, "sessions": [{"session": "')
        f.write(b"x" * (MAX_RECORD_BYTES + 2 * 1024 * 1024))
    assert "larger than 64 MB" in _problem(text)


def test_one_monster_jsonl_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "monster.jsonl"
    write_export(path, "jsonl", make_records(2))
    with path.open("ab") as f:
        f.write(b'{"session": "' + b"x" * (MAX_RECORD_BYTES + 10) + b'"}\n')
        f.write(make_record(5).model_dump_json().encode() + b"\n")
    reader = ExportReader(path)
    assert [e.summary.id for e in reader.read_all()] == ["s0000", "s0001", "s0005"]
    assert reader.report.problems == ["line 4: longer than 64 MB"]


def test_the_hubs_csv_dialect_opens(tmp_path: Path) -> None:
    path = tmp_path / "hub.csv"
    path.write_text(
        "status,session_id,agent,channel,responsible,operator,user,team,started_at,"
        "wait_seconds,duration_seconds,last_message_at,message_count,country,ip,ended_at,"
        "end_reason\r\n"
        "completed,s-1,Sales bot,whatsapp,human,Dana,Ann,,2026-03-01T10:00:00.000Z,1.5,60.000,"
        "2026-03-01T10:01:00.000Z,4,DE,10.0.0.1,2026-03-01T10:01:00.000Z,resolved\r\n",
        encoding="utf-8",
    )
    [entry] = ExportReader(path).read_all()
    s = entry.summary
    assert (s.id, s.agent.name, s.channel, s.user.name, s.location.country_code) == (
        "s-1", "Sales bot", "whatsapp", "Ann", "DE")
    assert s.responsible.operator is not None and s.responsible.operator.name == "Dana"


HEADER = b'{"format": "supervisor-desk-export", "version": 1'


def test_a_session_nested_a_million_levels_deep_is_one_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(HEADER + b', "sessions": [{"session": ' + b"[" * 1_000_000 + b"]}")
    with pytest.raises(ExportFileError, match="session #1 is nested too deeply"):
        check_export(deep)
    assert "nested too deeply" in _problem(deep)
    head = tmp_path / "deep_header.jsonl"
    head.write_bytes(b"[" * 1_000_000 + b"\n")
    with pytest.raises(ExportFileError, match="line 1 is nested too deeply"):
        check_export(head)
    # A JSONL line is a record of its own: skipped and counted, the rest still opens.
    lines = tmp_path / "deep_line.jsonl"
    write_export(lines, "jsonl", make_records(2))
    with lines.open("ab") as f:
        f.write(b'{"session": ' + b"[" * 1_000_000 + b"\n")
    reader = ExportReader(lines)
    assert len(reader.read_all()) == 2 and reader.report.skipped == 1
    cell = tmp_path / "deep_cell.csv"
    cell.write_text("id,agent,channel,status,started_at,parameters\r\n"
                    f"a,Bot,web,completed,2026-03-01T10:00:00.000Z,{'[' * 100_000}\r\n",
                    encoding="utf-8")
    reader = ExportReader(cell)
    assert reader.read_all() == [] and "nested too deeply" in reader.report.problems[0]


def test_more_sessions_than_offline_review_holds_are_refused_naming_the_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.jsonl"
    write_export(path, "jsonl", make_records(3000, n_messages=2))
    assert path.stat().st_size > 1024 * 1024  # bigger than the head the estimate reads
    with pytest.raises(ExportFileError) as info:
        check_export(path, max_sessions=1000)
    assert "about 3," in info.value.problem
    assert "at most 1,000 sessions" in info.value.problem
    assert "export a filtered subset" in info.value.problem
    check_export(path, max_sessions=3000)  # near the limit: left to the exact count
    reader = ExportReader(path, batch_size=400, max_sessions=2500)
    kept: list[int] = []
    with pytest.raises(ExportFileError, match="more than 2,500 sessions"):
        for batch in reader.batches():
            kept.append(len(batch))
    assert sum(kept) == 2500  # what was read is kept, as for a truncated file


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_files_saved_by_other_tools_open(tmp_path: Path, fmt: str) -> None:
    """A UTF-8 byte order mark, Windows line ends, pretty-printed JSON, and gzip."""
    records = make_records(6, n_messages=3)
    plain = tmp_path / f"plain.{fmt}"
    write_export(plain, fmt, records)  # type: ignore[arg-type]
    text = plain.read_text(encoding="utf-8")
    if fmt == "json":
        variants = {"pretty": json.dumps(json.loads(text), indent=2, ensure_ascii=False)}
    else:
        variants = {"crlf": text.replace("\r\n", "\n").replace("\n", "\r\n")}
    variants["bom"] = "\ufeff" + variants.get("crlf", variants.get("pretty", text))
    expected = [r.session for r in records]
    for name, content in variants.items():
        path = tmp_path / f"{name}.{fmt}"
        path.write_bytes(content.encode("utf-8"))
        check_export(path)
        reader = ExportReader(path)
        entries = reader.read_all()
        assert [e.summary for e in entries] == expected, name
        assert reader.report.skipped == 0, (name, reader.report.problems)
        if fmt != "csv":
            assert reader.read_record(entries[-1]) == records[-1], name
    packed = tmp_path / f"packed.{fmt}.gz"
    packed.write_bytes(gzip.compress(variants["bom"].encode("utf-8")))
    check_export(packed)
    reader = ExportReader(packed)
    entries = reader.read_all()
    assert [e.summary for e in entries] == expected
    if fmt != "csv":
        assert reader.read_record(entries[2]) == records[2]
    copy = reader.data_path
    assert copy != packed and copy.exists()
    reader.close()
    assert not copy.exists()
    broken = tmp_path / f"broken.{fmt}.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ExportFileError, match="not a readable gzip file"):
        check_export(broken)
