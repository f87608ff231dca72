"""Short sound playback, Qt-free: bundled alert sounds now, reusable by a voice player later.

Backed by ``miniaudio`` (a 0.6 MB wheel with its own WAV/MP3/FLAC/Vorbis decoders; it plays
through PulseAudio/PipeWire or ALSA) rather than QtMultimedia, which only ships in the large
PySide6-Addons. The library is imported by :meth:`AudioOutput.warm_up` on a worker thread
once sounds are in use (importing it costs ~90 ms, opening the first device ~70 ms more: paid
on the Qt thread at the first alert, that was a visible stall), else on the first play.
Each sound plays on a playback device (miniaudio's native thread, no Python thread). Once its
sound has finished, :meth:`AudioOutput.reap` stops the device (a paused stream: no thread
wakes) and keeps it for the next sound of the same format for :data:`KEEP_IDLE_S`, then
closes it: opening a device (a context, a connection to the sound server, a stream) cost the
Qt thread ~1.2 ms and the process ~7 ms a chime, starting a kept one ~0.1 ms and ~4 ms.

Without a sound device (a remote desktop, a VM, the server gone) a play fails, and the next
ones fail at once for :data:`DEVICE_RETRY_S` before the devices are looked for again: every
look probes each backend (PulseAudio, ALSA's cards, JACK...), costs the Qt thread ~1-20 ms
and makes ALSA print some forty lines on stderr, and a busy floor's alerts would pay it every
two seconds all shift. The error says whether it is news (:attr:`AudioError.repeated`) so the
caller reports it once, not at each alert.
"""

from __future__ import annotations

import array
import logging
import time
import wave
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOUNDS_DIR = Path(__file__).resolve().parent.parent / "resources" / "sounds"
SOUND_NAMES: tuple[str, ...] = ("chime", "alarm", "soft")
# After the last sample, keep the device open this long so the server drains its buffer.
_DRAIN_S = 0.35
# After a device could not be opened, plays fail at once this long before the next look.
DEVICE_RETRY_S = 60.0
# A stopped device is kept this long for the next sound, then closed.
KEEP_IDLE_S = 60.0


class AudioError(RuntimeError):
    """No sound could be played (no library, no device, a bad file): the reason in words.

    ``repeated``: the same failure as the last play's (no device still), already reported.
    """

    def __init__(self, message: str, *, repeated: bool = False) -> None:
        super().__init__(message)
        self.repeated = repeated


@dataclass(frozen=True, slots=True)
class Clip:
    """Decoded mono or stereo 16-bit PCM."""

    samples: array.array[int]
    rate: int
    channels: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.channels / self.rate


def load_wav(path: Path) -> Clip:
    """A 16-bit PCM WAV file (the bundled sounds), with a clear error otherwise."""
    try:
        with wave.open(str(path), "rb") as source:
            if source.getsampwidth() != 2:
                raise AudioError(f"{path.name}: only 16-bit WAV is supported")
            frames = source.readframes(source.getnframes())
            samples = array.array("h")
            samples.frombytes(frames)
            return Clip(samples, source.getframerate(), source.getnchannels())
    except (OSError, wave.Error, EOFError) as exc:
        raise AudioError(f"cannot read {path.name}: {exc}") from None


def sound_path(name: str) -> Path:
    if name not in SOUND_NAMES:
        raise AudioError(f"no bundled sound called {name!r}")
    return SOUNDS_DIR / f"{name}.wav"


def scaled(clip: Clip, volume: float) -> array.array[int]:
    if volume >= 1.0:
        return clip.samples
    factor = max(0.0, volume)
    return array.array("h", (int(s * factor) for s in clip.samples))


class AudioOutput:
    """Plays clips with a volume (0..1) and a mute; one instance per app."""

    def __init__(self, *, volume: float = 0.8, muted: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 backends: Sequence[str] = ()) -> None:
        self.volume = volume
        self.muted = muted
        self._clock = clock
        # miniaudio's backend names to try, in order ("pulseaudio", "alsa"...); () = all.
        self._backends = tuple(backends)
        # Why no device could be opened, and when to look again (None: the last play worked).
        self.device_error: str | None = None
        self._retry_at = 0.0
        self._clips: dict[str, Clip] = {}
        # Samples at a volume, per (sound, volume): scaling a clip in Python costs ~3 ms.
        self._scaled: dict[tuple[str, float], array.array[int]] = {}
        self._devices: list[_Device] = []
        self.played = 0
        self.devices_opened = 0

    def clip(self, name: str) -> Clip:
        if name not in self._clips:
            self._clips[name] = load_wav(sound_path(name))
        return self._clips[name]

    @staticmethod
    def warm_up() -> None:
        """Import the playback library now (blocking: call it off the UI thread)."""
        try:
            import miniaudio  # noqa: F401 - the import is the point
        except ImportError:
            pass  # play() says so when a sound is wanted

    def play_sound(self, name: str) -> float:
        """Play a bundled sound; returns its length in seconds (0 when muted)."""
        if self.muted or self.volume <= 0:
            return 0.0
        clip = self.clip(name)
        key = (name, self.volume)
        pcm = self._scaled.get(key)
        if pcm is None:
            if len(self._scaled) > 16:  # the volume slider moved many times
                self._scaled.clear()
            pcm = self._scaled[key] = scaled(clip, self.volume)
        return self.play(clip, pcm)

    def play(self, clip: Clip, pcm: array.array[int] | None = None) -> float:
        """Play ``clip`` (``pcm``: its samples already at this volume)."""
        if self.muted or self.volume <= 0:
            return 0.0
        try:
            import miniaudio
        except ImportError as exc:
            raise AudioError(f"sound playback is not installed ({exc})") from None
        self.reap()
        now = self._clock()
        if self.device_error is not None and now < self._retry_at:
            raise AudioError(self.device_error, repeated=True)
        if pcm is None:
            pcm = scaled(clip, self.volume)
        stream = _frames(pcm, clip.channels)
        next(stream)
        kept = self._kept((clip.channels, clip.rate))
        if kept is not None:
            try:
                kept.device.start(stream)
            except miniaudio.MiniaudioError:  # the server went away under it: open anew
                self._devices.remove(kept)
                kept.device.close()
                kept = None
        if kept is None:
            kept = self._open(miniaudio, clip, stream, now)
        kept.ends_at = now + clip.seconds + _DRAIN_S
        kept.playing = True
        self.device_error = None
        self.played += 1
        return clip.seconds

    def _kept(self, fmt: tuple[int, int]) -> _Device | None:
        return next((d for d in self._devices if not d.playing and d.fmt == fmt), None)

    def _open(self, miniaudio: Any, clip: Clip, stream: Generator[array.array[int], int, None],
              now: float) -> _Device:
        try:
            device = miniaudio.PlaybackDevice(
                output_format=miniaudio.SampleFormat.SIGNED16,
                nchannels=clip.channels, sample_rate=clip.rate,
                backends=[miniaudio.Backend[b.upper()] for b in self._backends] or None,
                app_name="Supervisor Desk",
            )
        except miniaudio.MiniaudioError as exc:
            repeated = self.device_error is not None
            self.device_error = f"no sound device: {exc}"
            self._retry_at = now + DEVICE_RETRY_S
            raise AudioError(self.device_error, repeated=repeated) from None
        self.devices_opened += 1
        try:
            device.start(stream)
        except miniaudio.MiniaudioError as exc:
            device.close()
            raise AudioError(f"the sound device did not start: {exc}") from None
        kept = _Device((clip.channels, clip.rate), device)
        self._devices.append(kept)
        return kept

    @property
    def busy(self) -> bool:
        """A sound is playing (or draining)."""
        return any(d.playing for d in self._devices)

    @property
    def open_devices(self) -> int:
        return len(self._devices)

    def next_reap_in(self) -> float | None:
        """Seconds until :meth:`reap` has something to do (None: no device open)."""
        if not self._devices:
            return None
        now = self._clock()
        return max(0.0, min((d.ends_at if d.playing else d.ends_at + KEEP_IDLE_S) - now
                            for d in self._devices))

    def reap(self) -> None:
        """Stop the devices whose sound has finished; close those unused for KEEP_IDLE_S."""
        now = self._clock()
        for kept in list(self._devices):
            if kept.playing and kept.ends_at <= now:
                kept.playing = False
                try:
                    kept.device.stop()
                except Exception:  # a device that cannot stop is closed
                    kept.ends_at = now - KEEP_IDLE_S
            if not kept.playing and kept.ends_at + KEEP_IDLE_S <= now:
                self._devices.remove(kept)
                kept.device.close()

    def close(self) -> None:
        devices, self._devices = self._devices, []
        for kept in devices:
            kept.device.close()


@dataclass(slots=True)
class _Device:
    """A playback device and what it plays: ``ends_at`` is when its sound has drained."""

    fmt: tuple[int, int]  # (channels, rate)
    device: Any
    ends_at: float = 0.0
    playing: bool = False


def _frames(pcm: array.array[int], channels: int) -> Generator[array.array[int], int, None]:
    """miniaudio's pull generator: hands out the requested frames, then silence."""
    position = 0
    wanted = yield array.array("h")
    while True:
        count = wanted * channels
        chunk = pcm[position:position + count]
        position += count
        if len(chunk) < count:
            chunk.frombytes(bytes(2 * (count - len(chunk))))
        wanted = yield chunk
