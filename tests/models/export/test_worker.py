"""Reading an export in a child process: the same entries, errors and guarantees as in-process."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from supervisor_desk.models.export import (
    ExportFileError,
    ExportReader,
    IndexedSession,
    write_export,
)
from supervisor_desk.models.export.worker import (
    PICKLE_RECORDS,
    ExportReadProcess,
    ReadProcessStartError,
)
from supervisor_desk.models.lock_slices import foreground
from supervisor_desk.models.offline_index import raw_transcripts
from tests.models.export_samples import make_records

BAD = Path(__file__).parents[1] / "bad_files"


def _read(reader: ExportReadProcess) -> tuple[list[IndexedSession], list[str | None]]:
    entries: list[IndexedSession] = []
    transcripts: list[str | None] = []
    for batch, texts in reader.batches():
        entries += batch
        transcripts += texts
    return entries, transcripts


def _gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False  # still there (a zombie counts: nobody reaped it)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_child_process_reads_what_the_reader_reads_in_batches(tmp_path: Path, fmt: str) -> None:
    records = make_records(30, n_messages=3)
    path = tmp_path / f"e.{fmt}"
    write_export(path, fmt, records)  # type: ignore[arg-type]
    here = ExportReader(path).read_all()
    reader = ExportReadProcess(path, first_batch=4, batch=10)
    batches = list(reader.batches())
    assert [len(b) for b, _ in batches] == [4, 10, 10, 6]
    entries = [e for b, _ in batches for e in b]
    assert [(e.summary, e.offset, e.length) for e in entries] == [
        (e.summary, e.offset, e.length) for e in here]
    # The texts cross once, as each session's transcript.
    assert [t for _, texts in batches for t in texts] == raw_transcripts(here)
    assert reader.header is not None and reader.report.sessions == 30
    assert reader.report.bytes_read == path.stat().st_size
    # Equal parts are shared again across batches (the index's memory bound relies on it).
    assert entries[0].summary.agent is entries[27].summary.agent
    assert _gone(reader.pid)
    reader.close()


def test_batches_received_while_the_qt_thread_paints_wait_between_pieces_and_read_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(2 * PICKLE_RECORDS + 30, n_messages=2))
    here = ExportReader(path).read_all()
    waits: list[float] = []

    def stand_aside(timeout: float = 0.0) -> bool:
        waits.append(timeout)
        return True

    monkeypatch.setattr(type(foreground), "wait_until_idle", stand_aside)
    reader = ExportReadProcess(path, first_batch=10, batch=1000)
    with foreground:  # a paint throughout: the receiving thread stands aside per piece
        entries, transcripts = _read(reader)
    assert len(waits) == 1 + 3  # the first batch's one piece, then three of 100 records
    assert [(e.summary, e.offset, e.length) for e in entries] == [
        (e.summary, e.offset, e.length) for e in here]
    assert transcripts == raw_transcripts(here)


def test_bad_lines_are_skipped_with_their_line_numbers_and_a_truncated_file_keeps_its_rows(
) -> None:
    reader = ExportReadProcess(BAD / "garbage_lines.jsonl")
    entries, _ = _read(reader)
    assert [e.summary.id for e in entries] == ["s0000", "s0001"]
    assert reader.report.skipped == 3 and reader.report.problems[0].startswith("line ")
    reader = ExportReadProcess(BAD / "truncated.json")
    kept: list[IndexedSession] = []
    with pytest.raises(ExportFileError, match="ends early") as info:
        for batch, _ in reader.batches():
            kept += batch
    assert str(info.value).startswith("truncated.json: ")
    assert [e.summary.id for e in kept] == ["s0000", "s0001"]  # what precedes the damage


def test_a_gzip_file_is_decompressed_into_a_copy_removed_on_close(tmp_path: Path) -> None:
    plain = tmp_path / "p.jsonl"
    write_export(plain, "jsonl", make_records(5, n_messages=2))
    packed = tmp_path / "p.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    reader = ExportReadProcess(packed)
    entries, _ = _read(reader)
    copy = reader.data_path
    assert copy != packed and copy.read_bytes() == plain.read_bytes()
    assert ExportReader(plain).read_record(entries[3]).session.id == "s0003"
    reader.close()
    assert not copy.exists()


def test_cancel_ends_the_child_at_once_and_leaves_no_process(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_export(path, "jsonl", make_records(3000, n_messages=2))
    reader = ExportReadProcess(path, first_batch=10, batch=10)
    batches = reader.batches()
    next(batches)
    reader.cancel()  # the pipe is full: the child is blocked writing
    with pytest.raises(ExportFileError, match="cancelled"):
        for _ in batches:
            pass
    assert _gone(reader.pid)
    reader.close()


def test_a_crashed_child_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(3))
    reader = ExportReadProcess(path)
    reader.max_sessions = -5  # the child refuses its arguments: it exits with status 2
    reader.first_batch = 0
    with pytest.raises(ExportFileError) as info:
        _read(reader)
    assert str(info.value).startswith("e.jsonl: ")
    reader.close()


@pytest.mark.parametrize("interpreter", ["/nonexistent/python", "/bin/false"])
def test_a_child_that_cannot_start_is_told_apart_from_one_that_failed_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interpreter: str
) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(3))
    monkeypatch.setattr("sys.executable", interpreter)
    reader = ExportReadProcess(path)
    with pytest.raises(ReadProcessStartError) as info:
        _read(reader)
    assert str(info.value).startswith("e.jsonl: ")
    reader.close()


def test_the_reading_process_imports_no_index_nor_numpy() -> None:
    """Its start-up is before the first rows: the index (NumPy, analytics) is the app's."""
    import subprocess
    import sys

    probe = ("import sys, supervisor_desk.models.export.worker; "
             "print(sorted({'numpy', 'supervisor_desk.models.offline_index'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
