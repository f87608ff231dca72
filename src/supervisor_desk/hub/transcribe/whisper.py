"""Recognition with a Whisper model the operator installed (faster-whisper, CTranslate2 format).

Optional: ``pip install 'supervisor-desk[whisper]'`` and ``serve --whisper-model DIR``. The
directory is a converted model as faster-whisper loads it (``model.bin``, ``config.json``,
``tokenizer.json``, usually ``vocabulary.*`` and ``preprocessor_config.json``), e.g. the
``Systran/faster-whisper-small`` repository copied to the hub. Nothing is ever downloaded:
without ``tokenizer.json`` faster-whisper would fetch one from a model hub, so the directory
is refused instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from supervisor_desk.hub import audio

REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")


class WhisperModelError(Exception):
    """A model directory the hub cannot use; the message says what to fix."""


def engine_name(model_dir: Path) -> str:
    return f"faster-whisper ({model_dir.name})"


def load(model_dir: Path) -> Any:
    """The model, on the CPU with 8-bit weights; a clear error when it cannot be used."""
    if not model_dir.is_dir():
        raise WhisperModelError(f"{model_dir} is not a directory")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise WhisperModelError(
            f"{model_dir} is not a faster-whisper model directory: no {', '.join(missing)}")
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise WhisperModelError(
            f"faster-whisper is not installed ({exc}); install the hub with its 'whisper' "
            "extra: pip install 'supervisor-desk[whisper]'") from exc
    try:
        # One thread: the worker runs beside the hub on a small machine and must leave it a
        # core; SCHED_IDLE and the duty cycle do the rest (docs/performance.md, "Voice").
        return WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                            cpu_threads=1, num_workers=1)
    except (RuntimeError, ValueError, OSError) as exc:
        raise WhisperModelError(f"cannot load the Whisper model in {model_dir}: {exc}") from exc


class WhisperRecogniser:
    """One segment of speech at a time, words and where the first starts / the last ends."""

    def __init__(self, model_dir: Path) -> None:
        self._model = load(model_dir)

    def words(self, pcm: bytes) -> tuple[str, int | None, int | None]:
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        duration_ms = len(samples) * 1000 // audio.RATE
        # The hub has already cut the recording into speech segments (as for pocketsphinx):
        # no VAD of faster-whisper's own, and no text carried from one segment to the next
        # (segments alternate between speakers).
        segments, _info = self._model.transcribe(
            samples, word_timestamps=True, vad_filter=False,
            condition_on_previous_text=False, beam_size=5)
        words: list[str] = []
        first: int | None = None
        last: int | None = None
        for segment in segments:
            for word in segment.words or ():
                text = word.word.strip()
                if not text:
                    continue
                words.append(text)
                start = min(duration_ms, max(0, int(word.start * 1000)))
                end = min(duration_ms, max(start, int(word.end * 1000)))
                if first is None:
                    first = start
                last = end
        return " ".join(words), first, last
