"""Transcription on the hub: speed, CPU, and what it costs ingest and the feed meanwhile.

    python -m benchmarks.voice_bench [--quick] [--json PATH]

Speech is made here with espeak-ng (a stereo call: customer left, agent right), repeated to
length (quick: 1 call, ~26 s of audio; full: 2 calls, ~52 s). The hub runs as
``supervisor-hub serve`` in its own process. Full size takes about 4 minutes. Figures:

- ``voice.realtime_factor``: seconds of audio transcribed per second of wall time, the hub
  otherwise idle (from the import's 202 to its ``done``), with the hub's defaults: 1 worker
  recognising at most ``voice.transcribe_duty`` of the time (``serve --transcribe-duty``,
  ``SUPERVISOR_HUB_TRANSCRIBE_DUTY``).
- ``voice.worker_cpu_s_per_audio_s``: CPU seconds the worker process used per second of audio.
- Then a transcription 4x as long is paused (SIGSTOP) and running, alternately (6 rounds,
  full: 10; each round paused-then-running or running-then-paused in turn, so a drift of
  the machine's load weighs on both alike). In each half, ingest, then the feed:
- ``voice.ingest_events_per_s`` / ``voice.ingest_events_per_s_transcribing``: 4 platform
  connections (a token each) posting batches of 100 events as fast as the hub takes them
  (quick: 1.5 s, full: 2.5 s a half); medians of the halves; ``voice.ingest_change_pct`` the
  difference.
- ``voice.feed_p99_ms`` / ``voice.feed_p99_ms_transcribing``: 10 desktop-like feed readers
  (websockets, in this process) while a platform posts 200 events/s in POSTs of 5 events
  (quick: 3 s, full: 5.5 s a half); a frame's latency = received - its POST's start; the p99
  of every frame of a condition's halves pooled (full: 10 x 5.5 s = 11,000 frames per
  reader, 2,200 POSTs a condition). One half's p99 rests on its few slowest POSTs and swung by tens
  of percent between runs of the same code; ``voice.feed_round_p99_ms_*rounds`` still give
  it per half, and ``voice.feed_round_p99_median_change_pct`` the change of their medians
  (the old figure). ``voice.feed_change_pct`` the difference, ``voice.feed_p50_ms*`` the
  median.
- ``voice.feed_noise_pct`` / ``voice.ingest_noise_pct``: the same comparison between the
  paused halves themselves (odd against even rounds, pooled for the feed): how large a
  change the machine's other load makes on its own. A ``*_change_pct`` smaller than its
  noise is not a measured effect.
- Beside the feed's latency, per condition, what each process did meanwhile
  (``/proc/<pid>/task/*/schedstat``): ``voice.feed_cpu_<p>`` cores used,
  ``voice.feed_runq_ms_per_s_<p>`` ms per second it waited on a run queue while runnable,
  ``voice.feed_runq_us_per_slice_<p>`` µs it waited each time it was put on a CPU; ``<p>``:
  ``hub`` (all its threads), ``hub_loop`` (its event loop's thread: the fan-out), ``bench``
  (the readers and the platform) and ``worker``. ``voice.feed_steal_share*``: the part of
  the time the virtual machine's host held its CPUs.
- ``voice.worker_cpu_share_running``: the worker's CPU seconds per second of the running
  halves; ``voice.realtime_factor_running`` how fast it transcribes beside that traffic,
  that share over ``voice.worker_cpu_s_per_audio_s`` (the job's percent moves a segment at
  a time: too coarse for short rounds; ``voice.audio_heard_running_s`` gives it);
  ``voice.worker_cpu_share_ingest`` / ``voice.realtime_factor_ingest`` the same over the
  running halves' saturating ingest only, ``voice.worker_cpu_share_feed`` /
  ``voice.realtime_factor_feed`` over their feed measure only (the hub tells the worker
  when its ingest is saturated or its feed busy and the worker rests longer,
  ``hub/transcribe/pressure.py``); ``voice.worker_nice_running``: the worker's autogroup
  nice at the end of each running half (it steers it itself, ``hub/transcribe/priority.py``;
  None without autogroups).
- ``voice.load_avg``: the machine's 1-minute load average at the start and the end.

Knobs (environment): ``VOICE_BENCH_ROUNDS``, ``VOICE_BENCH_WINDOW_S`` (ingest) and
``VOICE_BENCH_FEED_WINDOW_S`` replace the rounds and the seconds of each measure;
``VOICE_BENCH_FEED_BATCH`` the events per feed POST (still 200 events/s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import numpy as np
import psutil
import websockets

from benchmarks._common import main_for, percentile
from benchmarks.hub_bench import hub_process
from supervisor_desk.hub.transcribe.jobs import VoiceSettings

Results = dict[str, Any]
DIALOGUE = (
    ("agent", "thank you for calling how can i help you today"),
    ("customer", "i would like a refund for my last invoice"),
    ("agent", "i can help you with that please tell me your account number"),
    ("customer", "my account number is four five six seven"),
    ("agent", "thank you the refund will arrive in five days"),
    ("customer", "thank you very much goodbye"),
)
VOICES = {"agent": "en-us+f2", "customer": "en-us+f3"}
POSTERS = 4  # ingest connections at full speed


def make_call(folder: Path, repeats: int) -> tuple[Path, float]:
    """A stereo WAV of the dialogue ``repeats`` times; returns it and its seconds."""
    rate = 22_050
    left: list[bytes] = []
    right: list[bytes] = []
    pause = b"\x00\x00" * rate
    for index, (speaker, text) in enumerate(DIALOGUE):
        path = folder / f"s{index}.wav"
        subprocess.run(["espeak-ng", "-v", VOICES[speaker], "-s", "140", "-w", str(path), text],
                       check=True)
        with wave.open(str(path)) as source:
            samples = source.readframes(source.getnframes())
        silence = b"\x00" * len(samples)
        left += [pause, samples if speaker == "customer" else silence]
        right += [pause, samples if speaker == "agent" else silence]
    one_left = np.frombuffer(b"".join(left), np.int16)
    one_right = np.frombuffer(b"".join(right), np.int16)
    stereo = np.stack([np.tile(one_left, repeats), np.tile(one_right, repeats)], axis=1)
    call = folder / "call.wav"
    with wave.open(str(call), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(stereo.astype(np.int16).tobytes())
    return call, len(stereo) / rate


def _tokens(db: Path) -> dict[str, str]:
    from supervisor_desk.hub.store.sqlite import SqliteStore

    storage = SqliteStore(db)
    try:
        tokens = {role: storage.create_token(f"bench-{role}", role)[0]
                  for role in ("ingest", "viewer")}
        # One token per ingest connection: the hub limits each token (5,000 events/s by
        # default), and an idle hub takes more than that from four connections.
        for k in range(POSTERS):
            tokens[f"ingest{k}"] = storage.create_token(f"bench-ingest{k}", "ingest")[0]
        return tokens
    finally:
        storage.close()


def _batch(prefix: str, n: int) -> bytes:
    at = "2026-01-01T10:00:00.000Z"
    events: list[dict[str, Any]] = [{
        "id": f"{prefix}-start", "type": "session.started", "session_id": prefix, "at": at,
        "data": {"agent": {"id": "a1", "name": "Ava"}, "channel": "web", "status": "active",
                 "user": {"id": f"u-{prefix}", "name": "Customer"}}}]
    for m in range(1, n):
        events.append({"id": f"{prefix}-m{m}", "type": "message.created", "session_id": prefix,
                       "at": at, "data": {"id": f"m{m}", "at": at,
                                          "author": {"role": "customer"},
                                          "text": f"t={time.time():.6f} invoice {m}"}})
    return json.dumps({"events": events}).encode()


async def ingest_rate(url: str, tokens: dict[str, str], seconds: float, tag: str) -> float:
    stored = 0
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def poster(k: int) -> None:
            nonlocal stored
            i = 0
            headers = {"Authorization": f"Bearer {tokens[f'ingest{k}']}",
                       "Content-Type": "application/json"}
            while time.monotonic() < stop_at:
                answer = await client.post("/api/v1/ingest", headers=headers,
                                           content=_batch(f"{tag}{k}-{i}", 100))
                answer.raise_for_status()
                stored += 100
                i += 1

        started = time.monotonic()
        await asyncio.gather(*(poster(k) for k in range(POSTERS)))
        return stored / (time.monotonic() - started)


FEED_CLIENTS = 10
FEED_EVENTS_PER_S = 200


@dataclass
class FeedSample:
    """One feed measure: every frame's latency, and what the processes did meanwhile."""

    latencies_ms: list[float]
    posts: int
    seconds: float
    # Per process ("hub", "hub_loop": the hub's event-loop thread, "bench", "worker"):
    # CPU seconds run, seconds waited on a run queue while runnable, times scheduled.
    sched: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    steal_s: float = 0.0


def _schedstat(pid: int, tid: int | None = None) -> tuple[float, float, int]:
    """(CPU s, run-queue wait s, times on a CPU) of a process's threads, or of one thread
    (``/proc/<pid>/task/<tid>/schedstat``; a thread that ended meanwhile is left out)."""
    tasks = Path(f"/proc/{pid}/task")
    ran = waited = slices = 0
    try:
        names = [str(tid)] if tid is not None else os.listdir(tasks)
    except OSError:
        return 0.0, 0.0, 0
    for name in names:
        try:
            fields = (tasks / name / "schedstat").read_text().split()
        except OSError:
            continue
        ran, waited, slices = ran + int(fields[0]), waited + int(fields[1]), \
            slices + int(fields[2])
    return ran / 1e9, waited / 1e9, slices


def _steal_s() -> float:
    """Seconds the machine's virtual CPUs were held by the host (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def _sched_all(hub: int, worker: int) -> dict[str, tuple[float, float, int]]:
    return {"hub": _schedstat(hub), "hub_loop": _schedstat(hub, hub),
            "bench": _schedstat(os.getpid()), "worker": _schedstat(worker)}


async def feed_latencies(url: str, tokens: dict[str, str], seconds: float, tag: str,
                         hub: int, worker: int, batch: int) -> FeedSample:
    """10 desktop-like feed readers while a platform posts 200 events/s in ``batch``-event
    POSTs; each frame's latency = received - its POST's start."""
    ws_url = url.replace("http", "ws", 1) + "/api/v1/feed"
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    heard: dict[str, int] = {}
    last: list[str] = []
    all_heard = asyncio.Event()
    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    done = asyncio.Event()

    async def client() -> None:
        async with websockets.connect(ws_url, additional_headers=headers,
                                      max_size=None) as socket:
            await socket.recv()  # hello
            ready.release()
            while not done.is_set():
                try:
                    raw = await asyncio.wait_for(socket.recv(), 1.0)
                except TimeoutError:
                    continue
                received = time.monotonic()
                session_id = json.loads(raw)["event"]["session_id"]
                if session_id in sent_at:
                    latencies.append((received - sent_at[session_id]) * 1000)
                    heard[session_id] = heard.get(session_id, 0) + 1
                    if last and session_id == last[0] and \
                            heard[session_id] == batch * FEED_CLIENTS:
                        all_heard.set()

    ready = asyncio.Semaphore(0)
    clients = [asyncio.create_task(client()) for _ in range(FEED_CLIENTS)]
    for _ in clients:
        await ready.acquire()
    ingest_headers = {"Authorization": f"Bearer {tokens['ingest']}",
                      "Content-Type": "application/json"}
    period = batch / FEED_EVENTS_PER_S
    async with httpx.AsyncClient(base_url=url, headers=ingest_headers, timeout=60) as poster:
        sched_before, steal_before = _sched_all(hub, worker), _steal_s()
        began = time.monotonic()
        stop_at = began + seconds
        i = 0
        while time.monotonic() < stop_at:
            session_id = f"{tag}-f{i}"
            body = _batch(session_id, batch)
            sent_at[session_id] = time.monotonic()
            (await poster.post("/api/v1/ingest", content=body)).raise_for_status()
            i += 1
            await asyncio.sleep(max(0.0, sent_at[session_id] + period - time.monotonic()))
        last.append(session_id)
        if heard.get(session_id, 0) == batch * FEED_CLIENTS:
            all_heard.set()
        with contextlib.suppress(TimeoutError):  # a lost frame shows as a short count
            await asyncio.wait_for(all_heard.wait(), 5.0)
        elapsed = time.monotonic() - began
        sched_after, steal_after = _sched_all(hub, worker), _steal_s()
    done.set()
    await asyncio.gather(*clients)
    sched = {name: (sched_after[name][0] - sched_before[name][0],
                    sched_after[name][1] - sched_before[name][1],
                    sched_after[name][2] - sched_before[name][2]) for name in sched_after}
    return FeedSample(latencies, i, elapsed, sched, steal_after - steal_before)


def _feed_figures(samples: list[FeedSample], suffix: str) -> Results:
    """Pooled over every round of one condition (paused, or running)."""
    pooled = [v for sample in samples for v in sample.latencies_ms]
    seconds = sum(sample.seconds for sample in samples)
    out: Results = {
        f"voice.feed_p99_ms{suffix}": round(percentile(pooled, 99), 1),
        f"voice.feed_p50_ms{suffix}": round(percentile(pooled, 50), 1),
        f"voice.feed_frames{suffix}": len(pooled),
        f"voice.feed_posts{suffix}": sum(sample.posts for sample in samples),
        f"voice.feed_steal_share{suffix}": round(
            sum(sample.steal_s for sample in samples) / seconds, 3),
    }
    for name in ("hub", "hub_loop", "bench", "worker"):
        ran = sum(sample.sched[name][0] for sample in samples)
        waited = sum(sample.sched[name][1] for sample in samples)
        slices = sum(sample.sched[name][2] for sample in samples)
        out[f"voice.feed_cpu_{name}{suffix}"] = round(ran / seconds, 3)
        # Run-queue wait: ms per second of the measure, and per time it was scheduled (µs).
        out[f"voice.feed_runq_ms_per_s_{name}{suffix}"] = round(waited / seconds * 1000, 2)
        out[f"voice.feed_runq_us_per_slice_{name}{suffix}"] = round(
            waited / max(slices, 1) * 1e6, 1)
    return out


def _worker(hub: psutil.Process) -> psutil.Process | None:
    for child in hub.children(recursive=True):
        try:
            if "supervisor_desk.hub.transcribe" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def transcribe(url: str, hub: psutil.Process, tokens: dict[str, str], call: Path,
               seconds_of_audio: float) -> tuple[str, float, float]:
    """Import ``call``; returns the session id, wall seconds to done and worker CPU seconds."""
    headers = {"Authorization": f"Bearer {tokens['ingest']}"}
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.monotonic()
        answer = client.post("/api/v1/sessions/import-audio", content=call.read_bytes(),
                             params={"agent": "Ava", "channel": "sip"}, headers=headers)
        answer.raise_for_status()
        session_id = answer.json()["session"]["id"]
        cpu = 0.0
        while True:
            worker = _worker(hub)
            if worker is not None:
                try:
                    times = worker.cpu_times()
                    cpu = max(cpu, times.user + times.system)
                except psutil.Error:
                    pass
            job = client.get(f"/api/v1/sessions/{session_id}/transcription",
                             headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()
            if job["state"] in ("done", "failed", "cancelled"):
                if job["state"] != "done":
                    raise RuntimeError(f"transcription {job['state']}: {job.get('error')}")
                return session_id, time.monotonic() - started, cpu
            time.sleep(0.1)


def _job(url: str, tokens: dict[str, str], session_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(
        f"{url}/api/v1/sessions/{session_id}/transcription", timeout=60,
        headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()
    return answer


def _autogroup_nice(worker: psutil.Process) -> int | None:
    try:
        return int(Path(f"/proc/{worker.pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_s(worker: psutil.Process) -> float:
    times = worker.cpu_times()
    return float(times.user + times.system)


def run(quick: bool) -> Results:
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is needed (scripts/system-deps.sh)")
    repeats = 1 if quick else 2  # quick: a smoke run beside the others (benchmarks/__main__)
    window = float(os.environ.get("VOICE_BENCH_WINDOW_S", 1.5 if quick else 2.5))
    feed_window = float(os.environ.get("VOICE_BENCH_FEED_WINDOW_S", 3.0 if quick else 5.5))
    rounds = int(os.environ.get("VOICE_BENCH_ROUNDS", 6 if quick else 10))
    feed_batch = int(os.environ.get("VOICE_BENCH_FEED_BATCH", 5))
    results: Results = {"voice.load_avg": [round(os.getloadavg()[0], 1)]}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        call, audio_s = make_call(tmp, repeats)
        results["voice.audio_seconds"] = round(audio_s, 1)
        db = tmp / "voice.db"
        tokens = _tokens(db)
        with hub_process(db) as (url, hub):
            _, wall, cpu = transcribe(url, hub, tokens, call, audio_s)
            results["voice.realtime_factor"] = round(audio_s / wall, 2)
            results["voice.worker_cpu_s_per_audio_s"] = round(cpu / audio_s, 3)

            # The same transcription paused (SIGSTOP) and running, alternately: other load on
            # the machine then weighs on both sides alike.
            (tmp / "long").mkdir()
            long_call, long_s = make_call(tmp / "long", repeats * 4)
            headers = {"Authorization": f"Bearer {tokens['ingest']}"}
            answer = httpx.post(f"{url}/api/v1/sessions/import-audio",
                                content=long_call.read_bytes(), headers=headers, timeout=120,
                                params={"agent": "Ava", "channel": "sip"})
            answer.raise_for_status()
            session_id = answer.json()["session"]["id"]
            deadline = time.monotonic() + 30
            worker = _worker(hub)
            while worker is None and time.monotonic() < deadline:
                time.sleep(0.05)
                worker = _worker(hub)
            assert worker is not None, "the transcription did not start"
            time.sleep(1.0)  # past loading the model: recognising
            ingest: dict[str, list[float]] = {"": [], "_t": []}
            feed: dict[str, list[FeedSample]] = {"": [], "_t": []}
            running_throughout = True
            running_s = running_cpu_s = heard_s = 0.0
            # Running rounds, split: (seconds, worker CPU seconds) of the ingest and the feed.
            split = {"ingest": [0.0, 0.0], "feed": [0.0, 0.0]}
            niceness: list[int | None] = []
            for round_ in range(rounds):
                for paused in ((True, False) if round_ % 2 == 0 else (False, True)):
                    (worker.suspend if paused else worker.resume)()
                    tag = f"r{round_}{'p' if paused else 't'}"
                    suffix = "" if paused else "_t"
                    began, cpu_before = time.monotonic(), _cpu_s(worker)
                    percent = _job(url, tokens, session_id)["percent"]
                    ingest[suffix].append(asyncio.run(ingest_rate(url, tokens, window, tag)))
                    between, cpu_between = time.monotonic(), _cpu_s(worker)
                    feed[suffix].append(asyncio.run(feed_latencies(
                        url, tokens, feed_window, tag, hub.pid, worker.pid, feed_batch)))
                    if not paused:
                        split["ingest"][0] += between - began
                        split["ingest"][1] += cpu_between - cpu_before
                        split["feed"][0] += time.monotonic() - between
                        split["feed"][1] += _cpu_s(worker) - cpu_between
                    running_throughout &= worker.is_running()
                    if not paused:
                        running_s += time.monotonic() - began
                        running_cpu_s += _cpu_s(worker) - cpu_before
                        heard_s += (_job(url, tokens, session_id)["percent"] - percent) / 100 \
                            * long_s
                        niceness.append(_autogroup_nice(worker))
            worker.resume()
            state = _job(url, tokens, session_id)
            results["voice.transcribing_during_measure"] = (
                running_throughout and state["state"] == "running")
            results["voice.worker_cpu_share_running"] = round(running_cpu_s / running_s, 3)
            results["voice.realtime_factor_running"] = round(
                running_cpu_s / running_s / max(cpu / audio_s, 1e-3), 2)
            results["voice.audio_heard_running_s"] = round(heard_s, 1)
            for name, (seconds, cpu_s) in split.items():
                results[f"voice.worker_cpu_share_{name}"] = round(cpu_s / seconds, 3)
                results[f"voice.realtime_factor_{name}"] = round(
                    cpu_s / seconds / max(cpu / audio_s, 1e-3), 2)
            results["voice.worker_nice_running"] = niceness
    results["voice.ingest_events_per_s_rounds"] = [round(v) for v in ingest[""]]
    results["voice.ingest_events_per_s_transcribing_rounds"] = [round(v) for v in ingest["_t"]]
    base_ingest, loaded_ingest = median(ingest[""]), median(ingest["_t"])
    results["voice.ingest_events_per_s"] = round(base_ingest)
    results["voice.ingest_events_per_s_transcribing"] = round(loaded_ingest)
    results["voice.ingest_change_pct"] = round(
        (loaded_ingest - base_ingest) / base_ingest * 100, 1)
    odd, even = median(ingest[""][1::2]), median(ingest[""][0::2])
    results["voice.ingest_noise_pct"] = round((odd - even) / even * 100, 1)

    # The feed's p99 over every frame of a condition's rounds pooled: one round's p99 rests
    # on its few slowest POSTs and swung by tens of percent between runs of the same code.
    results["voice.feed_round_p99_ms_rounds"] = [
        round(percentile(sample.latencies_ms, 99), 1) for sample in feed[""]]
    results["voice.feed_round_p99_ms_transcribing_rounds"] = [
        round(percentile(sample.latencies_ms, 99), 1) for sample in feed["_t"]]
    # The old figure beside it: the median of the halves' p99s (robust to one disturbed half,
    # but each rests on a few POSTs).
    halves = (median(results["voice.feed_round_p99_ms_rounds"]),
              median(results["voice.feed_round_p99_ms_transcribing_rounds"]))
    results["voice.feed_round_p99_median_change_pct"] = round(
        (halves[1] - halves[0]) / halves[0] * 100, 1)
    for suffix in ("", "_t"):
        figures = _feed_figures(feed[suffix], suffix)
        results.update({key[:-2] + "_transcribing" if suffix else key: value
                        for key, value in figures.items()})
    base_feed = results["voice.feed_p99_ms"]
    results["voice.feed_change_pct"] = round(
        (results["voice.feed_p99_ms_transcribing"] - base_feed) / base_feed * 100, 1)
    # Noise floor: the paused rounds against each other (odd against even rounds, pooled).
    odd_p99 = percentile([v for sample in feed[""][1::2] for v in sample.latencies_ms], 99)
    even_p99 = percentile([v for sample in feed[""][0::2] for v in sample.latencies_ms], 99)
    results["voice.feed_noise_pct"] = round((odd_p99 - even_p99) / even_p99 * 100, 1)
    results["voice.load_avg"].append(round(os.getloadavg()[0], 1))
    results["voice.rounds"] = rounds
    results["voice.round_window_s"] = window
    results["voice.feed_window_s"] = feed_window
    results["voice.feed_batch"] = feed_batch
    results["voice.cpus"] = psutil.cpu_count()
    results["voice.transcribe_duty"] = VoiceSettings.from_env().duty
    return results


if __name__ == "__main__":
    main_for(run)
