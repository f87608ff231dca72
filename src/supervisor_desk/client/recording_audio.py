"""Recording playback, Qt-free: PyAV decodes a recording as it plays, miniaudio plays it.

The same output library as the alert sounds (:mod:`supervisor_desk.client.audio`, whose
``AudioError`` this reuses). The recording is read through ``open_file()`` — a local file,
or a :class:`~supervisor_desk.client.recording_stream.RangeReader` that fetches the hub's
file in ``Range`` chunks as the decoder reaches them — so playback starts after the first
chunk, and a seek outside what was decoded starts a new decode at that offset (fetching from
there). 1.5x and 2x go through FFmpeg's ``atempo`` filter so voices keep their pitch. One
decoder thread at a time appends PCM; the device's callback (miniaudio's native thread)
reads it, so pause, seek and speed changes take effect within one device period.
"""

from __future__ import annotations

import array
import threading
from collections.abc import Callable, Generator
from typing import Any, BinaryIO

from supervisor_desk.client.audio import AudioError

SPEEDS: tuple[float, ...] = (1.0, 1.5, 2.0)
_MAX_CHANNELS = 2
# Decoded ahead of the play position at most (then the decoder, and the fetching, wait).
READ_AHEAD_S = 10.0
_DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError)

FileOpener = Callable[[], BinaryIO]


def _av_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.error.FFmpegError, *_DECODE_ERRORS)


class _Decode:
    """One decoder thread: the recording from ``start_ms`` on, at ``speed``, as PCM."""

    def __init__(self, open_file: FileOpener, start_ms: int, speed: float, rate: int,
                 channels: int, played: Callable[[], int]) -> None:
        self.start_ms = start_ms
        self._played = played  # frames of this decode the device has taken
        self.speed = speed
        self.rate = rate
        self.channels = channels
        self.pcm = array.array("h")
        self.done = False
        self.error: str | None = None
        self.lock = threading.Lock()
        self._open_file = open_file
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recording-decode", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def frames(self) -> int:
        with self.lock:
            return len(self.pcm) // self.channels

    def _run(self) -> None:
        try:
            self._decode()
        except _av_errors() as exc:
            self.error = f"cannot decode the recording: {exc}"
        finally:
            self.done = True

    def _decode(self) -> None:
        import av
        from av.audio.resampler import AudioResampler

        layout = "stereo" if self.channels == 2 else "mono"
        source = self._open_file()
        try:
            with av.open(source, mode="r") as container:
                stream = container.streams.audio[0]
                if self.start_ms > 0 and stream.time_base:
                    # To the packet at or before the offset; what precedes it is dropped below.
                    container.seek(int(self.start_ms / 1000 / stream.time_base), stream=stream)
                graph: Any = None
                if self.speed != 1.0:
                    graph = av.filter.Graph()
                    head = graph.add_abuffer(template=stream)
                    tempo = graph.add("atempo", str(self.speed))
                    sink = graph.add("abuffersink")
                    head.link_to(tempo)
                    tempo.link_to(sink)
                    graph.configure()
                resampler = AudioResampler(format="s16", layout=layout, rate=self.rate)
                skip: int | None = None  # output frames before start_ms, known at frame one

                def take(frame: Any) -> None:
                    nonlocal skip
                    for out in resampler.resample(frame):
                        data = array.array("h", bytes(out.planes[0])[
                            : out.samples * self.channels * 2])
                        if skip:
                            drop = min(skip, out.samples)
                            skip -= drop
                            data = data[drop * self.channels:]
                        with self.lock:
                            self.pcm.extend(data)

                def drain() -> None:
                    while True:
                        try:
                            take(graph.pull())
                        except (av.error.BlockingIOError, av.error.EOFError):
                            return

                ahead = int(READ_AHEAD_S * self.rate)
                for frame in container.decode(stream):
                    while self.frames() - self._played() > ahead:
                        if self._stop.wait(0.05):
                            return
                    if self._stop.is_set():
                        return
                    if skip is None:
                        at_ms = float(frame.pts * frame.time_base * 1000) if (
                            frame.pts is not None and frame.time_base) else 0.0
                        skip = max(0, int((self.start_ms - at_ms) * self.rate / 1000
                                          / self.speed))
                    if graph is None:
                        take(frame)
                    else:
                        graph.push(frame)
                        drain()
                if graph is not None:
                    graph.push(None)
                    drain()
                take(None)
        finally:
            source.close()


class RecordingPlayback:
    """Play/pause/seek/speed over a recording decoded as it plays, one device at a time.

    Positions are milliseconds of the recording (at 1x, whatever the speed). Thread-safe: the
    device's callback and the UI thread share the decode and its frame under locks.
    """

    def __init__(self, open_file: FileOpener) -> None:
        self._open_file = open_file
        self.rate, self.channels, self.duration_ms = _probe(open_file)
        self._lock = threading.Lock()
        self._frame = 0  # in the current decode's PCM
        self._decode = _Decode(open_file, 0, 1.0, self.rate, self.channels, self._played)
        self._playing = False
        self._device: Any = None
        self.frames_played = 0  # frames handed to the device (tests: the output accepted them)

    @property
    def speed(self) -> float:
        return self._decode.speed

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def error(self) -> str | None:
        return self._decode.error

    @property
    def finished(self) -> bool:
        decode = self._decode
        return decode.done and self._frame >= decode.frames()

    def position_ms(self) -> int:
        with self._lock:
            decode = self._decode
            return min(self.duration_ms, decode.start_ms + int(
                self._frame * 1000 * decode.speed / self.rate))

    def seek(self, ms: int) -> None:
        ms = max(0, min(ms, self.duration_ms))
        decode = self._decode
        frame = int((ms - decode.start_ms) * self.rate / 1000 / decode.speed)
        if 0 <= frame <= decode.frames():
            with self._lock:
                self._frame = frame
            return
        self._restart(ms, decode.speed)

    def set_speed(self, speed: float) -> None:
        """1x, 1.5x or 2x: decoding goes on from the current position at that speed."""
        if speed not in SPEEDS:
            raise AudioError(f"speed {speed} is not offered")
        if speed != self._decode.speed:
            self._restart(self.position_ms(), speed)

    def _restart(self, ms: int, speed: float) -> None:
        fresh = _Decode(self._open_file, ms, speed, self.rate, self.channels, self._played)
        with self._lock:
            old, self._decode = self._decode, fresh
            self._frame = 0
        old.stop()

    def _played(self) -> int:
        return self._frame

    def play(self) -> None:
        if self._playing:
            return
        if self.finished:
            self.seek(0)
        try:
            import miniaudio
        except ImportError as exc:
            raise AudioError(f"sound playback is not installed ({exc})") from None
        try:
            device = miniaudio.PlaybackDevice(
                output_format=miniaudio.SampleFormat.SIGNED16, nchannels=self.channels,
                sample_rate=self.rate, app_name="Supervisor Desk",
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

    def close(self, *, wait: bool = True) -> None:
        """Stop the sound and the decoder (``wait``: until its thread has ended, 2 s at most;
        it checks between frames)."""
        self._stop_device()
        decode = self._decode
        decode.stop()
        if wait:
            decode.join(2.0)

    def _pull(self) -> Generator[array.array[int], int, None]:
        wanted = yield array.array("h")
        channels = self.channels
        while True:
            with self._lock:
                decode = self._decode
                start = self._frame * channels
                with decode.lock:
                    # Not decoded yet (a seek, a slow link): silence until it is, in place.
                    chunk = decode.pcm[start : start + wanted * channels]
                self._frame += len(chunk) // channels
                self.frames_played += len(chunk) // channels
            if len(chunk) < wanted * channels:
                chunk.extend([0] * (wanted * channels - len(chunk)))
            wanted = yield chunk


def _probe(open_file: FileOpener) -> tuple[int, int, int]:
    """Rate, channels (1 or 2) and duration (ms) from the container's header."""
    import av

    source = open_file()
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.audio:
                raise AudioError("the file holds no audio")
            stream = container.streams.audio[0]
            rate = stream.rate or 16_000
            channels = min(_MAX_CHANNELS, max(1, stream.channels or 1))
            if stream.duration is not None and stream.time_base:
                duration_ms = int(stream.duration * stream.time_base * 1000)
            elif container.duration is not None:
                duration_ms = int(container.duration / 1000)  # AV_TIME_BASE: microseconds
            else:
                duration_ms = 0
    except AudioError:
        raise
    except _av_errors() as exc:
        raise AudioError(f"cannot decode the recording: {exc}") from None
    finally:
        source.close()
    return rate, channels, duration_ms
