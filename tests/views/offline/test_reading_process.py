"""Offline review of a big file read in a child process: the same rows, skips and transcripts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervisor_desk.models.export import write_export
from supervisor_desk.models.export.worker import ExportReadProcess
from supervisor_desk.views.offline import OfflineReview, OfflineWindow
from tests.helpers import wait_until
from tests.models.export_samples import make_records
from tests.views.history_data import dispose_qt


def _read_in_window(path: Path, qrun: Callable[..., Any],
                    check: Callable[[OfflineWindow], None]) -> None:
    """Open ``path`` for review, wait until it is read and shown, ``check`` the window."""
    review = OfflineReview()
    window = review.open(path)
    assert window is not None

    async def scenario() -> None:
        await wait_until(lambda: window.loader.done, 20)
        await wait_until(lambda: not window.history_vm.loading, 5)
        check(window)
        await window.aclose()

    qrun(scenario())
    dispose_qt(window.error_box, window, review)


def test_a_big_file_is_read_in_a_child_process_with_the_same_rows_and_skips(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any], monkeypatch: Any
) -> None:
    from supervisor_desk.views.offline import loader

    monkeypatch.setattr(loader, "PROCESS_FROM_BYTES", 0)  # "big": every file to the child
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(600, n_messages=2))
    with path.open("a", encoding="utf-8") as f:
        f.write("{not json\n")  # one bad line at the end: line 602

    def check(window: OfflineWindow) -> None:
        assert isinstance(window.loader.reader, ExportReadProcess)
        assert window.history_vm.total == 600
        assert window.loader.report.skipped == 1
        assert window.loader.report.problems[0].startswith("line 602: invalid JSON")
        index = window.loader.index
        assert index is not None
        # Byte ranges from the child: a transcript read back from the file is that session's.
        record = index.record("s0042")
        assert record.session.id == "s0042" and len(record.messages) == 2

    _read_in_window(path, qrun, check)


def test_a_big_file_is_read_in_a_thread_when_the_child_cannot_start(
    tmp_path: Path, qapp: Any, qrun: Callable[..., Any], monkeypatch: Any
) -> None:
    import sys

    from supervisor_desk.models.export import ExportReader
    from supervisor_desk.views.offline import loader

    monkeypatch.setattr(loader, "PROCESS_FROM_BYTES", 0)
    # An interpreter that exits at once without a frame: the child "started" but never ran.
    monkeypatch.setattr(sys, "executable", "/bin/false")
    path = tmp_path / "e.jsonl"
    write_export(path, "jsonl", make_records(300, n_messages=2))

    def check(window: OfflineWindow) -> None:
        assert not window.loader.error
        assert isinstance(window.loader.reader, ExportReader)
        assert window.history_vm.total == 300
        assert window.loader.report.sessions == 300

    _read_in_window(path, qrun, check)
