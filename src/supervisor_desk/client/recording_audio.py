"""Recording playback, Qt-free: PyAV decodes a recording to PCM, miniaudio plays it.

The same output library as the alert sounds (:mod:`supervisor_desk.client.audio`, whose
``Clip`` and ``AudioError`` this reuses). A recording is decoded whole into memory once per
speed (a 10-minute stereo call at 16 kHz is ~38 MB at 1x); 1.5x and 2x go through FFmpeg's
``atempo`` filter so voices keep their pitch. Playback pulls from one device whose callback
(miniaudio's native thread) reads the shared position, so pause, seek and speed changes take
effect within one device period.
"""

from __future__ import annotations

import array
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

from supervisor_desk.client.audio import AudioError, Clip

SPEEDS: tuple[float, ...] = (1.0, 1.5, 2.0)
_MAX_CHANNELS = 2


def decode_recording(path: Path, speed: float = 1.0) -> Clip:
    """The recording as 16-bit interleaved PCM (mono or stereo), played at ``speed``."""
    import av
    from av.audio.resampler import AudioResampler

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path.name} holds no audio")
            stream = container.streams.audio[0]
            rate = stream.rate or 16_000
            channels = min(_MAX_CHANNELS, max(1, stream.channels or 1))
            layout = "stereo" if channels == 2 else "mono"
            graph: Any = None
            if speed != 1.0:
                graph = av.filter.Graph()
                source = graph.add_abuffer(template=stream)
                tempo = graph.add("atempo", str(speed))
                sink = graph.add("abuffersink")
                source.link_to(tempo)
                tempo.link_to(sink)
                graph.configure()
            resampler = AudioResampler(format="s16", layout=layout, rate=rate)
            pcm = array.array("h")

            def take(frame: Any) -> None:
                for out in resampler.resample(frame):
                    pcm.frombytes(bytes(out.planes[0])[: out.samples * channels * 2])

            def drain_graph() -> None:
                while True:
                    try:
                        take(graph.pull())
                    except (av.error.BlockingIOError, av.error.EOFError):
                        return

            for frame in container.decode(stream):
                if graph is None:
                    take(frame)
                else:
                    graph.push(frame)
                    drain_graph()
            if graph is not None:
                graph.push(None)
                drain_graph()
            take(None)
    except AudioError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(f"cannot decode {path.name}: {exc}") from None
    if not pcm:
        raise AudioError(f"{path.name} holds no sound")
    return Clip(pcm, rate, channels)


class RecordingPlayback:
    """Play/pause/seek/speed over decoded clips, one miniaudio device at a time.

    Positions are milliseconds of the recording (at 1x, whatever the speed). Thread-safe:
    the device's callback and the UI thread share ``_frame`` under a lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._clips: dict[float, Clip] = {}
        self._lock = threading.Lock()
        self._speed = 1.0
        self._frame = 0  # in the clip of the current speed
        self._playing = False
        self._device: Any = None
        self.frames_played = 0  # frames handed to the device (tests: the output accepted them)
        self._clip = self.clip(1.0)

    def clip(self, speed: float) -> Clip:
        if speed not in self._clips:
            self._clips[speed] = decode_recording(self.path, speed)
        return self._clips[speed]

    @property
    def duration_ms(self) -> int:
        clip = self._clips[1.0]
        return int(len(clip.samples) / clip.channels * 1000 / clip.rate)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def finished(self) -> bool:
        with self._lock:
            return self._frame * self._clip.channels >= len(self._clip.samples)

    def position_ms(self) -> int:
        with self._lock:
            return int(self._frame * 1000 * self._speed / self._clip.rate)

    def seek(self, ms: int) -> None:
        ms = max(0, min(ms, self.duration_ms))
        with self._lock:
            self._frame = int(ms * self._clip.rate / 1000 / self._speed)

    def set_speed(self, speed: float) -> None:
        """1x, 1.5x or 2x (decoded on first use: call from a worker thread)."""
        if speed not in SPEEDS:
            raise AudioError(f"speed {speed} is not offered")
        clip = self.clip(speed)
        position = self.position_ms()
        was_playing = self._playing
        self._stop_device()
        with self._lock:
            self._speed = speed
            self._clip = clip
            self._frame = int(position * clip.rate / 1000 / speed)
        if was_playing:
            self.play()

    def play(self) -> None:
        if self._playing:
            return
        if self.finished:
            self.seek(0)
        try:
            import miniaudio
        except ImportError as exc:
            raise AudioError(f"sound playback is not installed ({exc})") from None
        clip = self._clip
        try:
            device = miniaudio.PlaybackDevice(
                output_format=miniaudio.SampleFormat.SIGNED16, nchannels=clip.channels,
                sample_rate=clip.rate, app_name="Supervisor Desk",
            )
            stream = self._pull()
            next(stream)
            device.start(stream)
        except miniaudio.MiniaudioError as exc:
            raise AudioError(f"no sound device: {exc}") from None
        self._device = device
        self._playing = True

    def pause(self) -> None:
        self._stop_device()

    def _stop_device(self) -> None:
        device, self._device = self._device, None
        self._playing = False
        if device is not None:
            device.close()

    def close(self) -> None:
        self._stop_device()

    def _pull(self) -> Generator[array.array[int], int, None]:
        wanted = yield array.array("h")
        while True:
            with self._lock:
                clip = self._clip
                channels = clip.channels
                start = self._frame * channels
                chunk = clip.samples[start : start + wanted * channels]
                self._frame += len(chunk) // channels
                self.frames_played += len(chunk) // channels
            if len(chunk) < wanted * channels:
                chunk.extend([0] * (wanted * channels - len(chunk)))
            wanted = yield chunk
