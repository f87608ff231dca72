"""Export with recordings (opt-in): beside the file or in a .zip bundle, fetched from a real
hub with the user's token; the bundle reopens offline (hub stopped) and its recording plays
through a PulseAudio null sink."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor_desk.client.rest import HubClient
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.models.export.recordings import BundleError, open_bundle, recordings_dir
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.views.export_dialog import ExportDialog, ExportViewModel
from supervisor_desk.views.offline import OfflineReview, OfflineWindow
from supervisor_desk.views.tasks import standalone_scope
from tests.audio_samples import HAVE_SPEECH_TOOLS, Spoken, make_call
from tests.helpers import wait_until
from tests.sound_server import PulseNullSink, null_sink_or_skip

pytestmark = pytest.mark.skipif(
    not HAVE_SPEECH_TOOLS, reason="espeak-ng and sox come from scripts/system-deps.sh")


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    return make_call(tmp_path_factory.mktemp("call"),
                     (("agent", "thank you for calling"), ("customer", "i need a refund")), 0.8)


@pytest.fixture
def pulse() -> Iterator[PulseNullSink]:
    yield from null_sink_or_skip()


def test_exports_take_the_recordings_along_and_the_bundle_plays_offline(
    running_hub: EmbeddedHub, call: tuple[Path, list[Spoken]], tmp_path: Path,
    pulse: PulseNullSink, qtbot: Any, qrun: Callable[..., Any],
) -> None:
    original = call[0].read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    state: dict[str, Any] = {}

    async def export() -> None:
        client = HubClient(running_hub.url)
        scope = standalone_scope("export")
        vm = ExportViewModel(client, tasks=scope)
        done: list[tuple[str, int]] = []
        failed: list[str] = []
        vm.finished.connect(lambda path, size: done.append((path, size)))
        vm.failed.connect(failed.append)
        try:
            await client.login("supervisor", "supervisor")
            answer = await client.import_audio(call[0], agent="Ada", channel="sip")
            state["session"] = answer.session.id
            # The dialog offers the choice; JSONL with a bundle names the file .zip.
            dialog = ExportDialog(vm, SessionFilter())
            qtbot.addWidget(dialog)
            dialog.set_destination(out / "calls.jsonl")
            dialog.set_recordings_mode("zip")
            assert dialog.destination() == out / "calls.zip"
            dialog.set_format("csv")
            assert not dialog.recordings_box.isEnabled() and dialog.recordings_mode() == "none"
            dialog.set_format("jsonl")
            dialog.start()
            await wait_until(lambda: bool(done or failed), 30)
            assert not failed and done[0][0] == str(out / "calls.zip")
            assert vm.recordings_exported == 1
            # Beside the file: the same bytes the hub holds.
            done.clear()
            vm.start("json", SessionFilter(), out / "calls.json", recordings="beside")
            await wait_until(lambda: bool(done or failed), 30)
            assert not failed
        finally:
            await scope.aclose()
            await client.aclose()

    qrun(export(), timeout=60)
    session_id = state["session"]
    beside = list(recordings_dir(out / "calls.json").rglob("*"))
    files = [p for p in beside if p.is_file()]
    assert [p.read_bytes() for p in files] == [original]
    assert files[0].parent.name == session_id and files[0].suffix == ".wav"
    with zipfile.ZipFile(out / "calls.zip") as bundle:
        names = bundle.namelist()
    assert names[0] == "calls.jsonl" and len(names) == 2
    assert names[1].startswith("calls.jsonl.recordings/")
    assert sorted(p.name for p in out.iterdir()) == [
        "calls.json", "calls.json.recordings", "calls.zip"]  # no temporary files left
    running_hub.stop()  # offline from here on

    review = OfflineReview(tasks=standalone_scope("offline"))
    opened: list[OfflineWindow] = []
    review.window_opened.connect(opened.append)
    assert review.open(out / "calls.zip") is None  # its window comes once unpacked
    unpacked: list[Path] = []

    async def offline() -> None:
        try:
            await wait_until(lambda: bool(opened), 20)
            window = opened[0]
            # Opening takes only the export out; the recording waits in the bundle until played.
            assert not recordings_dir(window.path).exists()
            unpacked.append(window.path.parent)
            await wait_until(lambda: window.loader.done, 20)
            window.detail_vm.select(session_id)
            player = window.detail.chat.recording_player
            await wait_until(lambda: player.playback is not None or player.status_label.text()
                             .startswith("Recording unavailable"), 20)
            assert player.playback is not None, player.status_label.text()
            player.play()
            await wait_until(lambda: player.position_ms() > 500, 10)
            await wait_until(lambda: pulse.peak() > 1000, 10)
            player.pause()
            saved = tmp_path / "again.wav"
            task = player.save_as(saved)
            assert task is not None
            await task
        finally:
            await review.aclose()

    qrun(offline(), timeout=60)
    assert (tmp_path / "again.wav").read_bytes() == original
    qtbot.waitUntil(lambda: not unpacked[0].exists(), timeout=5000)  # gone with its window


def test_an_export_without_recordings_says_so_offline(
    running_hub: EmbeddedHub, call: tuple[Path, list[Spoken]], tmp_path: Path,
    qrun: Callable[..., Any],
) -> None:
    state: dict[str, Any] = {}

    async def export() -> None:
        async with HubClient(running_hub.url) as client:
            await client.login("supervisor", "supervisor")
            state["session"] = (await client.import_audio(
                call[0], agent="Ada", channel="sip")).session.id
            await client.export("jsonl", None, tmp_path / "plain.jsonl")

    qrun(export(), timeout=60)
    running_hub.stop()
    review = OfflineReview(tasks=standalone_scope("offline"))
    window = review.open(tmp_path / "plain.jsonl")
    assert window is not None

    async def offline() -> None:
        try:
            await wait_until(lambda: window.loader.done, 20)
            window.detail_vm.select(state["session"])
            player = window.detail.chat.recording_player
            await wait_until(lambda: player.status_label.text() ==
                             "Recording unavailable: This export was made without its recordings",
                             20)
        finally:
            await review.aclose()

    qrun(offline(), timeout=60)


def test_a_bundle_with_unexpected_entries_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as bundle:
        bundle.writestr("calls.jsonl", "{}\n")
        bundle.writestr("../escape.txt", "x")
    with pytest.raises(BundleError, match="unexpected entry"):
        open_bundle(bad, tmp_path / "into")
    assert not (tmp_path / "escape.txt").exists()
