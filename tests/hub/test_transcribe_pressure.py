"""Transcription yields to a saturated hub: while the hub's ingest is saturated its worker
rests longer between segments, back to its normal duty when ingest calms down, and the job
still completes. A real hub process, a real worker, real platform connections."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from supervisor_desk.hub.store.sqlite import SqliteStore
from supervisor_desk.hub.transcribe import pressure
from tests.audio_samples import HAVE_SPEECH_TOOLS, make_call
from tests.audio_samples import recognise_at_full_speed as recognise_at_full_speed
from tests.helpers import poll_until
from tests.reliability.hubproc import HubProcess, prepare_db

DIALOGUE = (
    ("agent", "thank you for calling how can i help you today"),
    ("customer", "i would like a refund for my last invoice"),
    ("agent", "i can help you with that please tell me your account number"),
)
POSTERS = 4


def test_ingest_counts_as_saturated_while_the_writer_is_busy_most_of_a_tick() -> None:
    gauge = pressure.IngestPressure()
    assert gauge.sample(0.0, 0.0) is None  # the first sample only starts the count
    assert gauge.sample(0.05, 0.5) is None  # live traffic: the writer busy 10 % of the time
    assert gauge.sample(0.45, 1.0) is None  # 80 % for a tick: one slow commit, perhaps
    assert gauge.sample(0.50, 1.5) is None
    assert gauge.sample(0.90, 2.0) is None
    assert gauge.sample(1.35, 2.5) is True  # 80-90 % twice in a row: saturated
    busy, now = 1.35, 2.5
    for busy, now in ((1.40, 3.0), (1.85, 3.5), (1.90, 4.0), (2.35, 4.5)):
        assert gauge.sample(busy, now) is None  # a dip for one tick keeps it so
    assert gauge.sample(busy + 0.05, now + 0.5) is None  # quiet once...
    assert gauge.sample(busy + 0.10, now + 1.0) is False  # ...twice in a row: calm again
    assert gauge.sample(busy + 0.15, now + 1.5) is None and not gauge.pressed


def test_a_rest_follows_the_pressure_and_a_change_reaches_a_rest_already_begun() -> None:
    reports: list[dict[str, object]] = []
    pacer = pressure.Pacer(0.3, report=reports.append)
    assert pacer.rest_left(1.0, 0.0) == pytest.approx(1.0 / 0.3 - 1.0)
    pacer.set_pressure(True)
    assert pacer.duty == pressure.PRESSED_DUTY
    assert pacer.rest_left(1.0, 2.0) == pytest.approx(1.0 / pressure.PRESSED_DUTY - 3.0)
    pacer.set_pressure(True)  # no change: no report
    pacer.set_pressure(False)
    assert reports == [{"duty": pressure.PRESSED_DUTY, "pressure": True},
                       {"duty": 0.3, "pressure": False}]

    # At duty 1 it never rests, but under pressure 19x the CPU time: 9.5 s after 0.5 s.
    pacer = pressure.Pacer(1.0)
    pacer.set_pressure(True)
    resting = threading.Thread(target=pacer.rest, args=(0.5,))
    resting.start()
    pacer.set_pressure(False)  # the hub calmed down: the rest ends now, not in 9.5 s
    resting.join(5)
    assert not resting.is_alive()


def _burn(cpu_s: float) -> None:
    until = time.process_time() + cpu_s
    while time.process_time() < until:
        pass


def test_between_a_segments_two_decodes_it_rests_only_while_the_hub_is_saturated() -> None:
    pacer = pressure.Pacer(1.0)
    pacer.begin()
    _burn(0.02)
    pacer.breathe()  # not pressed: no rest, the CPU time is still to be rested for
    assert pacer.take_cpu_s() >= 0.02
    pacer.set_pressure(True)
    pacer.begin()
    _burn(0.02)
    began = time.monotonic()
    pacer.breathe()  # pressed: 19x the CPU time used so far, now
    assert time.monotonic() - began >= 19 * 0.02
    assert pacer.take_cpu_s() < 0.02  # rested for: the segment's end rests for the rest


def test_the_worker_follows_the_lines_on_its_stdin_until_they_end(tmp_path: Path) -> None:
    lines = tmp_path / "stdin"
    lines.write_text('not json\n{"pressure": true}\n{"other": 1}\n')
    reports: list[dict[str, object]] = []
    pacer = pressure.Pacer(0.3, report=reports.append)
    with open(lines) as stdin:
        pacer.listen(stdin).join(5)
    # Pressed by the hub's line; off at the end of its lines (the hub gone).
    assert reports == [{"duty": pressure.PRESSED_DUTY, "pressure": True},
                       {"duty": 0.3, "pressure": False}]


def _batch(prefix: str) -> bytes:
    at = "2026-01-01T10:00:00.000Z"
    events: list[dict[str, object]] = [{
        "id": f"{prefix}-start", "type": "session.started", "session_id": prefix, "at": at,
        "data": {"agent": {"id": "a1", "name": "Ava"}, "channel": "web", "status": "active",
                 "user": {"id": f"u-{prefix}", "name": "Customer"}}}]
    events += [{"id": f"{prefix}-m{m}", "type": "message.created", "session_id": prefix,
                "at": at, "data": {"id": f"m{m}", "at": at, "author": {"role": "customer"},
                                   "text": f"invoice {m}"}} for m in range(1, 100)]
    return json.dumps({"events": events}).encode()


@pytest.fixture
def saturating_ingest() -> Iterator[Callable[[list[str], str], threading.Event]]:
    """Platforms posting 100-event batches back to back (a token each: the hub limits each
    token), until the returned event is set."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(tokens: list[str], url: str) -> threading.Event:
        def post(token: str, k: int) -> None:
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                i = 0
                while not stop.is_set():
                    client.post("/api/v1/ingest", content=_batch(f"p{k}-{i}"),
                                headers={"Content-Type": "application/json"}
                                ).raise_for_status()
                    i += 1

        threads.extend(threading.Thread(target=post, args=(token, k), name=f"poster-{k}")
                       for k, token in enumerate(tokens))
        for thread in threads:
            thread.start()
        return stop

    try:
        yield start
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def _duties(log: Path) -> list[str]:
    return [line.split(": duty ", 1)[1] for line in log.read_text().splitlines()
            if ": duty " in line]


@pytest.mark.timeout(120)
@pytest.mark.skipif(not HAVE_SPEECH_TOOLS,
                    reason="espeak-ng and sox come from scripts/system-deps.sh")
def test_while_the_hubs_ingest_is_saturated_the_worker_rests_longer_and_still_finishes(
    tmp_path: Path, saturating_ingest: Callable[[list[str], str], threading.Event]
) -> None:
    call, _ = make_call(tmp_path, DIALOGUE, 1.0)
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    storage = SqliteStore(db)
    try:
        posters = [storage.create_token(f"poster-{k}", "ingest")[0] for k in range(POSTERS)]
    finally:
        storage.close()
    # Duty 1 (recognise_at_full_speed): any rest the worker takes is the pressure's.
    hub = HubProcess(db, 0, "--log-level", "debug")
    hub.start()
    try:
        answer = httpx.post(f"{hub.url}/api/v1/sessions/import-audio",
                            content=call.read_bytes(), timeout=60,
                            params={"agent": "Ava", "channel": "sip"},
                            headers={"Authorization": f"Bearer {tokens['ingest']}"})
        assert answer.status_code == 202, answer.text
        session_id = answer.json()["session"]["id"]

        def job() -> dict[str, object]:
            found: dict[str, object] = httpx.get(
                f"{hub.url}/api/v1/sessions/{session_id}/transcription", timeout=60,
                headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()
            return found

        poll_until(lambda: job()["state"] == "running")
        before = len(_duties(hub.log))
        stop = saturating_ingest(posters, hub.url)
        saturated = f"{pressure.PRESSED_DUTY} (the hub's ingest is saturated)"
        poll_until(lambda: saturated in _duties(hub.log)[before:])
        stop.set()
        calm = "1.0 (the hub's ingest is no longer saturated)"
        poll_until(lambda: _duties(hub.log)[-1] == calm)
        done = poll_until(lambda: (found := job())["state"] in ("done", "failed") and found)
        assert done["state"] == "done" and done["percent"] == 100
    finally:
        hub.stop()
