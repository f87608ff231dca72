"""The recognition worker: decode, find speech, recognise each segment, one JSON line each.

Lines on stdout (UTF-8, one JSON object each, flushed as they are made):

- ``{"type": "plan", "segments": K, "duration_ms": D, "layout": "stereo"|"mono"}``
- ``{"type": "segment", "n": i, "channel": 0|1|-1, "start_ms", "end_ms", "text", "percent"}``
  for i = 1..K in spoken order (segments up to ``--skip`` are not recognised again);
- ``{"type": "done"}``; or ``{"type": "error", "message": "..."}`` and exit status 1;
- ``{"type": "priority", ...}`` at any time: how it shares the CPU (:mod:`.priority`):
  ``"mode": "autogroup"`` (its own session, ``"nice"``) or ``"mode": "session"`` (the
  hub's, with the ``"reason"``) at the start, then ``{"nice", "speed"}`` at each change of
  the autogroup nice (``speed``: x real time that made it), or ``{"nice", "error"}``, and
  ``{"duty", "pressure"}`` at each change of the duty the hub's pressure makes.

With ``--pressure-stdin`` it reads ``{"pressure": true|false}`` lines on stdin, the hub busy
(its ingest saturated or its feed busy) or not: it rests longer between segments while it is
(:mod:`.pressure`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from supervisor_desk.hub import audio
from supervisor_desk.hub.transcribe import language_model, priority
from supervisor_desk.hub.transcribe.pressure import Pacer
from supervisor_desk.hub.transcribe.whisper import WhisperModelError

_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "[LAUGH]", "[BREATH]"}
ENGINE = "pocketsphinx (en-us, contact-centre vocabulary)"


class SegmentRecogniser(Protocol):
    def words(self, pcm: bytes) -> tuple[str, int | None, int | None]:
        """The words in ``pcm`` and where the first starts / the last ends (ms), if any."""


class Recogniser:
    """PocketSphinx with its bundled US-English model (inside the wheel: no download).

    Each segment is decoded twice, with the bundled general language model and with the
    contact-centre model (:mod:`.language_model`), and the reading with the higher posterior
    probability is kept: measured on the test calls, words of the domain are heard far more
    often (word errors 36-42 % -> 21-28 %) while speech outside it does as well as with the
    general model alone (see docs/performance.md, "Voice").

    ``between`` is called between the two decodes (the worker's :meth:`Pacer.breathe`: a
    hub that became busy meanwhile waits for half a segment's work, not a whole one).
    """

    def __init__(self, domain_lm: Path | None,
                 between: Callable[[], None] | None = None) -> None:
        from pocketsphinx import Decoder

        self._between = between

        # Dither: stretches of digital silence (exact zeros, as synthetic or gated audio
        # has) otherwise derail the feature normalisation: 52 % -> 10 % word errors measured
        # on one synthetic voice. A fixed seed keeps a re-run's words the same.
        options: dict[str, Any] = {"samprate": audio.RATE, "loglevel": "FATAL",
                                   "dither": True, "seed": 1}
        self._decoders = [Decoder(**options)]
        if domain_lm is not None:
            self._decoders.append(Decoder(**options, lm=str(domain_lm)))

    def words(self, pcm: bytes) -> tuple[str, int | None, int | None]:
        """The words in ``pcm`` and where the first starts / the last ends (ms), if any."""
        best: tuple[float, str, int | None, int | None] | None = None
        for index, decoder in enumerate(self._decoders):
            if index > 0 and self._between is not None:
                self._between()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
            confidence = hypothesis.prob if hypothesis is not None else 0.0
            words: list[str] = []
            first: int | None = None
            last: int | None = None
            for seg in decoder.seg():
                if seg.word in _FILLERS:
                    continue
                words.append(seg.word.split("(", 1)[0])
                if first is None:
                    first = seg.start_frame * audio.FRAME_MS
                last = (seg.end_frame + 1) * audio.FRAME_MS
            if best is None or confidence > best[0]:
                best = (confidence, " ".join(words), first, last)
        assert best is not None
        return best[1], best[2], best[3]


def _contact_centre_model(folder: Path) -> Path | None:
    """The contact-centre language model, built for this run (about half a second)."""
    from pocketsphinx import get_model_path

    return language_model.write_contact_centre_model(
        Path(get_model_path()) / "en-us", folder / "contact-centre.lm")


_EMITTING = threading.Lock()  # the governor's thread reports too: whole lines only


def _emit(line: dict[str, Any]) -> None:
    with _EMITTING:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def run(path: Path, skip: int, vocabulary: bool = True, pacer: Pacer | None = None,
        whisper_model: Path | None = None,
        governor: priority.NiceGovernor | None = None) -> None:
    decoded = audio.decode(path)
    segments = audio.speech_segments(decoded)
    _emit({"type": "plan", "segments": len(segments), "duration_ms": decoded.duration_ms,
           "layout": decoded.layout})
    total = sum(s.end_ms - s.start_ms for s in segments) or 1
    # PocketSphinx: one recogniser per channel, each adapts to its own speaker and line
    # (cepstral mean), and one voice's adaptation must not spill over into the other's
    # words. Whisper keeps no state between segments: one model (hundreds of MB) for all.
    recognisers: dict[int, SegmentRecogniser] = {}
    shared: SegmentRecogniser | None = None
    if whisper_model is not None:
        from supervisor_desk.hub.transcribe.whisper import WhisperRecogniser

        shared = WhisperRecogniser(whisper_model)
    if shared is None:
        with tempfile.TemporaryDirectory(prefix="sd-transcribe-") as folder:
            domain_lm = _contact_centre_model(Path(folder)) if vocabulary else None
            # Every channel's recogniser before the first segment: once they have read the
            # model file it goes, and a worker killed later leaves no file behind.
            for channel in sorted({s.channel for s in segments[skip:]}):
                recognisers[channel] = Recogniser(
                    domain_lm, between=pacer.breathe if pacer is not None else None)
    done = 0
    for n, segment in enumerate(segments, start=1):
        done += segment.end_ms - segment.start_ms
        if n <= skip:
            continue
        recogniser = shared or recognisers[segment.channel]
        pcm = audio.segment_samples(decoded, segment).tobytes()
        began = time.process_time()
        if pacer is not None:
            pacer.begin()
        text, first, last = recogniser.words(pcm)
        used = time.process_time() - began
        if governor is not None:
            governor.segment_done((segment.end_ms - segment.start_ms) / 1000, used)
        if pacer is not None:
            pacer.rest(pacer.take_cpu_s())  # what a rest inside the segment left
        start = segment.start_ms + first if first is not None else segment.start_ms
        end = segment.start_ms + last if last is not None else segment.end_ms
        _emit({"type": "segment", "n": n, "channel": segment.channel, "start_ms": start,
               "end_ms": min(end, segment.end_ms), "text": text,
               "percent": min(99, done * 100 // total)})
    _emit({"type": "done"})


def _yield_to_the_hub(hub_pid: int | None, duty: float,
                      window_s: float) -> priority.NiceGovernor | None:
    """Recognition is batch work: it gets the CPU the hub (ingest, feed) leaves idle, and
    enough of the rest to finish (:mod:`.priority`).

    Only a worker the hub started (``--hub-pid``: the kernel kills it with the hub) leaves
    the hub's session; started by hand it stays in the shell's, where Ctrl+C reaches it.
    """
    governor: priority.NiceGovernor | None = None
    try:
        if hub_pid is None:
            raise priority.AutogroupUnavailableError("started without --hub-pid")
        group = priority.own_autogroup()
    except priority.AutogroupUnavailableError as exc:
        _emit({"type": "priority", "mode": "session", "reason": str(exc)})
    else:
        # Judged at the normal duty: the longer rests a busy hub asks for
        # (:mod:`.pressure`) are not starving, and must not buy the worker more weight.
        governor = priority.NiceGovernor(group, priority.ThreadClock(), duty=duty,
                                         window_s=window_s,
                                         report=lambda change: _emit({"type": "priority",
                                                                      **change}))
        governor.start()  # before the policy below: this thread keeps the normal one
        _emit({"type": "priority", "mode": "autogroup", "nice": group.nice()})
    # The recogniser's thread (and any it starts, e.g. CTranslate2's) last.
    priority.idle_policy()
    return governor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m supervisor_desk.hub.transcribe")
    parser.add_argument("file", type=Path)
    parser.add_argument("--skip", type=int, default=0, help="segments already stored")
    parser.add_argument("--general-only", action="store_true",
                        help="only the bundled general language model (no contact-centre "
                        "vocabulary)")
    parser.add_argument("--duty", type=float, default=1.0,
                        help="share of a core used at most, 0-1 (after each segment it rests "
                        "in proportion to the CPU time used; default 1)")
    parser.add_argument("--foreground", action="store_true",
                        help="run at normal priority (default: only on otherwise idle CPU)")
    parser.add_argument("--whisper-model", type=Path, default=None, metavar="DIR",
                        help="recognise with this faster-whisper model directory instead of "
                        "pocketsphinx")
    parser.add_argument("--hub-pid", type=int, default=None, metavar="PID",
                        help="the hub that started this worker: it exits when that process "
                        "dies, and steers the CPU weight of a session of its own")
    parser.add_argument("--pressure-stdin", action="store_true",
                        help="read the hub's pressure on stdin ({\"pressure\": true} lines: its "
                        "ingest saturated or its feed busy) and rest longer between segments "
                        "while it is on")
    parser.add_argument("--nice-window", type=float, default=priority.WINDOW_S, metavar="S",
                        help="seconds of starving (or of running well ahead) before the "
                        "autogroup nice is lowered (or raised) a step (default "
                        f"{priority.WINDOW_S:g})")
    args = parser.parse_args(argv)
    duty = min(1.0, max(0.01, args.duty))
    if args.hub_pid is not None:
        priority.exit_with(args.hub_pid)
    pacer = Pacer(duty, report=lambda change: _emit({"type": "priority", **change}))
    if args.pressure_stdin:
        pacer.listen(sys.stdin)  # before the idle policy below: this thread keeps the normal one
    governor = (None if args.foreground
                else _yield_to_the_hub(args.hub_pid, duty, max(2.0, args.nice_window)))
    try:
        run(args.file, args.skip, vocabulary=not args.general_only, pacer=pacer,
            whisper_model=args.whisper_model, governor=governor)
    except audio.AudioError as exc:
        _emit({"type": "error", "message": exc.message})
        return 1
    except WhisperModelError as exc:
        _emit({"type": "error", "message": str(exc)})
        return 1
    except (OSError, MemoryError, RuntimeError, ValueError) as exc:
        _emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        if governor is not None:
            governor.stop()
    return 0
