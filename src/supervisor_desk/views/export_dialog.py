"""Export (Ctrl+E): the active History filters to CSV (visible columns), JSON or JSONL.

The hub streams the file (``GET /sessions/export``) straight to disk through
``HubClient.export`` — a task of :class:`ExportViewModel`, never a blocking call — with a byte
counter for progress and Cancel. A CSV keeps the table's visible columns (plus the few a CSV
needs to be reopened offline); that projection runs on a worker thread. The file chooser is
a non-modal ``QFileDialog.open()`` starting in the last export folder.

JSON/JSONL can take the voice sessions' recordings along (opt-in): fetched from the hub with
the user's token into ``<file>.recordings/`` beside the export, or packed with it into one
``.zip`` bundle (:mod:`supervisor_desk.models.export.recordings`), so offline review plays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.export import project_csv
from supervisor_desk.models.export.recordings import (
    recordings_dir,
    recordings_in,
    write_bundle,
)
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.views.history.describe import filter_chips
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.session_table_model import SessionColumn
from supervisor_desk.views.tasks import TaskScope, standalone_scope

ExportFormat = Literal["csv", "json", "jsonl"]
RecordingsMode = Literal["none", "beside", "zip"]
RECORDINGS_LABELS: dict[str, str] = {
    "none": "Without recordings",
    "beside": "With recordings, in a folder beside the file",
    "zip": "With recordings, all in one .zip bundle",
}
FORMAT_LABELS: dict[str, str] = {
    "csv": "CSV — one row per session, the table's visible columns",
    "json": "JSON — sessions with messages and logs",
    "jsonl": "JSONL — one session per line, with messages and logs (best for big exports)",
}
# The hub's CSV columns for each table column (PROTOCOL: "CSV: the table's columns").
CSV_COLUMNS_OF: dict[SessionColumn, tuple[str, ...]] = {
    SessionColumn.STATUS: ("status",),
    SessionColumn.ID: ("session_id",),
    SessionColumn.AGENT: ("agent",),
    SessionColumn.CHANNEL: ("channel",),
    SessionColumn.RESPONSIBLE: ("responsible", "operator"),
    SessionColumn.USER: ("user",),
    SessionColumn.TEAM: ("team",),
    SessionColumn.START: ("started_at",),
    SessionColumn.WAIT: ("wait_seconds",),
    SessionColumn.DURATION: ("duration_seconds",),
    SessionColumn.LAST_MESSAGE: ("last_message_at",),
    SessionColumn.MESSAGES: ("message_count",),
    SessionColumn.COUNTRY: ("country",),
    SessionColumn.IP: ("ip",),
    SessionColumn.FINISH: ("ended_at",),
    SessionColumn.STATE: ("status", "end_reason"),
}
# Always kept: without them a CSV cannot be opened again for offline review.
CSV_REQUIRED_COLUMNS = ("session_id", "status", "agent", "channel", "started_at")


def _project(source: Path, dest: Path, columns: list[str]) -> int:
    project_csv(source, dest, columns)
    return dest.stat().st_size


def csv_columns(visible: Iterable[SessionColumn]) -> list[str]:
    names = list(CSV_REQUIRED_COLUMNS)
    for column in visible:
        names.extend(n for n in CSV_COLUMNS_OF.get(column, ()) if n not in names)
    return names


def default_file_name(fmt: str, now: datetime | None = None) -> str:
    return f"sessions-{(now or datetime.now()).strftime('%Y%m%d-%H%M%S')}.{fmt}"


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class ExportClient(Protocol):
    async def export(self, fmt: Any, flt: Any, dest: Path,
                     progress: Callable[[int], None] | None = None) -> int: ...
    async def download_file(self, session_id: str, file_id: str, dest: Path,
                            progress: Callable[[int, int], None] | None = None) -> int: ...


class ExportViewModel(QObject):
    """One export at a time: progress in bytes, Cancel, the outcome as a sentence."""

    progress_changed = Signal(int)  # bytes received
    running_changed = Signal(bool)
    finished = Signal(str, int)  # path, bytes
    failed = Signal(str)
    cancelled = Signal()

    running = ObservableProperty(False)

    def __init__(self, client: ExportClient | None = None, parent: QObject | None = None, *,
                 tasks: TaskScope | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.tasks = tasks or standalone_scope("export")
        self._task: asyncio.Task[Any] | None = None
        # The CSV projection's thread: started by the first CSV export, ended by aclose().
        self._projector: ThreadPoolExecutor | None = None
        self.recordings_exported = 0  # how many recordings the last export took along

    def start(self, fmt: ExportFormat, flt: SessionFilter, dest: Path,
              columns: list[str] | None = None, recordings: RecordingsMode = "none") -> None:
        if self.running or self.client is None:
            return
        if fmt == "csv":
            recordings = "none"  # a CSV has no transcripts to play them against
        if recordings == "none":
            self._task = self.tasks.spawn(self._export(fmt, flt, Path(dest), columns), "export")
        else:
            self._task = self.tasks.spawn(
                self._export_with_recordings(fmt, flt, Path(dest), recordings), "export")
        # Reported from the task's end, so a cancel before its first step is reported too.
        self._task.add_done_callback(self._on_task_done)
        self.running = True

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.running = False
            self.cancelled.emit()

    def cancel(self) -> None:
        if self.running and self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        await self.tasks.aclose()
        if self._projector is not None:
            self._projector.shutdown(wait=True)
            self._projector = None

    async def _export_with_recordings(self, fmt: ExportFormat, flt: SessionFilter, dest: Path,
                                      mode: RecordingsMode) -> None:
        """The export, then every hub recording its sessions point at; a bundle zips both."""
        assert self.client is not None
        client = self.client
        work: Path | None = None
        target = dest
        if mode == "zip":
            work = Path(await asyncio.to_thread(
                tempfile.mkdtemp, prefix=f".{dest.name}.", dir=dest.parent))
            target = work / f"{dest.stem}.{fmt}"
        folder = recordings_dir(target)
        try:
            size = await client.export(fmt, flt, target, self.progress_changed.emit)
            refs = await asyncio.to_thread(recordings_in, target)
            if refs:
                await asyncio.to_thread(folder.mkdir, exist_ok=True)
            done = size
            for ref in refs:
                path = folder / ref.relpath
                await asyncio.to_thread(path.parent.mkdir, exist_ok=True)
                done += await client.download_file(ref.session_id, ref.file_id, path)
                self.progress_changed.emit(done)
            if work is not None:
                size = await asyncio.to_thread(write_bundle, target, dest)
            else:
                size = done
        except Exception as exc:  # the user sees why and can try again
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            if work is None:  # the export itself is whole; recordings half-fetched are not
                await asyncio.to_thread(shutil.rmtree, folder, True)
            self.running = False
            self.failed.emit(f"Export failed: {message}")
            return
        finally:
            if work is not None:
                await asyncio.to_thread(shutil.rmtree, work, True)
        self.running = False
        self.recordings_exported = len(refs)
        self.finished.emit(str(dest), size)

    async def _export(self, fmt: ExportFormat, flt: SessionFilter, dest: Path,
                      columns: list[str] | None) -> None:
        assert self.client is not None
        target = dest
        if fmt == "csv" and columns is not None:
            # The hub writes every table column; the projection to the visible ones follows.
            target = dest.with_name(f".{dest.name}.all.part")
        try:
            size = await self.client.export(fmt, flt, target, self.progress_changed.emit)
            if target != dest:
                if self._projector is None:
                    self._projector = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="csv-projection")
                loop = asyncio.get_running_loop()
                size = await loop.run_in_executor(
                    self._projector, _project, target, dest, columns or [])
        except Exception as exc:  # the user sees why and can try again
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self.running = False
            self.failed.emit(f"Export failed: {message}")
            return
        finally:
            if target != dest:
                with contextlib.suppress(OSError):
                    os.unlink(target)
        self.running = False
        self.finished.emit(str(dest), size)


class ExportDialog(QDialog):
    """Choose format and file, watch progress, cancel; opened with ``open()``."""

    folder_chosen = Signal(str)  # remember as the last export folder

    def __init__(self, view_model: ExportViewModel, flt: SessionFilter, *,
                 visible_columns: Iterable[SessionColumn] = tuple(SessionColumn),
                 matching: int | None = None, last_folder: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export sessions")
        self.vm = view_model
        self.filter = flt
        self.columns = csv_columns(visible_columns)
        self.folder = Path(last_folder) if last_folder and Path(last_folder).is_dir() \
            else Path.home()
        self.file_dialog: QFileDialog | None = None
        layout = QVBoxLayout(self)
        chips = [c.label for c in filter_chips(flt)]
        scope = "All sessions" if not chips else "Sessions matching: " + "; ".join(chips)
        if matching is not None:
            scope += f" ({matching:,} session{'s' if matching != 1 else ''})"
        self.scope_label = QLabel(scope, self)
        self.scope_label.setTextFormat(Qt.TextFormat.PlainText)
        self.scope_label.setWordWrap(True)
        layout.addWidget(self.scope_label)
        self.formats = QButtonGroup(self)
        self.format_buttons: dict[str, QRadioButton] = {}
        for fmt, label in FORMAT_LABELS.items():
            button = QRadioButton(label, self)
            self.formats.addButton(button)
            self.format_buttons[fmt] = button
            layout.addWidget(button)
        self.format_buttons["jsonl"].setChecked(True)
        self.formats.buttonToggled.connect(self._on_formats_button_toggled)
        self.recordings_box = QComboBox(self)
        for mode, label in RECORDINGS_LABELS.items():
            self.recordings_box.addItem(label, mode)
        self.recordings_box.setToolTip(
            "Voice sessions' recordings, fetched from the hub, so offline review can play them")
        self.recordings_box.currentIndexChanged.connect(self._on_recordings_box_changed)
        layout.addWidget(self.recordings_box)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(self.folder / default_file_name("jsonl")), self)
        self.path_edit.setAccessibleName("Export file")
        row.addWidget(self.path_edit, 1)
        self.browse_button = QPushButton("Choose…", self)
        self.browse_button.clicked.connect(self.choose_file)
        row.addWidget(self.browse_button)
        layout.addLayout(row)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export", self)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)
        self.vm.progress_changed.connect(self._on_vm_progress_changed)
        self.vm.finished.connect(self._on_vm_finished)
        self.vm.failed.connect(self._on_vm_failed)
        self.vm.cancelled.connect(self._on_vm_cancelled)
        self.vm.running_changed.connect(self._on_vm_running_changed)
        self.resize(620, 260)

    def selected_format(self) -> ExportFormat:
        for fmt, button in self.format_buttons.items():
            if button.isChecked():
                return fmt  # type: ignore[return-value]
        return "jsonl"

    def set_format(self, fmt: ExportFormat) -> None:
        self.format_buttons[fmt].setChecked(True)

    def recordings_mode(self) -> RecordingsMode:
        if self.selected_format() == "csv":
            return "none"
        return self.recordings_box.currentData()  # type: ignore[no-any-return]

    def set_recordings_mode(self, mode: RecordingsMode) -> None:
        self.recordings_box.setCurrentIndex(self.recordings_box.findData(mode))

    def _file_suffix(self) -> str:
        return "zip" if self.recordings_mode() == "zip" else self.selected_format()

    def _on_recordings_box_changed(self, _index: int) -> None:
        path = self.destination()
        if path.suffix.lstrip(".") in (*FORMAT_LABELS, "zip"):
            self.set_destination(path.with_suffix(f".{self._file_suffix()}"))

    def destination(self) -> Path:
        return Path(self.path_edit.text()).expanduser()

    def set_destination(self, path: Path) -> None:
        self.path_edit.setText(str(path))

    def choose_file(self) -> QFileDialog:
        fmt = self._file_suffix()
        dialog = QFileDialog(self, "Export sessions to", str(self.destination()))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(fmt)
        dialog.setNameFilters([f"{fmt.upper()} files (*.{fmt})", "All files (*)"])
        dialog.fileSelected.connect(lambda name: self.set_destination(Path(name)))
        self.file_dialog = dialog
        dialog.open()
        return dialog

    def start(self) -> None:
        dest = self.destination()
        if not dest.parent.is_dir():
            self.status_label.setText(f"The folder {dest.parent} does not exist")
            return
        fmt = self.selected_format()
        self.folder_chosen.emit(str(dest.parent))
        self.status_label.setText("Starting…")
        self.vm.start(fmt, self.filter, dest, self.columns if fmt == "csv" else None,
                      recordings=self.recordings_mode())

    def _on_formats_button_toggled(self, _button: Any, checked: bool) -> None:
        if not checked:
            return
        self.recordings_box.setEnabled(self.selected_format() != "csv")
        path = self.destination()
        if path.suffix.lstrip(".") in (*FORMAT_LABELS, "zip"):
            self.set_destination(path.with_suffix(f".{self._file_suffix()}"))

    def _on_cancel_clicked(self) -> None:
        if self.vm.running:
            self.vm.cancel()
        else:
            self.reject()

    def _on_vm_running_changed(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.export_button.setEnabled(not running)
        self.browse_button.setEnabled(not running)
        for button in self.format_buttons.values():
            button.setEnabled(not running)
        self.recordings_box.setEnabled(not running and self.selected_format() != "csv")
        self.cancel_button.setText("Cancel export" if running else "Close")

    def _on_vm_progress_changed(self, received: int) -> None:
        self.status_label.setText(f"{human_bytes(received)} received…")

    def _on_vm_finished(self, path: str, size: int) -> None:
        self.status_label.setText(f"Exported {human_bytes(size)} to {path}")

    def _on_vm_failed(self, message: str) -> None:
        self.status_label.setText(message)

    def _on_vm_cancelled(self) -> None:
        self.status_label.setText("Export cancelled; no file was written")
