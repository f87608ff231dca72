"""Drag and drop of exported files onto a window (the main window and offline review).

One event filter instead of a ``dragEnterEvent``/``dropEvent`` pair per window: it accepts a
drag that carries at least one local export file and emits the dropped files' paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QWidget

# What offline review opens (models/export format_of decides; this only screens the drag).
EXPORT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")


def is_export_name(path: Path) -> bool:
    name = path.name.lower()
    # .zip: an export bundled with its recordings.
    return name.endswith((*EXPORT_SUFFIXES, ".zip")) or name.endswith(
        tuple(s + ".gz" for s in EXPORT_SUFFIXES))


def dropped_export_paths(mime: Any) -> list[Path]:
    """The local export files a drag carries (other URLs and file types are ignored)."""
    if mime is None or not mime.hasUrls():
        return []
    return [
        Path(url.toLocalFile())
        for url in mime.urls()
        if url.isLocalFile() and is_export_name(Path(url.toLocalFile()))
    ]


class ExportFileDrop(QObject):
    """Makes ``target`` accept dropped export files; ``files_dropped`` carries their paths."""

    files_dropped = Signal(list)  # [Path]

    def __init__(self, target: QWidget) -> None:
        super().__init__(target)
        target.setAcceptDrops(True)
        target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # By type, not isinstance: a QDragEnterEvent is a QDropEvent too.
        if event.type() == QEvent.Type.DragEnter:
            assert isinstance(event, QDragEnterEvent)
            if dropped_export_paths(event.mimeData()):
                event.acceptProposedAction()
                return True
        elif event.type() == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            paths = dropped_export_paths(event.mimeData())
            if paths:
                event.acceptProposedAction()
                self.files_dropped.emit(paths)
                return True
        return False
