"""Alert sounds play through a real sound server (PulseAudio with a null sink)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from supervisor_desk.client.audio import SOUND_NAMES, AudioError, AudioOutput, load_wav, sound_path
from tests.sound_server import PulseNullSink, null_sink_or_skip


@pytest.fixture
def pulse() -> Iterator[PulseNullSink]:
    yield from null_sink_or_skip()


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_bundled_sounds_are_short_and_loadable() -> None:
    for name in SOUND_NAMES:
        clip = load_wav(sound_path(name))
        assert 0.1 < clip.seconds < 1.0


def test_unknown_sound_is_a_clear_error() -> None:
    with pytest.raises(AudioError, match="no bundled sound"):
        AudioOutput().play_sound("klaxon")


def test_sound_reaches_the_null_sink(pulse: PulseNullSink) -> None:
    output = AudioOutput(volume=1.0)
    try:
        assert wait_for(lambda: pulse.recording.exists())
        assert output.play_sound("alarm") > 0
        assert wait_for(lambda: pulse.peak() > 3000), "no samples reached the sink"
    finally:
        output.close()


def test_muted_output_plays_nothing(pulse: PulseNullSink) -> None:
    output = AudioOutput(volume=1.0, muted=True)
    assert output.play_sound("chime") == 0.0
    assert not output.busy
    output.close()


def test_volume_scales_the_samples(pulse: PulseNullSink) -> None:
    output = AudioOutput(volume=0.1)
    try:
        output.play_sound("alarm")
        assert wait_for(lambda: pulse.peak() > 500)
        assert pulse.peak() < 4000  # the alarm peaks near 23,000 at full volume
    finally:
        output.close()
