"""Background work on the offline index hands the interpreter lock over between small steps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from supervisor_desk.models import lock_slices
from supervisor_desk.models.export import ExportReader, write_export
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.lock_slices import LockSlicer, lock_sliced
from supervisor_desk.models.offline_index import OfflineIndex, raw_transcripts
from tests.models.export_samples import make_records

RECORDS = make_records(30)


class _CountedYields:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        time.sleep(0)


def test_a_slicer_gives_way_once_its_slice_is_used_up(monkeypatch: pytest.MonkeyPatch) -> None:
    given = _CountedYields()
    monkeypatch.setattr(lock_slices, "_give_way", given)
    slicer = LockSlicer(slice_s=3600.0)
    for _ in range(100):
        slicer.tick()
    assert given.calls == 0  # within its slice: straight on
    slicer = LockSlicer(slice_s=0.0)
    for _ in range(100):
        slicer.tick()
    assert given.calls == 100


def test_normalising_gives_way_per_slice_and_keeps_every_transcript(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", RECORDS)
    entries = ExportReader(path).read_all()
    at_once = OfflineIndex(path)
    at_once.add(entries)
    given = _CountedYields()
    monkeypatch.setattr(lock_slices, "_give_way", given)
    monkeypatch.setattr(lock_slices, "LOCK_SLICE_S", 0.0)  # every step uses up its slice
    sliced = OfflineIndex(path)
    sliced.add(entries, raw_transcripts(entries), normalized=False)
    assert sliced.normalize_transcripts() == 0
    assert given.calls == len(entries)
    for text in ("cancel", "CAFÉ", "zurich", "order refund"):
        flt = SessionFilter(text=text)
        assert sliced.matching_ids(flt) == at_once.matching_ids(flt)
    assert sliced.matching_ids(SessionFilter(text="zurich"))


def test_a_pass_over_every_row_gives_way_per_step_and_sees_every_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    given = _CountedYields()
    monkeypatch.setattr(lock_slices, "_give_way", given)
    rows = list(range(1000))
    assert list(lock_sliced(rows, slice_s=0.0)) == rows
    assert given.calls == -(-len(rows) // lock_slices.STEP_ITEMS)  # once per step of items
