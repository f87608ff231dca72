"""Alert sounds play through a real sound server (PulseAudio with a null sink)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_desk.client.audio import (
    DEVICE_RETRY_S,
    KEEP_IDLE_S,
    SOUND_NAMES,
    AudioError,
    AudioOutput,
    load_wav,
    sound_path,
)
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


def test_without_a_device_plays_fail_at_once_until_the_next_look(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No sound server: the first play says so; the next ones within a minute fail without
    looking (no probe of every backend at each alert), and once a server is there the next
    look after the minute plays through it."""
    if not PulseNullSink.available():
        pytest.skip("needs pulseaudio, parec and pactl")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-server-here")
    now = [1000.0]
    output = AudioOutput(volume=1.0, clock=lambda: now[0], backends=("pulseaudio",))
    sink = PulseNullSink()
    try:
        with pytest.raises(AudioError, match="no sound device") as first:
            output.play_sound("alarm")
        assert not first.value.repeated
        assert output.device_error is not None
        sink.start()  # a server now, but not looked for before the minute is up
        assert wait_for(lambda: sink.recording.exists())
        now[0] += DEVICE_RETRY_S - 1
        with pytest.raises(AudioError, match="no sound device") as again:
            output.play_sound("alarm")
        assert again.value.repeated
        time.sleep(0.3)
        assert sink.peak() == 0  # nothing was opened
        now[0] += 1
        assert output.play_sound("alarm") > 0
        assert output.device_error is None
        assert wait_for(lambda: sink.peak() > 3000), "no samples reached the sink"
    finally:
        output.close()
        sink.stop()


def test_a_finished_sounds_device_is_kept_for_the_next_sound_then_closed(
        pulse: PulseNullSink) -> None:
    """Opening a device for each chime cost ~7 ms of CPU; the next sound within a minute
    starts the kept one (stopped meanwhile: nothing plays or wakes), and a minute unused
    closes it."""
    now = [1000.0]
    output = AudioOutput(volume=1.0, clock=lambda: now[0])
    try:
        assert wait_for(lambda: pulse.recording.exists())
        seconds = output.play_sound("alarm")
        assert wait_for(lambda: pulse.peak() > 3000)
        time.sleep(seconds)
        now[0] += seconds + 1
        output.reap()
        assert not output.busy and output.open_devices == 1
        assert output.next_reap_in() == pytest.approx(KEEP_IDLE_S - 1 + seconds, abs=0.5)
        mark = pulse.recorded()
        time.sleep(0.3)
        assert pulse.peak(since=mark) == 0  # stopped: silence

        mark = pulse.recorded()
        output.play_sound("alarm")
        assert wait_for(lambda: pulse.peak(since=mark) > 3000), "the kept device played nothing"
        assert output.devices_opened == 1 and output.busy

        now[0] += seconds + 1 + KEEP_IDLE_S
        output.reap()
        assert output.open_devices == 0 and output.next_reap_in() is None
    finally:
        output.close()
