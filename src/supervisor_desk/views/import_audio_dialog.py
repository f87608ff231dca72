"""File → Import session from audio…: pick a recording, the agent and the channel; upload.

``ImportAudioViewModel`` owns the upload (``HubClient.import_audio``, streamed from disk) in
its task scope; ``ImportAudioDialog`` is the form. The hub answers at once with the new voice
session, which then arrives in Live over the feed with its "Transcribing… N %" placeholder;
``imported`` carries its id so the app can select it. Errors (unsupported or silent audio, a
file over the hub's limit, no permission) are the hub's words, shown in the dialog, which
stays open with everything the user entered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from supervisor_desk.models.markers import CHANNEL_LABELS
from supervisor_desk.models.wire import CHANNELS, ImportAnswer, NamedItem
from supervisor_desk.views.detail_viewmodel import describe_error
from supervisor_desk.views.tasks import TaskScope, standalone_scope

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".oga", ".mp3")
AUDIO_FILTER = "Recordings (*.wav *.flac *.ogg *.opus *.oga *.mp3);;All files (*)"
VOICE_CHANNELS = ("sip", "phone", *[c for c in CHANNELS if c not in ("sip", "phone")])


class ImportClient(Protocol):
    async def import_audio(self, path: Path, *, agent: str, channel: str = "phone",
                           customer: str | None = None, agent_role: str | None = None,
                           progress: Callable[[int, int], None] | None = None,
                           ) -> ImportAnswer: ...
    async def agents(self) -> list[NamedItem]: ...


class ImportAudioViewModel(QObject):
    busy_changed = Signal(bool)
    progress_changed = Signal(int, int)  # bytes sent, bytes in the file
    imported = Signal(object)  # ImportAnswer
    failed = Signal(str)
    cancelled = Signal()
    agents_loaded = Signal(list)  # [str] agent names the hub knows

    def __init__(self, client: ImportClient | None, parent: QObject | None = None, *,
                 tasks: TaskScope | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.tasks = tasks or standalone_scope("import-audio")
        self._task: asyncio.Task[Any] | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def load_agents(self) -> None:
        if self.client is not None:
            self.tasks.spawn(self._load_agents(), "import-audio-agents")

    async def _load_agents(self) -> None:
        assert self.client is not None
        try:
            agents = await self.client.agents()
        except asyncio.CancelledError:
            raise
        except Exception:  # the agent is typed in then; nothing lost
            return
        self.agents_loaded.emit(sorted({a.name for a in agents}))

    def start(self, path: Path, agent: str, channel: str,
              customer: str = "") -> asyncio.Task[Any] | None:
        problem = check_request(path, agent, channel)
        if problem is not None:
            self.failed.emit(problem)
            return None
        if self.client is None:
            self.failed.emit("Importing needs a hub connection: sign in first.")
            return None
        if self.busy:
            return self._task
        self._task = self.tasks.spawn(
            self._upload(path, agent.strip(), channel, customer.strip()), "import-audio")
        self.busy_changed.emit(True)
        return self._task

    def cancel(self) -> bool:
        """Cut the upload off (the hub keeps nothing); False when none was running."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            return True
        return False

    async def _upload(self, path: Path, agent: str, channel: str, customer: str) -> None:
        assert self.client is not None
        try:
            answer = await self.client.import_audio(
                path, agent=agent, channel=channel, customer=customer or None,
                progress=self.progress_changed.emit)
        except asyncio.CancelledError:
            self.busy_changed.emit(False)
            self.cancelled.emit()
            raise
        except OSError as exc:
            self.busy_changed.emit(False)
            self.failed.emit(f"Cannot read {path.name}: {exc.strerror or exc}")
            return
        except Exception as exc:  # the hub's reason, shown in the dialog
            self.busy_changed.emit(False)
            self.failed.emit(f"The hub did not import {path.name}: {describe_error(exc)}")
            return
        self.busy_changed.emit(False)
        self.imported.emit(answer)


def check_request(path: Path, agent: str, channel: str) -> str | None:
    """What is wrong with the form, in words (None: ready to upload)."""
    if not str(path) or not path.is_file():
        return "Choose a recording file (WAV, FLAC, OGG/Opus or MP3)."
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        return f"{path.name} is not a WAV, FLAC, OGG/Opus or MP3 file."
    if not agent.strip():
        return "Name the agent who took the call."
    if channel not in CHANNELS:
        return f"Unknown channel {channel!r}."
    return None


class ImportAudioDialog(QDialog):
    """Non-modal form; closes itself once the hub has made the session."""

    def __init__(self, view_model: ImportAudioViewModel, parent: QWidget | None = None, *,
                 start_folder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import session from audio")
        self.view_model = view_model
        self._start_folder = start_folder
        self.file_edit = QLineEdit(self)
        self.file_edit.setPlaceholderText("A WAV, FLAC, OGG/Opus or MP3 recording")
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.agent_box = QComboBox(self)
        self.agent_box.setEditable(True)
        agent_line = self.agent_box.lineEdit()
        if agent_line is not None:  # editable: always has one
            agent_line.setPlaceholderText("Agent's name")
        self.channel_box = QComboBox(self)
        for channel in VOICE_CHANNELS:
            self.channel_box.addItem(CHANNEL_LABELS.get(channel, channel), channel)
        self.customer_edit = QLineEdit(self)
        self.customer_edit.setPlaceholderText("Customer (optional)")
        hint = QLabel("Stereo recordings: customer on the left channel, agent on the right. "
                      "Mono recordings are transcribed with the speakers unknown.", self)
        hint.setWordWrap(True)
        hint.setProperty("tone", "secondary")
        form = QFormLayout()
        form.addRow("Recording:", file_row)
        form.addRow("Agent:", self.agent_box)
        form.addRow("Channel:", self.channel_box)
        form.addRow("Customer:", self.customer_edit)
        self.status_label = QLabel("", self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.import_button = self.buttons.addButton(
            "Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self._on_buttons_rejected)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        view_model.busy_changed.connect(self._on_vm_busy_changed)
        view_model.progress_changed.connect(self._on_vm_progress_changed)
        view_model.cancelled.connect(self._on_vm_cancelled)
        view_model.failed.connect(self._on_vm_failed)
        view_model.imported.connect(self._on_vm_imported)
        view_model.agents_loaded.connect(self._on_vm_agents_loaded)
        view_model.load_agents()

    def set_file(self, path: Path) -> None:
        self.file_edit.setText(str(path))

    def _on_browse_button_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Choose a recording", self._start_folder,
                                              AUDIO_FILTER)
        if name:
            self.set_file(Path(name))

    def _on_buttons_accepted(self) -> None:
        self.status_label.setText("")
        self.view_model.start(Path(self.file_edit.text().strip()),
                              self.agent_box.currentText(),
                              str(self.channel_box.currentData()), self.customer_edit.text())

    def _on_buttons_rejected(self) -> None:
        # Cancel during an upload stops it and keeps the form; Cancel again closes.
        if not self.view_model.cancel():
            self.reject()

    def reject(self) -> None:  # Escape, the window's close button
        self.view_model.cancel()
        super().reject()

    def _on_vm_busy_changed(self, busy: bool) -> None:
        for widget in (self.file_edit, self.browse_button, self.agent_box, self.channel_box,
                       self.customer_edit, self.import_button):
            widget.setEnabled(not busy)
        self.progress_bar.setVisible(busy)
        if busy:
            self.progress_bar.setRange(0, 0)  # until the first chunk is sent
            self.status_label.setText("Uploading the recording…")

    def _on_vm_progress_changed(self, sent: int, total: int) -> None:
        # Kilobytes: a QProgressBar counts in int, and a file may pass 2 GiB.
        self.progress_bar.setRange(0, max(1, total // 1024))
        self.progress_bar.setValue(sent // 1024)
        self.status_label.setText(f"Uploading the recording… {_megabytes(sent)} of "
                                  f"{_megabytes(total)}")

    def _on_vm_cancelled(self) -> None:
        if isValid(self):
            self.status_label.setText("Upload cancelled; the hub kept nothing of it.")

    def _on_vm_failed(self, message: str) -> None:
        self.status_label.setText(message)

    def _on_vm_imported(self, answer: ImportAnswer) -> None:
        self.status_label.setText(f"Imported as {answer.session.id}; transcribing.")
        self.accept()

    def _on_vm_agents_loaded(self, names: list[str]) -> None:
        typed = self.agent_box.currentText()
        self.agent_box.clear()
        self.agent_box.addItems(names)
        self.agent_box.setCurrentText(typed)


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"
