"""File → Import session from audio…: the dialog uploads a recording made here to a real
hub; the session appears in Live with the "Transcribing… N %" placeholder; bad files get the
hub's reason in the dialog, which keeps what was entered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.wire import ImportAnswer
from supervisor_desk.views.import_audio_dialog import ImportAudioDialog, ImportAudioViewModel
from supervisor_desk.views.main_window import MainWindow
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.tasks import standalone_scope
from tests.audio_samples import HAVE_SPEECH_TOOLS, RATE, Spoken, make_call, write_wav
from tests.audio_samples import recognise_at_full_speed as recognise_at_full_speed
from tests.helpers import wait_until
from tests.views.voice_desk import voice_desk

pytestmark = pytest.mark.skipif(
    not HAVE_SPEECH_TOOLS, reason="espeak-ng and sox come from scripts/system-deps.sh")


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    return make_call(tmp_path_factory.mktemp("call"),
                     (("agent", "good morning you are speaking with ada"),
                      ("customer", "hello i have a question about my bill")), 0.8)


def test_file_menu_offers_the_import(qtbot: Any, tmp_path: Path) -> None:
    window = MainWindow(SessionTableModel(),
                        settings=QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert window.import_audio_action in window.file_menu.actions()
    assert window.import_audio_action.text() == "Import session from audio…"
    with qtbot.waitSignal(window.import_audio_requested):
        window.import_audio_action.trigger()
    window.allow_close()


def test_an_mp3_imported_from_the_dialog_shows_in_live_transcribing(
    running_hub: EmbeddedHub, call: tuple[Path, list[Spoken]], tmp_path: Path, qtbot: Any,
    qrun: Callable[..., Any],
) -> None:
    import subprocess

    mp3 = tmp_path / "call.mp3"
    subprocess.run(["sox", str(call[0]), str(mp3)], check=True)

    async def scenario() -> None:
        async with voice_desk(running_hub.url, qtbot) as desk:
            view_model = ImportAudioViewModel(desk.client, tasks=desk.scope)
            dialog = ImportAudioDialog(view_model)
            qtbot.addWidget(dialog)
            imported: list[ImportAnswer] = []
            view_model.imported.connect(imported.append)
            progress: list[tuple[int, int]] = []
            view_model.progress_changed.connect(
                lambda sent, total: progress.append((sent, total)))
            dialog.show()
            dialog.set_file(mp3)
            dialog.agent_box.setCurrentText("Ada")
            dialog.channel_box.setCurrentIndex(dialog.channel_box.findData("sip"))
            dialog.customer_edit.setText("Grace")
            dialog.import_button.click()
            assert dialog.status_label.text() == "Uploading the recording…"
            assert not dialog.import_button.isEnabled() and dialog.progress_bar.isVisible()
            await wait_until(lambda: bool(imported), timeout=30)
            assert dialog.result() == QDialog.DialogCode.Accepted
            size = mp3.stat().st_size
            assert progress[-1] == (size, size) and progress == sorted(progress)
            assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == size // 1024
            session = imported[0].session
            assert session.modality == "voice" and session.channel == "sip"
            assert session.agent.name == "Ada" and session.user.name == "Grace"
            assert imported[0].file.mime == "audio/mpeg"
            # The session is in Live; opened, its chat says it is being transcribed.
            await wait_until(lambda: desk.table.row_of(session.id) >= 0, timeout=20)
            desk.live.watch(session.id)
            desk.detail.select(session.id)
            await wait_until(
                lambda: any(t.startswith("Transcribing… ") for t in desk.chat_texts()),
                timeout=20)
            # … until the words arrive, each speaker from their channel.
            # (What pocketsphinx makes of espeak-ng's voices is the hub tests' business.)
            detail = desk.detail
            await wait_until(lambda: not any(t.startswith("Transcribing")
                                             for t in desk.chat_texts())
                             and detail.summary is not None
                             and detail.summary.metadata["transcription_state"] == "done",
                             timeout=90)
            spoken = [t.split(":")[0] for t in desk.chat_texts()
                      if t.startswith(("Ada:", "Grace:"))]
            assert spoken == ["Ada", "Grace"]

    qrun(scenario(), timeout=200)


def test_bad_files_are_explained_and_nothing_is_lost(
    running_hub: EmbeddedHub, tmp_path: Path, qtbot: Any, qrun: Callable[..., Any],
) -> None:
    silent = tmp_path / "silent.wav"
    write_wav(silent, [np.zeros(RATE * 2, np.int16)])
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("import")
        view_model = ImportAudioViewModel(client, tasks=scope)
        dialog = ImportAudioDialog(view_model)
        qtbot.addWidget(dialog)
        try:
            await client.login("supervisor", "supervisor")
            dialog.show()
            # Checked before anything is sent.
            dialog.import_button.click()
            assert dialog.status_label.text().startswith("Choose a recording file")
            dialog.set_file(notes)
            dialog.import_button.click()
            assert "is not a WAV, FLAC, OGG/Opus or MP3 file" in dialog.status_label.text()
            dialog.set_file(silent)
            dialog.import_button.click()
            assert dialog.status_label.text() == "Name the agent who took the call."
            # The hub's reason, and the form as the user left it.
            dialog.agent_box.setCurrentText("Ada")
            dialog.import_button.click()
            await wait_until(lambda: "silent" in dialog.status_label.text().lower(), timeout=20)
            assert dialog.status_label.text().startswith("The hub did not import silent.wav")
            assert dialog.isVisible() and dialog.import_button.isEnabled()
            assert dialog.file_edit.text() == str(silent)
            assert dialog.agent_box.currentText() == "Ada"
            page = await client.sessions()
            assert page.total == 0
            # A viewer may not import: said so.
            await client.logout()
            await client.login("viewer", "viewer")
            write_wav(tmp_path / "tone.wav",
                      [(np.sin(np.arange(RATE) * 0.05) * 8000).astype(np.int16)])
            dialog.set_file(tmp_path / "tone.wav")
            dialog.import_button.click()
            await wait_until(lambda: "(HTTP 403)" in dialog.status_label.text(), timeout=20)
        finally:
            await scope.aclose()
            await client.aclose()

    qrun(scenario(), timeout=60)


def test_an_upload_shows_its_progress_and_cancel_leaves_nothing_on_the_hub(
    running_hub: EmbeddedHub, tmp_path: Path, qtbot: Any, qrun: Callable[..., Any],
) -> None:
    big = tmp_path / "long.wav"  # 3 minutes of stereo noise: many chunks to cut off
    noise = np.random.default_rng(1).integers(-3000, 3000, RATE * 180, dtype=np.int16)
    write_wav(big, [noise, noise])
    blobs = running_hub.db_path.with_name(running_hub.db_path.name + ".files")

    def stored_files() -> set[Path]:
        return {p for p in blobs.rglob("*") if p.is_file()}

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("import")
        view_model = ImportAudioViewModel(client, tasks=scope)
        dialog = ImportAudioDialog(view_model)
        qtbot.addWidget(dialog)
        shown: list[str] = []

        def on_progress(sent: int, total: int) -> None:
            shown.append(dialog.status_label.text())
            if len(shown) == 2:  # half-way through, the user has had enough
                dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()

        view_model.progress_changed.connect(on_progress)
        try:
            await client.login("supervisor", "supervisor")
            before = (await client.sessions()).total
            stored = stored_files()
            dialog.show()
            dialog.set_file(big)
            dialog.agent_box.setCurrentText("Ada")
            dialog.import_button.click()
            await wait_until(lambda: not view_model.busy, timeout=20)
            total_mb = big.stat().st_size / 1e6
            assert shown[0] == f"Uploading the recording… 0.3 MB of {total_mb:.1f} MB"
            assert dialog.status_label.text() == "Upload cancelled; the hub kept nothing of it."
            assert dialog.isVisible() and dialog.import_button.isEnabled()
            assert not dialog.progress_bar.isVisible()
            # The hub dropped the part it had received.
            await wait_until(lambda: stored_files() == stored, 20)
            assert (await client.sessions()).total == before
        finally:
            await scope.aclose()
            await client.aclose()

    qrun(scenario(), timeout=60)
