"""Opening files into offline review windows: the quick check, error dialogs, recent files.

A ``.zip`` bundle (an export with its recordings) is unpacked into a private temporary folder,
removed when its window goes; the export inside is reviewed and its recordings play.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from supervisor_desk.models.export import MAX_REVIEW_SESSIONS, ExportFileError, check_export
from supervisor_desk.models.export.recordings import BundleError, open_bundle
from supervisor_desk.views.offline.window import OfflineWindow
from supervisor_desk.views.tasks import TaskScope, standalone_scope


class OfflineReview(QObject):
    """Opens files into offline windows and remembers them (recent files, error dialogs)."""

    window_opened = Signal(object)  # OfflineWindow

    def __init__(
        self,
        parent_window: QWidget | None = None,
        *,
        time_zone: tzinfo | None = None,
        remember: Callable[[Path], None] | None = None,
        tasks: TaskScope | None = None,
    ) -> None:
        super().__init__(parent_window)
        self._parent = parent_window
        self._tz = time_zone
        self._remember = remember
        self.tasks = tasks or standalone_scope("offline-review")
        self.windows: list[OfflineWindow] = []
        self.error_box: QMessageBox | None = None

    def open(self, path: Path) -> OfflineWindow | None:
        """Check the file quickly, then open its window and read it in the background."""
        path = opened = Path(path)
        unpacked: Path | None = None
        try:
            if path.suffix.lower() == ".zip":
                unpacked = Path(tempfile.mkdtemp(prefix="sd-bundle-"))
                path = open_bundle(opened, unpacked)
            check_export(path, max_sessions=MAX_REVIEW_SESSIONS)
        except (ExportFileError, BundleError) as exc:
            if unpacked is not None:
                shutil.rmtree(unpacked, ignore_errors=True)
            self._show_error(str(exc))
            return None
        window = OfflineWindow(
            path, time_zone=self._tz, tasks=self.tasks.owner.scope(f"offline:{path.name}"))
        if unpacked is not None:
            folder = unpacked
            window.destroyed.connect(lambda *_: shutil.rmtree(folder, ignore_errors=True))
        # Destroyed by Qt on close, on this thread (never by Python's GC on another thread).
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.files_dropped.connect(self._on_window_files_dropped)
        window.destroyed.connect(lambda *_: self._forget(window))
        self.windows.append(window)
        if self._remember is not None:
            self._remember(opened)
        window.show()
        window.start()
        self.window_opened.emit(window)
        return window

    def set_time_zone(self, tz: tzinfo | None) -> None:
        """View → Time zone: the windows opened from now on, and the open ones."""
        self._tz = tz
        for window in self.windows:
            window.set_time_zone(tz)

    def _on_window_files_dropped(self, paths: list[Path]) -> None:
        for path in paths:
            self.open(path)

    def _forget(self, window: OfflineWindow) -> None:
        if window in self.windows:
            self.windows.remove(window)

    def _show_error(self, text: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "Cannot open the file",
            text,
            QMessageBox.StandardButton.Ok,
            self._parent,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        self.error_box = box
        box.open()

    async def aclose(self) -> None:
        for window in list(self.windows):
            await window.aclose()
            window.close()
