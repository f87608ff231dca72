"""Dropping exported files on a window: export files are accepted and reported, others not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMainWindow

from supervisor_desk.views.file_drop import ExportFileDrop, dropped_export_paths
from tests.views.history_data import dispose_qt


def _mime(*paths: str) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) if p.startswith("/") else QUrl(p) for p in paths])
    return mime


def _drop(window: QMainWindow, mime: QMimeData) -> tuple[bool, bool]:
    """Sends a drag-enter then a drop; returns whether each was accepted."""
    where = QPointF(10, 10)
    actions = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(where, actions, mime, buttons, mods)
    enter.setAccepted(False)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(where, actions, mime, buttons, mods)
    drop.setAccepted(False)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_export_files_are_accepted_and_reported(qapp: Any, tmp_path: Path) -> None:
    window = QMainWindow()
    drop = ExportFileDrop(window)
    dropped: list[list[Path]] = []
    drop.files_dropped.connect(dropped.append)
    assert window.acceptDrops()
    files = [str(tmp_path / n) for n in ("a.jsonl", "b.CSV", "c.json.gz", "notes.txt")]
    assert _drop(window, _mime(*files)) == (True, True)
    assert dropped == [[Path(files[0]), Path(files[1]), Path(files[2])]]
    assert _drop(window, _mime(str(tmp_path / "photo.png"), "https://example.com/x.json")) == (
        False, False)
    assert len(dropped) == 1
    dispose_qt(window)


def test_only_local_export_files_count() -> None:
    assert dropped_export_paths(None) == []
    assert dropped_export_paths(_mime("/tmp/x.ndjson", "/tmp/y.jsonl.gz", "/tmp/z.gz")) == [
        Path("/tmp/x.ndjson"), Path("/tmp/y.jsonl.gz")]
