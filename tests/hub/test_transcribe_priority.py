"""The recognition worker's share of the CPU and its life beside the hub: a session of its own
whose autogroup nice it steers (yielding to the hub, never starving), and it never outlives
the hub that started it — shut down, cancelled or killed. Real hubs, real workers, real
busy loops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.transcribe import priority
from tests.audio_samples import HAVE_SPEECH_TOOLS, Spoken, make_call
from tests.audio_samples import recognise_at_full_speed as recognise_at_full_speed
from tests.helpers import poll_until
from tests.hub.conftest import Api
from tests.reliability.hubproc import HubProcess, prepare_db

DIALOGUE = (
    ("agent", "thank you for calling how can i help you today"),
    ("customer", "i would like a refund for my last invoice"),
    ("agent", "i can help you with that please tell me your account number"),
    ("customer", "my account number is four five six seven"),
)
HAVE_AUTOGROUPS = (priority.AUTOGROUP.is_file()
                   and priority.AUTOGROUP_SWITCH.is_file()
                   and priority.AUTOGROUP_SWITCH.read_text().strip() == "1")
needs_speech = pytest.mark.skipif(not HAVE_SPEECH_TOOLS,
                                  reason="espeak-ng and sox come from scripts/system-deps.sh")
needs_autogroups = pytest.mark.skipif(not HAVE_AUTOGROUPS,
                                      reason="this kernel has no autogroups (or they are off)")


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    return make_call(tmp_path_factory.mktemp("call"), DIALOGUE, 1.0)


def _worker_of(pid: int) -> psutil.Process | None:
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "supervisor_desk.hub.transcribe" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _autogroup(pid: int) -> str:
    # The kernel shows nothing for the boot session's group (the root task group): a hub
    # started under a container's init that never called setsid() is in it.
    fields = Path(f"/proc/{pid}/autogroup").read_text().split()
    return fields[0] if fields else "(the root group)"


def _nice(pid: int) -> int:
    return priority.Autogroup(Path(f"/proc/{pid}/autogroup")).nice()


def _import(url: str, token: str, path: Path) -> str:
    answer = httpx.post(f"{url}/api/v1/sessions/import-audio", content=path.read_bytes(),
                        params={"agent": "Ava", "channel": "sip"}, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202, answer.text
    session_id: str = answer.json()["session"]["id"]
    return session_id


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[tuple[HubProcess, dict[str, str]]]:
    db = tmp_path / "hub.db"
    tokens = prepare_db(db)
    hub = HubProcess(db)
    hub.start()
    try:
        yield hub, tokens
    finally:
        hub.stop()


@needs_speech
@needs_autogroups
def test_a_worker_leaves_the_hubs_session_and_dies_with_the_hub(
    hub_process: tuple[HubProcess, dict[str, str]], call: tuple[Path, list[Spoken]]
) -> None:
    hub, tokens = hub_process
    _import(hub.url, tokens["ingest"], call[0])
    worker = poll_until(lambda: _worker_of(hub.pid))
    # Its own session, hence its own autogroup, which it starts at the lowest weight.
    poll_until(lambda: os.getsid(worker.pid) != os.getsid(hub.pid))
    assert _autogroup(worker.pid).startswith("/autogroup-")
    assert _autogroup(worker.pid) != _autogroup(hub.pid)
    assert 0 <= _nice(worker.pid) <= 19
    assert os.getpgid(worker.pid) != os.getpgid(hub.pid)  # a signal to the hub's group misses it

    hub.kill9()  # no shutdown, no cancel: only the kernel can stop the worker now
    poll_until(lambda: _gone(worker), timeout=10)


@needs_speech
def test_shutting_the_hub_down_stops_its_worker(
    tmp_path: Path, call: tuple[Path, list[Spoken]]
) -> None:
    hub = EmbeddedHub(tmp_path / "hub.db")
    token = hub.create_token("tests", "ingest")
    hub.start()
    try:
        _import(hub.url, token, call[0])
        worker = poll_until(lambda: _worker_of(os.getpid()))
    finally:
        hub.stop()
    assert _gone(worker)  # stopped and reaped by the time stop() returns


@needs_speech
def test_cancelling_a_job_stops_its_worker(api: Api, call: tuple[Path, list[Spoken]]) -> None:
    answer = api.post("/sessions/import-audio", role="ingest", content=call[0].read_bytes(),
                      params={"agent": "Ava", "channel": "sip"})
    session_id = answer.json()["session"]["id"]
    worker = poll_until(lambda: _worker_of(os.getpid()))
    cancelled = api.request("DELETE", f"/sessions/{session_id}/transcription", role="supervisor")
    assert cancelled.status_code == 200, cancelled.text
    assert _gone(worker)


def _lines(process: subprocess.Popen[str]) -> Iterator[dict[str, Any]]:
    assert process.stdout is not None
    for raw in process.stdout:
        yield json.loads(raw)


@pytest.mark.slow  # 20-90 s: the models load at a few % of a core until the nice is lowered
@pytest.mark.timeout(300)
@needs_speech
@needs_autogroups
def test_beside_busy_loops_at_normal_priority_the_worker_takes_weight_and_progresses(
    call: tuple[Path, list[Spoken]]
) -> None:
    # One busy loop per core in this (normal) session: at autogroup nice 19 the worker would
    # get about 1.5 % of a core and hear nothing for minutes. Starving is judged over 5 s
    # here, not the hub's 20 s, to keep the test short.
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "supervisor_desk.hub.transcribe", str(call[0]),
         "--hub-pid", str(os.getpid()), "--nice-window", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = _lines(worker)
        first = next(lines)
        assert first == {"type": "priority", "mode": "autogroup", "nice": 19}
        changes: list[dict[str, Any]] = []
        for line in lines:  # the test's timeout bounds this: progress, not completion
            if line["type"] == "priority":
                changes.append(line)
            elif line["type"] == "segment":
                break
        else:
            raise AssertionError(f"the worker stopped before a segment: {worker.wait()}")
        # Lowered a step, starving; the weight it has now is the last change's.
        assert changes[0]["nice"] == priority.NICE_STEPS[1]
        assert changes[0]["speed"] < priority.FLOOR_SPEED
        assert _nice(worker.pid) == changes[-1]["nice"] < 19
    finally:
        for process in (*hogs, worker):
            process.kill()
            process.wait()


def test_started_by_hand_the_worker_keeps_the_shells_session(tmp_path: Path) -> None:
    silent = tmp_path / "missing.wav"  # it says how it shares the CPU before reading the file
    done = subprocess.run([sys.executable, "-m", "supervisor_desk.hub.transcribe", str(silent)],
                          capture_output=True, text=True, timeout=60)
    lines = [json.loads(raw) for raw in done.stdout.splitlines()]
    assert lines[0] == {"type": "priority", "mode": "session",
                        "reason": "started without --hub-pid"}
    assert lines[-1]["type"] == "error" and done.returncode == 1


def test_without_autogroups_nothing_changes_and_the_reason_is_given(tmp_path: Path) -> None:
    switch = tmp_path / "sched_autogroup_enabled"
    switch.write_text("0\n")
    session = os.getsid(0)
    with pytest.raises(priority.AutogroupUnavailableError, match="switched off"):
        priority.own_autogroup(switch=switch)
    with pytest.raises(priority.AutogroupUnavailableError, match="no autogroups"):
        priority.own_autogroup(switch=tmp_path / "absent")
    switch.write_text("1\n")
    with pytest.raises(priority.AutogroupUnavailableError, match="is absent"):
        priority.own_autogroup(path=tmp_path / "autogroup", switch=switch)
    assert os.getsid(0) == session  # this (test) process never left its session


def test_a_worker_whose_hub_is_already_gone_exits_at_once(tmp_path: Path) -> None:
    # A hub killed between starting the worker and the worker's prctl: the parent differs.
    done = subprocess.run([sys.executable, "-m", "supervisor_desk.hub.transcribe",
                           str(tmp_path / "x.wav"), "--hub-pid", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""


class _Counters:
    """schedstat files laid out as /proc/self/task is, written by the test."""

    def __init__(self, folder: Path) -> None:
        self.task = folder / "4242"
        self.task.mkdir(parents=True)
        self.ran = self.waited = 0

    def advance(self, ran_s: float, waited_s: float) -> None:
        self.ran += int(ran_s * 1e9)
        self.waited += int(waited_s * 1e9)
        (self.task / "schedstat").write_text(f"{self.ran} {self.waited} 1\n")


def test_the_governor_lowers_the_nice_when_starving_and_raises_it_when_ahead(
    tmp_path: Path
) -> None:
    counters = _Counters(tmp_path / "task")
    autogroup = tmp_path / "autogroup"
    autogroup.write_text("19")
    reports: list[dict[str, object]] = []
    governor = priority.NiceGovernor(priority.Autogroup(autogroup),
                                     priority.ThreadClock(tmp_path / "task"),
                                     report=reports.append)
    now = 0.0

    def seconds(n: int, ran: float, waited: float) -> None:
        nonlocal now
        for _ in range(n):
            counters.advance(ran, waited)
            now += 1.0
            governor.tick(now)

    seconds(1, 0.0, 0.0)
    seconds(19, 0.01, 0.99)  # 1 % of a core: judged only once a whole window has passed
    assert autogroup.read_text() == "19" and reports == []
    seconds(1, 0.01, 0.99)
    assert autogroup.read_text() == "15" and reports[-1]["nice"] == 15
    seconds(40, 0.0, 0.0)  # stopped (SIGSTOP) or resting: not starving
    assert autogroup.read_text() == "15"
    seconds(9, 0.0, 1.0)  # never on a CPU, but for less than half the window
    assert autogroup.read_text() == "15"
    seconds(2, 0.0, 1.0)
    assert autogroup.read_text() == "11"
    seconds(15, 0.5, 0.5)  # half a core: 1.1x real time at 0.45 CPU-s per audio second
    governor.segment_done(10.0, 4.5)
    seconds(10, 0.5, 0.5)
    assert autogroup.read_text() == "15"  # a step back, after a whole window of it
    assert [r["nice"] for r in reports] == [15, 11, 15]
