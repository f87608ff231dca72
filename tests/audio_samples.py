"""Speech made here for voice tests: espeak-ng speaks known sentences, numpy lays them out
on the channels of a call with pauses between them (sox/PyAV convert it to other formats)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

RATE = 22_050  # espeak-ng's rate
CUSTOMER_VOICE = "en-us+f3"
AGENT_VOICE = "en-us+f2"

HAVE_SPEECH_TOOLS = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


@pytest.fixture(autouse=True)
def recognise_at_full_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Autouse where imported: the hubs of a test recognise without resting (``serve
    --transcribe-duty``): voice tests check what is heard and when, not the pace, and the
    suite's time stays short."""
    monkeypatch.setenv("SUPERVISOR_HUB_TRANSCRIBE_DUTY", "1")


@dataclass(frozen=True)
class Spoken:
    speaker: str
    text: str
    start_ms: int
    end_ms: int


def speak(text: str, voice: str, path: Path) -> np.ndarray:
    """``text`` spoken by ``voice``, trimmed to where the words are."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(path), text], check=True)
    with wave.open(str(path)) as source:
        assert source.getframerate() == RATE and source.getnchannels() == 1
        samples = np.frombuffer(source.readframes(source.getnframes()), np.int16)
    # espeak pads each sentence with silence; where the words are is what offsets measure.
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    return samples[loud[0] : loud[-1] + 1]


def write_wav(path: Path, channels: list[np.ndarray]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.stack(channels, axis=1).astype(np.int16).tobytes())


def make_call(folder: Path, dialogue: Sequence[tuple[str, str]],
              pause_s: float = 1.0) -> tuple[Path, list[Spoken]]:
    """A stereo call (customer left, agent right) of ``(speaker, sentence)`` turns, and where
    each sentence was spoken."""
    pieces: list[np.ndarray] = []
    for index, (speaker, text) in enumerate(dialogue):
        voice = AGENT_VOICE if speaker == "agent" else CUSTOMER_VOICE
        pieces.append(speak(text, voice, folder / f"s{index}.wav"))
    pause = int(pause_s * RATE)
    total = pause + sum(len(p) + pause for p in pieces)
    left, right = np.zeros(total, np.int16), np.zeros(total, np.int16)
    spoken: list[Spoken] = []
    at = pause
    for samples, (speaker, text) in zip(pieces, dialogue, strict=True):
        target = right if speaker == "agent" else left
        target[at : at + len(samples)] = samples
        spoken.append(Spoken(speaker, text, at * 1000 // RATE, (at + len(samples)) * 1000 // RATE))
        at += len(samples) + pause
    path = folder / "call.wav"
    write_wav(path, [left, right])
    return path, spoken
