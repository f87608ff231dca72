"""Decoding recordings (PyAV: FFmpeg's libraries inside the wheel) and finding speech in them.

Every supported file (WAV, FLAC, OGG/Opus or Vorbis, MP3) becomes 16 kHz signed 16-bit PCM per
channel: two channels for a stereo call recording (left = customer, right = agent), one for
anything else (more than two channels are mixed down). No external program is ever run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

RATE = 16_000
FRAME_MS = 10
_FRAME = RATE * FRAME_MS // 1000
# Below this peak (-50 dBFS) a channel counts as silent.
SILENT_PEAK = int(32768 * 10 ** (-50 / 20))
MIN_SOUND_MS = 300
MONO_PAUSE_MS = 500  # a pause this long starts a new turn in a mono recording
STEREO_PAUSE_MS = 700  # within one speaker's channel: a new message after this pause
MAX_SEGMENT_MS = 25_000  # a longer stretch of speech is cut at its quietest moment
_PAD_MS = 300


class AudioError(Exception):
    """A recording the hub cannot import: ``status`` and ``code`` for the error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Decoded:
    channels: list[np.ndarray]  # int16 arrays at RATE, one per speaker channel
    codec: str

    @property
    def duration_ms(self) -> int:
        return len(self.channels[0]) * 1000 // RATE if self.channels else 0

    @property
    def layout(self) -> str:
        return "stereo" if len(self.channels) == 2 else "mono"


@dataclass(frozen=True, order=True)
class Segment:
    """Speech on one channel from ``start_ms`` to ``end_ms`` (channel -1: mono)."""

    start_ms: int
    channel: int
    end_ms: int


def decode(path: Path) -> Decoded:
    """Decode a whole file; raises :class:`AudioError` naming what is wrong with it."""
    try:
        container = av.open(str(path), mode="r")
    except (av.error.InvalidDataError, av.error.PatchWelcomeError, av.error.EOFError):
        raise AudioError(415, "unsupported_audio",
                         "the file is not a recording the hub can read "
                         "(supported: WAV, FLAC, OGG/Opus, MP3)") from None
    except av.error.FFmpegError as exc:
        raise AudioError(422, "unreadable_audio", f"the recording cannot be read: {exc}") from None
    with container:
        if not container.streams.audio:
            raise AudioError(422, "no_audio", "the file holds no audio")
        stream = container.streams.audio[0]
        codec = stream.codec_context.name if stream.codec_context else ""
        if not codec:
            raise AudioError(415, "unsupported_audio", "the recording's codec is not supported")
        stereo = stream.channels == 2
        resampler = av.AudioResampler(
            format="s16p" if stereo else "s16", layout="stereo" if stereo else "mono", rate=RATE
        )
        pieces: list[list[np.ndarray]] = [[], []] if stereo else [[]]
        try:
            for frame in container.decode(stream):
                _collect(resampler.resample(frame), pieces)
            _collect(resampler.resample(None), pieces)
        except av.error.FFmpegError as exc:
            raise AudioError(422, "unreadable_audio",
                             f"the recording is damaged or cut short: {exc}") from None
    channels = [np.concatenate(p) if p else np.zeros(0, np.int16) for p in pieces]
    if not channels[0].size:
        raise AudioError(422, "unreadable_audio", "the recording holds no samples")
    return Decoded(channels, codec)


def _collect(frames: list[av.AudioFrame], pieces: list[list[np.ndarray]]) -> None:
    for frame in frames:
        samples = frame.to_ndarray()  # (channels, n) for planar, (1, n*channels) packed mono
        for index, target in enumerate(pieces):
            target.append(samples[index].astype(np.int16, copy=False))


def check_audible(decoded: Decoded) -> None:
    """Refuse a recording with nothing to transcribe (422 ``silent_audio``)."""
    sound_ms = sum(s.end_ms - s.start_ms for s in speech_segments(decoded))
    loud = any(int(np.abs(ch.astype(np.int32)).max(initial=0)) >= SILENT_PEAK
               for ch in decoded.channels)
    if not loud or sound_ms < MIN_SOUND_MS:
        raise AudioError(422, "silent_audio",
                         "the recording is silent (no sound above -50 dBFS for 0.3 s)")


def _frame_levels(samples: np.ndarray) -> np.ndarray:
    """Energy of each 10 ms frame in dBFS."""
    count = len(samples) // _FRAME
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * _FRAME].astype(np.float64).reshape(count, _FRAME)
    power = np.mean(frames * frames, axis=1) / (32768.0 * 32768.0)
    levels: np.ndarray = 10.0 * np.log10(power + 1e-12)
    return levels


def _channel_segments(samples: np.ndarray, channel: int, pause_ms: int) -> list[Segment]:
    levels = _frame_levels(samples)
    if not levels.size or levels.max() < 20 * np.log10(SILENT_PEAK / 32768.0) - 10:
        return []
    floor = float(np.percentile(levels, 10))
    # Speech: clearly above the noise floor and within 45 dB of the loudest frame.
    threshold = max(floor + 12.0, float(levels.max()) - 45.0, -60.0)
    voiced = levels > threshold
    gap_frames = pause_ms // FRAME_MS
    spans: list[tuple[int, int]] = []
    start: int | None = None
    last = -gap_frames - 1
    for index in np.flatnonzero(voiced):
        i = int(index)
        if start is None:
            start = i
        elif i - last > gap_frames:
            spans.append((start, last + 1))
            start = i
        last = i
    if start is not None:
        spans.append((start, last + 1))
    total = len(levels)
    pad = _PAD_MS // FRAME_MS
    out: list[Segment] = []
    for begin, end in spans:
        if (end - begin) * FRAME_MS < 120:  # a click, not a word
            continue
        for piece_begin, piece_end in _split_long(levels, begin, end):
            out.append(Segment(max(0, piece_begin - pad) * FRAME_MS, channel,
                               min(total, piece_end + pad) * FRAME_MS))
    return out


def _split_long(levels: np.ndarray, begin: int, end: int) -> list[tuple[int, int]]:
    longest = MAX_SEGMENT_MS // FRAME_MS
    pieces: list[tuple[int, int]] = []
    while end - begin > longest:
        window = levels[begin + longest // 2 : begin + longest]
        cut = begin + longest // 2 + int(np.argmin(window))
        pieces.append((begin, cut))
        begin = cut
    pieces.append((begin, end))
    return pieces


def speech_segments(decoded: Decoded) -> list[Segment]:
    """Where people speak, in spoken order: per channel for stereo, turns for mono."""
    if decoded.layout == "stereo":
        found = [seg for index, ch in enumerate(decoded.channels)
                 for seg in _channel_segments(ch, index, STEREO_PAUSE_MS)]
    else:
        found = _channel_segments(decoded.channels[0], -1, MONO_PAUSE_MS)
    return sorted(found)


def segment_samples(decoded: Decoded, segment: Segment) -> np.ndarray:
    samples = decoded.channels[max(segment.channel, 0)]
    return samples[segment.start_ms * RATE // 1000 : segment.end_ms * RATE // 1000]
