"""Transcription with a faster-whisper model (``serve --whisper-model``): a tiny random Whisper
model made at test time (tests/hub/tiny_whisper.py), a real hub, speech made with espeak-ng,
the transcript watched over the real feed. Nothing is downloaded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor_desk.hub.transcribe import whisper
from tests.audio_samples import HAVE_SPEECH_TOOLS, Spoken, make_call
from tests.audio_samples import recognise_at_full_speed as recognise_at_full_speed
from tests.hub import tiny_whisper
from tests.hub.conftest import Api
from tests.hub.test_import_audio import Feed, _import
from tests.hub.test_import_audio import feed as feed  # a fixture

pytest.importorskip("faster_whisper", reason="the hub's 'whisper' extra is not installed")

DIALOGUE = (
    ("customer", "my order has not arrived"),
    ("agent", "let me check your account number"),
    ("customer", "thank you"),
)


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_whisper.build(tmp_path_factory.mktemp("whisper") / "tiny")


@pytest.fixture
def _hub_uses_whisper(monkeypatch: pytest.MonkeyPatch, whisper_model: Path) -> Iterator[None]:
    # The hub fixtures read their voice settings from the environment, as ``serve`` does.
    monkeypatch.setenv("SUPERVISOR_HUB_WHISPER_MODEL", str(whisper_model))
    yield


@pytest.mark.skipif(not HAVE_SPEECH_TOOLS,
                    reason="espeak-ng and sox come from scripts/system-deps.sh")
@pytest.mark.usefixtures("_hub_uses_whisper")
def test_a_stereo_call_is_transcribed_by_the_configured_whisper_model(
    api: Api, feed: Feed, tmp_path: Path
) -> None:
    path, spoken = make_call(tmp_path, DIALOGUE, pause_s=1.0)
    duration_ms = spoken[-1].end_ms + 1000
    answer = _import(api, path)
    assert answer.status_code == 202, answer.text
    session_id = answer.json()["session"]["id"]
    events = feed.events_until_ended(session_id, timeout=120)

    updates = [e["data"]["metadata"] for e in events if e["type"] == "session.updated"]
    percents = [int(m["transcription_percent"]) for m in updates]
    assert percents == sorted(percents) and percents[-1] == 100
    assert updates[-1]["transcription_state"] == "done"
    said = [e["data"] for e in events if e["type"] == "message.created"
            and e["data"]["author"]["role"] != "system"]
    # A random model's words mean nothing; where and whose they are must still be right:
    # each message lies inside the sentence it was heard in, on that sentence's channel.
    assert said, "the model said nothing at all"
    roles = {"agent": "ai", "customer": "customer"}
    for message in said:
        assert message["text"].strip()
        assert 0 <= message["offset_ms"] <= message["end_ms"] <= duration_ms, message
        sentence = _sentence_at(spoken, message["offset_ms"])
        assert message["end_ms"] <= sentence.end_ms + 400, (message, sentence)
        assert message["author"]["role"] == roles[sentence.speaker], (message, sentence)
    assert {m["author"]["role"] for m in said} == {"customer", "ai"}
    offsets = [m["offset_ms"] for m in said]
    assert offsets == sorted(offsets)

    # The job's row is written just after the session's last event: wait for it.
    deadline = time.monotonic() + 10
    while (job := api.get(f"/sessions/{session_id}/transcription").json())["state"] != "done":
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["percent"] == 100
    assert job["engine"] == "faster-whisper (tiny)"


def _sentence_at(spoken: list[Spoken], offset_ms: int) -> Spoken:
    """The sentence being spoken at ``offset_ms`` (the hub pads speech by 0.3 s)."""
    near = [s for s in spoken if s.start_ms - 400 <= offset_ms <= s.end_ms + 400]
    assert len(near) == 1, (offset_ms, spoken)
    return near[0]


def _serve(db: Path, model: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor_desk.hub.cli", "serve", "--db", str(db),
         "--port", "0", "--whisper-model", str(model)],
        capture_output=True, text=True, timeout=60, check=False)


def test_serve_refuses_a_missing_model_directory_at_start(tmp_path: Path) -> None:
    result = _serve(tmp_path / "hub.db", tmp_path / "no-such-model")
    assert result.returncode == 2
    assert "--whisper-model" in result.stderr and "is not a directory" in result.stderr
    assert "listening" not in result.stdout


def test_serve_refuses_a_broken_model_at_start(tmp_path: Path, whisper_model: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (broken / name).write_bytes((whisper_model / name).read_bytes())
    (broken / "model.bin").write_bytes(b"not a model")
    result = _serve(tmp_path / "hub.db", broken)
    assert result.returncode == 2
    assert "cannot load the Whisper model" in result.stderr


def test_a_directory_without_its_tokenizer_is_refused_rather_than_downloaded(
    tmp_path: Path, whisper_model: Path
) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("model.bin", "config.json"):
        (partial / name).write_bytes((whisper_model / name).read_bytes())
    with pytest.raises(whisper.WhisperModelError, match=r"no tokenizer\.json"):
        whisper.load(partial)
