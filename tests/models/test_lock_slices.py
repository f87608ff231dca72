"""Background work on the offline index stands aside while the Qt thread paints."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from supervisor_desk.models import lock_slices
from supervisor_desk.models.export import ExportReader, write_export
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.lock_slices import (
    BUSY_SWITCH_INTERVAL_S,
    LockSlicer,
    foreground,
    lock_sliced,
    short_switch_interval,
)
from supervisor_desk.models.offline_index import OfflineIndex, raw_transcripts
from tests.models.export_samples import make_records

RECORDS = make_records(30)


class _CountedWaits:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, timeout: float = 0.0) -> bool:
        self.calls += 1
        return True


def test_a_slicer_runs_on_unless_the_qt_thread_is_in_foreground_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _CountedWaits()
    monkeypatch.setattr(type(foreground), "wait_until_idle", waits)
    slicer = LockSlicer()
    for _ in range(100):
        slicer.tick()
    assert waits.calls == 0  # nobody paints: straight on, no system call
    with foreground:
        with foreground:  # nested stretches (a paint inside a model reset)
            slicer.tick()
        slicer.tick()
    slicer.tick()
    assert waits.calls == 2
    assert not foreground.busy


def test_a_background_thread_waits_for_the_foreground_stretch_to_end() -> None:
    passed = threading.Event()

    def background() -> None:
        LockSlicer().tick()
        passed.set()

    with foreground:
        thread = threading.Thread(target=background)
        thread.start()
        # Standing aside: it waits, the lock released (this thread runs meanwhile).
        assert not passed.wait(0.05)
    assert passed.wait(5)
    thread.join(5)


def test_normalising_stands_aside_per_transcript_and_keeps_every_transcript(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", RECORDS)
    entries = ExportReader(path).read_all()
    at_once = OfflineIndex(path)
    at_once.add(entries)
    waits = _CountedWaits()
    monkeypatch.setattr(type(foreground), "wait_until_idle", waits)
    sliced = OfflineIndex(path)
    sliced.add(entries, raw_transcripts(entries), normalized=False)
    with foreground:  # the Qt thread paints throughout: a wait before every transcript
        assert sliced.normalize_transcripts() == 0
    assert waits.calls == len(entries)
    for text in ("cancel", "CAFÉ", "zurich", "order refund"):
        flt = SessionFilter(text=text)
        assert sliced.matching_ids(flt) == at_once.matching_ids(flt)
    assert sliced.matching_ids(SessionFilter(text="zurich"))


def test_a_pass_over_every_row_stands_aside_per_step_and_sees_every_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _CountedWaits()
    monkeypatch.setattr(type(foreground), "wait_until_idle", waits)
    rows = list(range(1000))
    with foreground:
        assert list(lock_sliced(rows)) == rows
    assert waits.calls == -(-len(rows) // lock_slices.STEP_ITEMS)  # once per step of items


def test_adding_a_batch_stands_aside_per_step_and_keeps_every_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(600))
    entries = ExportReader(path).read_all()
    at_once = OfflineIndex(path)
    at_once.add(entries, raw_transcripts(entries), normalized=False)
    waits = _CountedWaits()
    monkeypatch.setattr(type(foreground), "wait_until_idle", waits)
    sliced = OfflineIndex(path)
    with foreground:  # the Qt thread paints throughout: the batch waits at every step
        sliced.add(entries, raw_transcripts(entries), normalized=False)
    # The row loop and the sort columns' pass, each once per step of rows.
    assert waits.calls == 2 * -(-len(entries) // lock_slices.STEP_ITEMS)
    assert len(sliced) == len(at_once) == 600
    for flt, sort in ((SessionFilter(), "-started_at"), (SessionFilter(q="customer"), "wait"),
                      (SessionFilter(status=("completed",)), "message_count")):
        assert sliced.query(flt, sort, 0, 600) == at_once.query(flt, sort, 0, 600)


def test_the_switch_interval_is_short_while_any_load_runs_and_restored_after() -> None:
    before = sys.getswitchinterval()
    with short_switch_interval():
        assert sys.getswitchinterval() == pytest.approx(BUSY_SWITCH_INTERVAL_S)
        with short_switch_interval():  # a second window reading a file
            pass
        assert sys.getswitchinterval() == pytest.approx(BUSY_SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(before)
