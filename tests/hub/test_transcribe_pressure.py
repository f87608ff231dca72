"""Transcription yields to a busy hub: while the hub's ingest is saturated or its feed is
busy its worker rests longer between segments, back to its normal duty when the hub calms
down, and the job still completes. A real hub process, a real worker, real platform
connections and real feed clients."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.sync.client import connect

from supervisor_desk.hub.feed import Broadcaster
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
needs_speech = pytest.mark.skipif(not HAVE_SPEECH_TOOLS,
                                  reason="espeak-ng and sox come from scripts/system-deps.sh")


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


def test_the_feed_counts_as_busy_while_its_fan_out_hands_over_many_frames() -> None:
    gauge = pressure.FeedPressure()
    assert gauge.sample(0, 0.0) is None  # the first sample only starts the count
    assert gauge.sample(50, 0.25) is None  # 200 frames/s: a quiet floor
    assert gauge.sample(600, 0.5) is None  # 2,200 frames/s for one tick
    assert gauge.sample(650, 0.75) is None  # a burst: not busy
    assert gauge.sample(1150, 1.0) is None
    assert gauge.sample(1650, 1.25) is True  # 2,000 frames/s twice in a row: busy
    assert gauge.rate == pytest.approx(2000)
    assert gauge.sample(1750, 1.5) is None  # a dip for one tick keeps it so
    assert gauge.sample(2250, 1.75) is None
    assert gauge.sample(2300, 2.0) is None  # quiet once...
    assert gauge.sample(2350, 2.25) is False  # ...twice in a row: calm again
    assert not gauge.pressed


def test_the_hub_is_busy_while_its_ingest_or_its_feed_is() -> None:
    gauge = pressure.HubPressure()
    changes = []
    # The feed busy from 0.5 s, ingest saturated from 1.5 s, the feed calm from 2.5 s,
    # ingest calm from 3.5 s: one busy spell, told once at each end.
    busy_s, frames = 0.0, 0
    for tick in range(1, 24):
        now = tick * 0.25
        frames += 500 if 0.5 <= now < 2.5 else 10
        busy_s += 0.225 if 1.5 <= now < 3.5 else 0.02
        changed = gauge.sample(pressure.HubLoad(busy_s, frames), now)
        if changed is not None:
            changes.append((now, changed, gauge.cause()))
    assert [(now, changed) for now, changed, _ in changes] == [(0.75, True), (3.75, False)]
    assert "feed busy, 2,000 frames/s" in changes[0][2]
    assert "ingest calm" in changes[1][2] and "feed calm" in changes[1][2]


def test_the_broadcaster_counts_each_frame_handed_to_each_client() -> None:
    broadcaster = Broadcaster(0)
    broadcaster.publish([(1, "{}")])  # nobody listening: nothing handed over
    for _ in range(3):
        broadcaster.subscribe()
    broadcaster.publish([(2, "{}"), (3, "{}")])
    broadcaster.publish([(3, "{}")])  # already delivered
    assert broadcaster.frames_published == 6


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


RESTING_CHILD = """
import time
from supervisor_desk.hub.transcribe.pressure import Pacer
pacer = Pacer(0.5)  # rests as long as it worked: 1 s after 1 s of CPU
began = time.monotonic()
print("resting", flush=True)
pacer.rest(1.0)
print(time.monotonic() - began, flush=True)
"""


def test_time_the_worker_was_stopped_is_not_counted_as_rest() -> None:
    child = subprocess.Popen([sys.executable, "-c", RESTING_CHILD], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "resting\n"
        # In its rest (asleep on the pacer's condition), not still on its way there.
        poll_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_SLEEPING)
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(2.0)  # stopped for 2 s: the length of the stop, not a wait for the child
        os.kill(child.pid, signal.SIGCONT)
        took = float(child.stdout.readline())
    finally:
        child.kill()
        child.wait(10)
    # The stop counted as at most one step of rest (0.5 + 0.25 s): it rested on afterwards,
    # instead of starting its next segment the moment it was continued (at 2 s).
    step = pressure.REST_STEP_S + pressure.OVERSLEEP_S
    assert took >= 2.0 + (1.0 - step) * 0.9


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


def _batch(prefix: str, size: int = 100) -> bytes:
    at = "2026-01-01T10:00:00.000Z"
    events: list[dict[str, object]] = [{
        "id": f"{prefix}-start", "type": "session.started", "session_id": prefix, "at": at,
        "data": {"agent": {"id": "a1", "name": "Ava"}, "channel": "web", "status": "active",
                 "user": {"id": f"u-{prefix}", "name": "Customer"}}}]
    events += [{"id": f"{prefix}-m{m}", "type": "message.created", "session_id": prefix,
                "at": at, "data": {"id": f"m{m}", "at": at, "author": {"role": "customer"},
                                   "text": f"invoice {m}"}} for m in range(1, size)]
    return json.dumps({"events": events}).encode()


class _Load:
    """Threads that load a hub until ``stop`` is set: by the test, or at the latest by
    ``end``, which waits for them."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, threads: Iterable[threading.Thread]) -> threading.Event:
        for thread in threads:
            self.threads.append(thread)
            thread.start()
        return self.stop

    def end(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


@pytest.fixture
def saturating_ingest() -> Iterator[Callable[[list[str], str], threading.Event]]:
    """Platforms posting 100-event batches back to back (a token each: the hub limits each
    token), until the returned event is set."""
    load = _Load()

    def start(tokens: list[str], url: str) -> threading.Event:
        def post(token: str, k: int) -> None:
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                i = 0
                while not load.stop.is_set():
                    client.post("/api/v1/ingest", content=_batch(f"p{k}-{i}"),
                                headers={"Content-Type": "application/json"}
                                ).raise_for_status()
                    i += 1

        return load.start(threading.Thread(target=post, args=(token, k), name=f"poster-{k}")
                          for k, token in enumerate(tokens))

    try:
        yield start
    finally:
        load.end()


# The worker's report of a change reaches the hub's log between its segments, and a worker
# at nice 19 on a machine loaded by other work runs late (both tests failed once in a run at
# load 5-6 with 60 s; they pass in 12-40 s otherwise).
PATIENCE_S = 120.0
BUSY = f"{pressure.PRESSED_DUTY} (the hub is busy)"
CALM = "1.0 (the hub is no longer busy)"  # duty 1: recognise_at_full_speed


def _duties(log: Path) -> list[str]:
    """The worker's duty at each change it reported, as the hub logged them."""
    return [line.split(": duty ", 1)[1] for line in log.read_text().splitlines()
            if ": duty " in line]


def _told(log: Path) -> list[str]:
    """What the hub told its worker at each change, with the cause."""
    return [line.split("told the worker ", 1)[1] for line in log.read_text().splitlines()
            if "told the worker " in line]


@contextlib.contextmanager
def _hub_transcribing(
    db: Path, call: Path, tokens: dict[str, str]
) -> Iterator[tuple[HubProcess, Callable[[], dict[str, object]]]]:
    """A hub on ``db`` whose worker is transcribing ``call``, and a look at the job; the hub
    stops at the end."""
    # Debug: the hub logs each duty its worker reports (``_duties``).
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
        yield hub, job
    finally:
        hub.stop()


@contextlib.contextmanager
def _busy_spell(hub: HubProcess, press: Callable[[], threading.Event]) -> Iterator[str]:
    """``press()`` puts the hub under pressure until the worker reports the pressed duty (what
    the hub told it then is yielded); at the end of the block the pressure stops, until the
    worker is back at its normal duty."""
    before = len(_duties(hub.log))
    stop = press()
    poll_until(lambda: BUSY in _duties(hub.log)[before:], PATIENCE_S)
    yield _told(hub.log)[-1]
    stop.set()
    poll_until(lambda: _duties(hub.log)[-1] == CALM, PATIENCE_S)


@pytest.mark.timeout(300)
@needs_speech
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
    with _hub_transcribing(db, call, tokens) as (hub, job):
        with _busy_spell(hub, lambda: saturating_ingest(posters, hub.url)) as told:
            assert "ingest saturated" in told
        done = poll_until(lambda: (found := job())["state"] in ("done", "failed") and found)
        assert done["state"] == "done" and done["percent"] == 100


FEED_CLIENTS = 10


@pytest.fixture
def busy_feed() -> Iterator[Callable[[dict[str, str], str], threading.Event]]:
    """Desktops reading the feed while a platform posts 200 events/s (10 every 50 ms): 2,000
    frames a second handed to them, until the returned event is set."""
    load = _Load()

    def start(tokens: dict[str, str], url: str) -> threading.Event:
        feed_url = url.replace("http", "ws", 1) + "/api/v1/feed"
        listening = threading.Barrier(FEED_CLIENTS + 1, timeout=30)

        def read() -> None:
            with connect(feed_url, max_size=None,
                         additional_headers={"Authorization": f"Bearer {tokens['viewer']}"}
                         ) as socket:
                socket.recv(30)  # hello: subscribed
                listening.wait()
                while not load.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        socket.recv(0.5)

        def post() -> None:
            listening.wait()
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {tokens['ingest']}"}) as client:
                i = 0
                while not load.stop.wait(0.05):
                    client.post("/api/v1/ingest", content=_batch(f"f{i}", 10),
                                headers={"Content-Type": "application/json"}
                                ).raise_for_status()
                    i += 1

        desktops = [threading.Thread(target=read, name=f"desktop-{k}")
                    for k in range(FEED_CLIENTS)]
        return load.start([*desktops, threading.Thread(target=post, name="platform")])

    try:
        yield start
    finally:
        load.end()


@pytest.mark.timeout(300)
@needs_speech
def test_while_the_hubs_feed_is_busy_the_worker_rests_longer_and_resumes_after(
    tmp_path: Path, busy_feed: Callable[[dict[str, str], str], threading.Event]
) -> None:
    call, _ = make_call(tmp_path, DIALOGUE, 1.0)
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    with _hub_transcribing(db, call, tokens) as (hub, job):
        with _busy_spell(hub, lambda: busy_feed(tokens, hub.url)) as told:
            assert "feed busy" in told and "ingest calm" in told, told
        done = poll_until(lambda: (found := job())["state"] in ("done", "failed") and found)
        assert done["state"] == "done" and done["percent"] == 100
