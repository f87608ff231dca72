"""Listening in the app: a recording imported into a real hub, the chat's placeholder and
transcript over the real feed, the player fetching with the user's token (Range requests),
seeking from a click on a message, Save as…, and sound reaching a PulseAudio null sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QSlider

from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.views.chat.model import ObjectRole
from supervisor_desk.views.chat.pane import DetailPane
from supervisor_desk.views.chat.recording_player import RecordingPlayer
from supervisor_desk.views.tasks import standalone_scope
from tests.audio_samples import HAVE_SPEECH_TOOLS, Spoken, make_call
from tests.audio_samples import recognise_at_full_speed as recognise_at_full_speed
from tests.helpers import wait_until
from tests.sound_server import PulseNullSink, null_sink_or_skip
from tests.views.voice_desk import chat_texts, voice_desk

pytestmark = pytest.mark.skipif(
    not HAVE_SPEECH_TOOLS, reason="espeak-ng and sox come from scripts/system-deps.sh")


DIALOGUE = (
    ("agent", "thank you for calling how can i help you today"),
    ("customer", "i would like a refund for my last invoice"),
)


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    return make_call(tmp_path_factory.mktemp("call"), DIALOGUE, 1.0)


@pytest.fixture
def pulse() -> Iterator[PulseNullSink]:
    yield from null_sink_or_skip()


def click_message(pane: DetailPane, message_id: str) -> None:
    chat = pane.chat
    position = next(i for i in range(chat.model.rowCount())
                    if (row := chat.model.index(i, 0).data(ObjectRole))
                    is not None and row.message is not None and row.message.id == message_id)
    index = chat.model.index(position, 0)
    chat.list_view.scrollTo(index)
    rect = chat.list_view.visualRect(index)
    QTest.mouseClick(chat.list_view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())


def test_an_imported_call_plays_under_its_transcript(
    running_hub: EmbeddedHub, call: tuple[Path, list[Spoken]], tmp_path: Path,
    pulse: PulseNullSink, qtbot: Any, qrun: Callable[..., Any],
) -> None:
    path, spoken = call
    original = path.read_bytes()

    async def scenario() -> None:
        async with voice_desk(running_hub.url, qtbot, size=(700, 600)) as desk:
            client, live, detail, pane = desk.client, desk.live, desk.detail, desk.pane
            answer = await client.import_audio(path, agent="Ada", channel="sip")
            session_id = answer.session.id
            live.watch(session_id)
            detail.select(session_id)
            player: RecordingPlayer = pane.chat.recording_player
            # The placeholder is in the chat while recognition is queued or running.
            await wait_until(lambda: any(t.startswith("Transcribing… ") and t.endswith(" %")
                                         for t in chat_texts(pane)), timeout=20)
            # The recording is playable before the transcript exists.
            await wait_until(lambda: player.playback is not None, timeout=20)
            assert player.isVisible()
            duration = int(answer.session.metadata["recording_duration_ms"])
            assert abs(player.slider.maximum() - duration) < 100

            # The transcript fills in over the feed; the placeholder goes.
            def spoken_messages() -> list[Any]:
                return pane.chat._spoken(session_id)

            await wait_until(
                lambda: len(spoken_messages()) >= 2
                and not any(t.startswith("Transcribing") for t in chat_texts(pane)),
                timeout=120)
            messages = spoken_messages()
            assert [m.author.role for m in messages][:2] == ["ai", "customer"]
            assert player.slider.segments == [(m.offset_ms, m.end_ms) for m in messages]

            # Clicking a message moves the player to where it was spoken.
            second = messages[1]
            click_message(pane, second.id)
            assert player.position_ms() == pytest.approx(second.offset_ms, abs=1)
            assert abs(second.offset_ms - spoken[1].start_ms) < 1000

            # Playing from there: frames reach the null sink, the position moves on, and the
            # message being spoken is the one highlighted.
            player.play()
            await wait_until(lambda: player.position_ms() > second.offset_ms + 300, timeout=10)
            await wait_until(lambda: pulse.peak() > 1000, timeout=10)
            assert player.playback is not None and player.playback.frames_played > 0
            assert pane.chat.speaking_message_id == second.id
            player.pause()

            # 2x: the position runs twice as fast through the recording.
            player.seek(0)
            speed_task = player.set_speed(2.0)
            assert speed_task is not None
            await speed_task
            assert player.playback.speed == 2.0
            player.play()
            await wait_until(lambda: player.position_ms() > 1500, timeout=10)
            player.pause()

            # The seek bar: a page step (a click in the groove) moves the playback there.
            before = player.position_ms()
            player.slider.triggerAction(QSlider.SliderAction.SliderPageStepAdd)
            await wait_until(lambda: player.position_ms() == player.slider.value())
            assert player.position_ms() == pytest.approx(min(before + 5000, duration), abs=2)
            assert player.time_label.text().endswith(f"/ 0:{duration // 1000:02d}")

            # Save as… writes the very bytes that were imported.
            dest = tmp_path / "saved.wav"
            task = player.save_as(dest)
            assert task is not None
            await task
            assert dest.read_bytes() == original
            assert player.status_label.text() == "Saved saved.wav"
            # The download on the chat's "Recording" card saves the same file.
            card = next(m for m in pane.chat._messages[session_id].values() if m.attachments)
            assert card.attachments[0].url == answer.file.url
            pane.chat.download_attachment(card.attachments[0], tmp_path / "card.wav")
            await wait_until(lambda: player.status_label.text() == "Saved card.wav")
            assert (tmp_path / "card.wav").read_bytes() == original

    qrun(scenario(), timeout=200)


def test_files_come_in_range_requests_with_the_users_token(
    running_hub: EmbeddedHub, call: tuple[Path, list[Spoken]], tmp_path: Path,
    qrun: Callable[..., Any],
) -> None:
    path, _ = call
    original = path.read_bytes()

    async def scenario() -> None:
        async with HubClient(running_hub.url) as client:
            await client.login("supervisor", "supervisor")
            answer = await client.import_audio(path, agent="Ada", channel="sip")
            sid, file_id = answer.session.id, answer.file.url
            assert file_id.startswith("hub:")
            # A seek in the middle: only those bytes, and the size of the whole.
            piece, total = await client.file_range(sid, file_id, 1000, 1999)
            assert (piece, total) == (original[1000:2000], len(original))
            tail, _ = await client.file_range(sid, file_id, len(original) - 10)
            assert tail == original[-10:]
            # A download in small ranges reassembles the file exactly.
            seen: list[tuple[int, int]] = []
            dest = tmp_path / "copy.wav"
            size = await client.download_file(sid, file_id, dest, lambda d, t: seen.append((d, t)),
                                              chunk=64 * 1024)
            assert size == len(original) and dest.read_bytes() == original
            assert len(seen) == -(-len(original) // (64 * 1024))
            # Without a token the hub refuses; the error is the hub's, nothing is written.
            anonymous = HubClient(running_hub.url)
            try:
                with pytest.raises(HubError) as refused:
                    await anonymous.download_file(sid, file_id, tmp_path / "no.wav")
                assert refused.value.unauthorized
            finally:
                await anonymous.aclose()
            assert not (tmp_path / "no.wav").exists()

    qrun(scenario(), timeout=60)
    assert not list(tmp_path.glob(".copy.wav.*"))  # no temporary file left behind


def test_a_sessions_audio_attachment_on_the_hub_is_played_too(
    running_hub: EmbeddedHub, call: tuple[Path, list[Spoken]], qtbot: Any,
    qrun: Callable[..., Any],
) -> None:
    import httpx

    from tests.client.hub_events import message, started
    from tests.conftest import ingest

    original = call[0].read_bytes()
    ingest(running_hub, [started("v1", modality="voice", channel="phone")])
    uploaded = httpx.post(
        f"{running_hub.url}/api/v1/sessions/v1/files", params={"name": "voicemail.wav"},
        content=original, headers={"Authorization": f"Bearer {running_hub.ingest_token}"})
    assert uploaded.status_code == 201, uploaded.text
    note = message("v1", "voicemail left")
    note["data"]["attachments"] = [{"name": "voicemail.wav", "mime": "audio/wav",
                                    "size": len(original), "url": uploaded.json()["url"]}]
    # A link elsewhere is never fetched, even when it claims to be audio.
    other = message("v1", "elsewhere")
    other["data"]["attachments"] = [{"name": "x.wav", "mime": "audio/wav",
                                     "url": "https://example.invalid/x.wav"}]
    ingest(running_hub, [other, note])

    async def scenario() -> None:
        async with voice_desk(running_hub.url, qtbot, user="viewer") as desk:
            desk.detail.select("v1")
            player = desk.pane.chat.recording_player
            await wait_until(lambda: player.playback is not None, timeout=20)
            assert player.file is not None and player.file.name == "voicemail.wav"
            task = player.save_as(player.file.with_name("saved.wav"))
            assert task is not None
            await task
            assert player.file.with_name("saved.wav").read_bytes() == original

    qrun(scenario(), timeout=60)


def test_playback_streams_in_range_requests_and_a_seek_fetches_from_its_offset(
    running_hub: EmbeddedHub, tmp_path: Path, qtbot: Any, qrun: Callable[..., Any],
) -> None:
    import wave

    import httpx
    import numpy as np

    from supervisor_desk.client.recording_stream import CHUNK, RecordingSource
    from tests.client.hub_events import started
    from tests.conftest import ingest

    rate = 16_000  # 60 s of mono 16-bit: 1.92 MB, eight chunks
    samples = (np.sin(np.arange(rate * 60) * 0.07) * 6000).astype(np.int16)
    wav = tmp_path / "long.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    original = wav.read_bytes()
    ingest(running_hub, [started("long1", modality="voice", channel="phone")])
    uploaded = httpx.post(
        f"{running_hub.url}/api/v1/sessions/long1/files", params={"name": "long.wav"},
        content=original, headers={"Authorization": f"Bearer {running_hub.ingest_token}"})
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["id"]

    async def scenario() -> None:
        client = HubClient(running_hub.url)
        player = RecordingPlayer(tasks=standalone_scope("player"))
        qtbot.addWidget(player)
        asked: list[int] = []

        async def read_range(first: int, last: int) -> tuple[bytes, int]:
            asked.append(first // CHUNK)
            return await client.file_range("long1", file_id, first, last)

        async def whole(dest: Path) -> Any:
            raise AssertionError("a file of the hub is streamed, not fetched whole")

        try:
            await client.login("viewer", "viewer")
            player.load(RecordingSource(whole, read_range), "long.wav")
            await wait_until(lambda: player.playback is not None, timeout=20)
            assert asked[0] == 0 and player.slider.maximum() == 60_000
            # Decoding runs ahead of the play position by 10 s at most: the rest waits.
            await wait_until(lambda: player.playback is not None
                             and player.playback._decode.frames() >= 10 * rate, timeout=20)
            assert max(asked) < 3
            # A seek far ahead fetches from its offset: the chunks in between never come.
            player.seek(50_000)
            offset_chunk = (44 + 50 * rate * 2) // CHUNK
            await wait_until(lambda: offset_chunk in asked, timeout=20)
            assert player.position_ms() == 50_000
            assert not {3, 4, 5} & set(asked)
            # Save as… fetches what is missing and writes the very bytes.
            dest = tmp_path / "saved.wav"
            task = player.save_as(dest)
            assert task is not None
            await task
            assert dest.read_bytes() == original
            assert sorted(set(asked)) == list(range(-(-len(original) // CHUNK)))
        finally:
            player.clear()
            await player.tasks.aclose()
            await client.aclose()

    qrun(scenario(), timeout=60)
