#!/usr/bin/env python3
"""Synthesise the bundled alert sounds (short tones, 16-bit mono WAV) into resources/sounds/.

Run again after changing a recipe: ``python scripts/make_alert_sounds.py``. Only the standard
library: the sounds are ours, not downloaded.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 44_100
OUT = Path(__file__).resolve().parent.parent / "src" / "supervisor_desk" / "resources" / "sounds"

# name -> [(frequency Hz, seconds, loudness 0..1)]; frequency 0 is a pause.
RECIPES: dict[str, list[tuple[float, float, float]]] = {
    "soft": [(660.0, 0.18, 0.35)],
    "chime": [(880.0, 0.14, 0.5), (0.0, 0.03, 0.0), (1318.5, 0.22, 0.45)],
    "alarm": [(988.0, 0.12, 0.7), (0.0, 0.06, 0.0), (988.0, 0.12, 0.7), (0.0, 0.06, 0.0),
              (1318.5, 0.25, 0.7)],
}


def tone(freq: float, seconds: float, loud: float) -> list[int]:
    n = int(RATE * seconds)
    fade = max(1, int(RATE * 0.01))  # 10 ms in and out: no clicks
    samples = []
    for i in range(n):
        env = min(1.0, i / fade, (n - 1 - i) / fade)
        # A little second harmonic makes it audible on small laptop speakers.
        phase = 2 * math.pi * freq * i / RATE
        value = math.sin(phase) + 0.25 * math.sin(2 * phase)
        samples.append(int(32767 * loud * env * value / 1.25) if freq else 0)
    return samples


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, parts in RECIPES.items():
        samples = [s for part in parts for s in tone(*part)]
        with wave.open(str(OUT / f"{name}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        print(OUT / f"{name}.wav")


if __name__ == "__main__":
    main()
