"""Opening files into offline review windows: the quick check, error dialogs, recent files.

A ``.zip`` bundle (an export with its recordings) is unpacked into a private temporary folder,
removed when its window goes; the export inside is reviewed and its recordings play. The
unpacking runs in a worker thread behind an "Opening…" dialog (closing it gives up), so the
app stays responsive however big the export inside.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressDialog, QWidget

from supervisor_desk.models.export import MAX_REVIEW_SESSIONS, ExportFileError, check_export
from supervisor_desk.models.export.recordings import BundleError, open_bundle
from supervisor_desk.views.offline.window import OfflineWindow
from supervisor_desk.views.tasks import TaskScope, standalone_scope


class OfflineReview(QObject):
    """Opens files into offline windows and remembers them (recent files, error dialogs)."""

    window_opened = Signal(object)  # OfflineWindow
    opening_changed = Signal(bool)  # a bundle is being unpacked

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
        self.opening_box: QProgressDialog | None = None

    def open(self, path: Path) -> OfflineWindow | None:
        """Check the file quickly, then open its window and read it in the background.

        A ``.zip`` bundle is unpacked in a worker thread first: its window comes later, with
        ``window_opened`` (``None`` here).
        """
        path = Path(path)
        if path.suffix.lower() == ".zip":
            self._start_bundle(path)
            return None
        try:
            check_export(path, max_sessions=MAX_REVIEW_SESSIONS)
        except ExportFileError as exc:
            self._show_error(str(exc))
            return None
        return self._open_window(path, opened=path, unpacked=None)

    def _start_bundle(self, bundle: Path) -> None:
        box = QProgressDialog(self._parent)
        label = QLabel(f"Opening {bundle.name}…", box)
        label.setTextFormat(Qt.TextFormat.PlainText)  # a file's name is never markup
        box.setLabel(label)
        box.setCancelButtonText("Cancel")
        box.setRange(0, 0)  # busy: unpacking has no progress of its own to show
        box.setWindowTitle("Opening")
        box.setMinimumDuration(0)
        self.opening_box = box
        task = self.tasks.spawn(self._open_bundle(bundle), f"open-bundle:{bundle.name}")
        box.canceled.connect(task.cancel)
        # However the task ends (even cancelled before it ran), the dialog goes with it.
        task.add_done_callback(lambda _: self._end_opening(box))
        box.show()
        self.opening_changed.emit(True)

    def _end_opening(self, box: QProgressDialog) -> None:
        if self.opening_box is box:
            self.opening_box = None
        box.canceled.disconnect()
        box.close()
        box.deleteLater()
        self.opening_changed.emit(False)

    async def _open_bundle(self, bundle: Path) -> None:
        unpacked = Path(tempfile.mkdtemp(prefix="sd-bundle-"))
        unpacking = asyncio.get_running_loop().run_in_executor(
            None, _unpack_and_check, bundle, unpacked)
        try:
            # Shielded: a cancel waits for the thread's member before the folder goes.
            path = await asyncio.shield(unpacking)
        except (ExportFileError, BundleError) as exc:
            shutil.rmtree(unpacked, ignore_errors=True)
            self._show_error(str(exc))
            return
        except asyncio.CancelledError:
            await asyncio.gather(unpacking, return_exceptions=True)
            shutil.rmtree(unpacked, ignore_errors=True)
            raise
        self._open_window(path, opened=bundle, unpacked=unpacked)

    def _open_window(self, path: Path, *, opened: Path,
                     unpacked: Path | None) -> OfflineWindow:
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
        self.tasks.cancel()  # a bundle still being unpacked
        await self.tasks.aclose()
        for window in list(self.windows):
            await window.aclose()
            window.close()


def _unpack_and_check(bundle: Path, into: Path) -> Path:
    """A worker thread's part: the export out of the bundle, then its quick check."""
    path = open_bundle(bundle, into)
    check_export(path, max_sessions=MAX_REVIEW_SESSIONS)
    return path
