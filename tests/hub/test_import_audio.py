"""Importing a session from a recording: real speech made here (espeak-ng, sox), a real hub,
the transcript watched over the real feed."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from supervisor_desk.hub.embedded import EmbeddedHub
from tests.audio_samples import (
    AGENT_VOICE,
    CUSTOMER_VOICE,
    RATE,
    Spoken,
    make_call,
    write_wav,
)
from tests.audio_samples import recognise_at_full_speed as recognise_at_full_speed
from tests.helpers import poll_until
from tests.hub.conftest import Api, assert_error

# (speaker, sentence): the agent on the right channel, the customer on the left.
DIALOGUE = (
    ("agent", "thank you for calling how can i help you today"),
    ("customer", "i would like a refund for my last invoice"),
    ("agent", "i can help you with that please tell me your account number"),
    ("customer", "my account number is four five six seven"),
    ("agent", "thank you the refund will arrive in five days"),
    ("customer", "thank you very much goodbye"),
)
PAUSE_S = 1.0

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox come from scripts/system-deps.sh",
)


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    """A stereo call (customer left, agent right) and where each sentence was spoken."""
    return make_call(tmp_path_factory.mktemp("call"), DIALOGUE, PAUSE_S)


def _convert(source: Path, target: Path) -> Path:
    if target.suffix == ".opus":  # sox has no Opus writer: PyAV's libopus encoder
        with av.open(str(source)) as inp, av.open(str(target), "w", format="ogg") as out:
            stream = out.add_stream("libopus", rate=48_000, layout="stereo")
            for frame in inp.decode(audio=0):
                frame.pts = None
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        return target
    subprocess.run(["sox", str(source), str(target)], check=True)
    return target


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (word != other))
    return row[len(hyp)] / max(1, len(ref))


class Feed:
    """The hub's websocket feed, read from the current seq on."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        hello = json.loads(self.socket.recv(timeout=10))
        assert hello["type"] == "hello"

    def events_until_ended(self, session_id: str, timeout: float = 240) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            frame = json.loads(self.socket.recv(timeout=deadline - time.monotonic()))
            event = frame["event"]
            if event["session_id"] != session_id:
                continue
            events.append(event)
            if event["type"] == "session.ended":
                return events
        raise AssertionError("the session did not end in time")


@pytest.fixture
def feed(running_hub: EmbeddedHub, api: Api) -> Iterator[Feed]:
    url = running_hub.url.replace("http", "ws", 1) + "/api/v1/feed"
    with connect(url, additional_headers={"Authorization": f"Bearer {api.token('viewer')}"}
                 ) as socket:
        yield Feed(socket)


def _import(api: Api, path: Path, role: str = "ingest", **params: str) -> Any:
    return api.post("/sessions/import-audio", role=role, content=path.read_bytes(),
                    params={"agent": "Ava", "channel": "sip", "customer": "Carl",
                            "name": path.name, **params},
                    headers={"Content-Type": "text/plain"})  # never trusted


def _check_transcript(events: list[dict[str, Any]], spoken: list[Spoken],
                      label: str) -> dict[str, float]:
    started = events[0]
    assert started["type"] == "session.started"
    summary = started["data"]
    assert summary["modality"] == "voice" and summary["channel"] == "sip"
    assert summary["metadata"]["transcription_state"] == "queued"
    recording = events[1]["data"]
    assert events[1]["type"] == "message.created" and recording["attachments"][0]["url"] == (
        summary["metadata"]["recording"])
    states = [e["data"]["metadata"].get("transcription_state") for e in events
              if e["type"] == "session.updated"]
    percents = [int(e["data"]["metadata"]["transcription_percent"]) for e in events
                if e["type"] == "session.updated"]
    assert "running" in states and states[-1] == "done"
    assert percents == sorted(percents) and percents[-1] == 100
    said = [e["data"] for e in events if e["type"] == "message.created"
            and e["data"]["author"]["role"] != "system"]
    # The placeholder ("running", N %) was on the feed before the first words.
    first_words = next(i for i, e in enumerate(events) if e["type"] == "message.created"
                       and e["data"]["author"]["role"] != "system")
    assert any(e["type"] == "session.updated" for e in events[:first_words])
    roles = {"agent": "ai", "customer": "customer"}
    assert [m["author"]["role"] for m in said] == [roles[s.speaker] for s in spoken], label
    assert [m["author"]["name"] for m in said] == [
        "Ava" if s.speaker == "agent" else "Carl" for s in spoken]
    for message, sentence in zip(said, spoken, strict=True):
        assert abs(message["offset_ms"] - sentence.start_ms) <= 1000, (label, message, sentence)
        assert abs(message["end_ms"] - sentence.end_ms) <= 1000, (label, message, sentence)
    rates: dict[str, float] = {}
    for speaker in ("agent", "customer"):
        reference = " ".join(s.text for s in spoken if s.speaker == speaker)
        heard = " ".join(m["text"] for m, s in zip(said, spoken, strict=True)
                         if s.speaker == speaker)
        rates[speaker] = word_error_rate(reference, heard)
    overall = word_error_rate(" ".join(s.text for s in spoken), " ".join(m["text"] for m in said))
    print(f"WER {label}: agent ({AGENT_VOICE}) {rates['agent']:.0%}, customer "
          f"({CUSTOMER_VOICE}) {rates['customer']:.0%}, overall {overall:.0%}")
    rates["overall"] = overall
    return rates


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".opus", ".mp3"])
def test_a_stereo_call_becomes_a_voice_session_transcribed_live(
    api: Api, feed: Feed, call: tuple[Path, list[Spoken]], tmp_path: Path, suffix: str
) -> None:
    source, spoken = call
    path = source if suffix == ".wav" else _convert(source, tmp_path / f"call{suffix}")
    answer = _import(api, path)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    session_id = body["session"]["id"]
    assert body["session"]["modality"] == "voice" and body["session"]["status"] == "active"
    assert body["transcription"]["state"] in ("queued", "running")
    # The recording is playable at once, while recognition runs.
    recording = api.get(f"/sessions/{session_id}/files/{body['file']['id']}")
    assert recording.status_code == 200 and recording.content == path.read_bytes()
    assert recording.headers["content-type"].startswith(body["file"]["mime"].split(";")[0])
    events = feed.events_until_ended(session_id)
    rates = _check_transcript(events, spoken, suffix)
    # The bar, in every format. Per voice: en-us+f2 (agent) 3-13 %; en-us+f3
    # (customer) 41-59 %, which the bundled acoustic model hears poorly whatever the
    # vocabulary: it is held to the overall bar only (docs/performance.md, "Voice").
    assert rates["overall"] <= 0.40, rates
    assert rates["agent"] <= 0.40, rates
    job = api.get(f"/sessions/{session_id}/transcription").json()
    assert job["state"] == "done" and job["percent"] == 100
    detail = api.get(f"/sessions/{session_id}").json()
    assert detail["session"]["status"] == "completed"
    assert detail["messages"][0]["id"] == "recording"


def test_a_mono_recording_has_turns_with_unknown_speakers(
    api: Api, feed: Feed, call: tuple[Path, list[Spoken]], tmp_path: Path
) -> None:
    source, spoken = call
    mono = tmp_path / "mono.wav"
    subprocess.run(["sox", str(source), str(mono), "remix", "1,2"], check=True)
    answer = _import(api, mono, role="supervisor")
    assert answer.status_code == 202, answer.text
    events = feed.events_until_ended(answer.json()["session"]["id"])
    said = [e["data"] for e in events if e["type"] == "message.created"
            and e["data"]["author"]["role"] != "system"]
    assert len(said) == len(spoken)
    assert {m["author"]["role"] for m in said} == {"unknown"}
    for message, sentence in zip(said, spoken, strict=True):
        assert abs(message["offset_ms"] - sentence.start_ms) <= 1000


def _session_count(api: Api) -> int:
    total: int = api.sessions()["total"]
    return total


def test_bad_recordings_are_refused_before_a_session_exists(
    api: Api, call: tuple[Path, list[Spoken]], tmp_path: Path, running_hub: EmbeddedHub
) -> None:
    before = _session_count(api)
    silent = tmp_path / "silent.wav"
    write_wav(silent, [np.zeros(RATE * 2, np.int16)])
    assert_error(_import(api, silent), 422, "silent_audio")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all, only text pretending to be a recording\n" * 10)
    assert_error(_import(api, text), 415, "unsupported_audio")
    # A real WAV container whose codec (format tag 0x9999) no decoder knows.
    odd = tmp_path / "odd.wav"
    fmt = struct.pack("<HHIIHH", 0x9999, 1, 16_000, 32_000, 2, 16)
    samples = b"\x01\x02" * 16_000
    odd.write_bytes(b"RIFF" + struct.pack("<I", 20 + len(fmt) + len(samples)) + b"WAVEfmt "
                    + struct.pack("<I", len(fmt)) + fmt + b"data"
                    + struct.pack("<I", len(samples)) + samples)
    body = assert_error(_import(api, odd), 415, "unsupported_audio")
    assert "codec" in body["message"]
    cut = tmp_path / "cut.flac"
    flac = _convert(call[0], tmp_path / "whole.flac").read_bytes()
    cut.write_bytes(flac[: 200] + b"\x00" * 5000)
    assert _import(api, cut).status_code in (415, 422)
    assert_error(_import(api, silent, role="viewer"), 403, "forbidden")
    assert_error(api.post("/sessions/import-audio", role="ingest", content=b"x",
                          params={"agent": "Ava", "channel": "pigeon"}), 422, "invalid_request")
    assert _session_count(api) == before
    blobs = running_hub.db_path.with_name(running_hub.db_path.name + ".files")
    assert [p for p in blobs.rglob("*") if p.is_file()] == []


def test_cancelling_keeps_the_recording_and_says_so(
    api: Api, feed: Feed, call: tuple[Path, list[Spoken]]
) -> None:
    answer = _import(api, call[0])
    session_id = answer.json()["session"]["id"]
    cancelled = api.request("DELETE", f"/sessions/{session_id}/transcription", role="supervisor")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    events = feed.events_until_ended(session_id)
    assert events[-1]["type"] == "session.ended"
    logs = api.get(f"/sessions/{session_id}/logs", params={"kind": "system"}).json()
    assert any("cancelled" in entry["text"] for entry in logs["entries"])
    files = api.get(f"/sessions/{session_id}/files").json()["items"]
    assert len(files) == 1 and files[0]["size"] == call[0].stat().st_size
    assert_error(api.request("DELETE", f"/sessions/{session_id}/transcription",
                             role="supervisor"), 409, "transcription_finished")



def _wait_for(condition: Any, timeout: float = 120.0) -> Any:
    return poll_until(condition, timeout)  # a recognition takes minutes on a busy machine


@pytest.mark.timeout(400)
def test_cli_import_and_kill_9_during_transcription_resumes_without_duplicates(
    call: tuple[Path, list[Spoken]], tmp_path: Path
) -> None:
    import httpx

    from tests.reliability.hubproc import HubProcess, prepare_db

    source, spoken = call
    # Three calls back to back: long enough to kill the hub in the middle of recognition.
    longer = tmp_path / "long.flac"
    subprocess.run(["sox", str(source), str(source), str(source), str(longer)], check=True)
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    url = hub.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "supervisor_desk.hub.cli", "import-audio", str(longer),
             "--agent", "Ava", "--customer", "Carl", "--channel", "sip", "--server", url,
             "--token-stdin"],
            input=tokens["ingest"] + "\n", capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        session_id = done.stdout.strip()
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}

        def job() -> dict[str, Any]:
            answer: dict[str, Any] = httpx.get(
                f"{hub.url}/api/v1/sessions/{session_id}/transcription", headers=viewer
            ).json()
            return answer

        _wait_for(lambda: job()["segments"] >= 3)
        assert job()["state"] == "running"
        hub.kill9()
        hub.restart()
        final = _wait_for(lambda: job() if job()["state"] == "done" else None, timeout=240)
        assert final["percent"] == 100
        detail = httpx.get(f"{hub.url}/api/v1/sessions/{session_id}", headers=viewer).json()
        said = [m for m in detail["messages"] if m["author"]["role"] != "system"]
        ids = [m["id"] for m in said]
        assert len(ids) == len(set(ids)) == 3 * len(spoken)  # nothing lost, nothing twice
        assert [m["seq"] for m in detail["messages"]] == list(
            range(1, len(detail["messages"]) + 1))
        offsets = [m["offset_ms"] for m in said]
        assert offsets == sorted(offsets)
        assert detail["session"]["status"] == "completed"
    finally:
        hub.stop()


def test_recognition_failing_half_way_keeps_the_recording_and_what_was_heard(
    api: Api, feed: Feed, call: tuple[Path, list[Spoken]]
) -> None:
    import psutil

    answer = _import(api, call[0])
    session_id = answer.json()["session"]["id"]

    def worker() -> psutil.Process | None:
        for child in psutil.Process().children(recursive=True):
            if "supervisor_desk.hub.transcribe" in " ".join(child.cmdline()):
                return child
        return None

    def heard() -> int:
        segments: int = api.get(f"/sessions/{session_id}/transcription").json()["segments"]
        return segments

    process = _wait_for(worker)
    _wait_for(lambda: heard() >= 2)
    process.kill()  # the recogniser dies in the middle of the recording
    events = feed.events_until_ended(session_id)
    # The job's row follows the session's events (the metadata on the feed leads).
    job = _wait_for(lambda: (answer := api.get(f"/sessions/{session_id}/transcription").json())
                    ["state"] != "running" and answer)
    assert job["state"] == "failed" and "exit status" in job["error"]
    assert 0 < job["percent"] < 100
    logs = api.get(f"/sessions/{session_id}/logs", params={"kind": "system"}).json()["entries"]
    assert len(logs) == 1 and logs[0]["level"] == "error"
    assert logs[0]["text"].startswith(f"transcription failed at {job['percent']} % (")
    detail = api.get(f"/sessions/{session_id}").json()
    said = [m for m in detail["messages"] if m["author"]["role"] != "system"]
    assert len(said) >= 2  # the part already transcribed stays
    assert detail["session"]["metadata"]["transcription_state"] == "failed"
    assert events[-1]["type"] == "session.ended"
    file_id = answer.json()["file"]["id"]
    assert api.get(f"/sessions/{session_id}/files/{file_id}").content == call[0].read_bytes()


def _workers() -> int:
    import psutil

    return sum("supervisor_desk.hub.transcribe" in " ".join(child.cmdline())
               for child in psutil.Process().children(recursive=True))


def test_one_recognition_at_a_time_by_default_the_next_waits_queued(
    api: Api, call: tuple[Path, list[Spoken]]
) -> None:
    first = _import(api, call[0]).json()["session"]["id"]
    second = _import(api, call[0], customer="Cleo").json()["session"]["id"]

    def state(session_id: str) -> str:
        value: str = api.get(f"/sessions/{session_id}/transcription").json()["state"]
        return value

    _wait_for(lambda: state(first) == "running")
    assert state(second) == "queued" and _workers() <= 1
    detail = api.get(f"/sessions/{second}").json()
    assert detail["session"]["metadata"]["transcription_state"] == "queued"
    _wait_for(lambda: state(second) == "running")
    assert state(first) == "done"
    _wait_for(lambda: state(second) == "done")
