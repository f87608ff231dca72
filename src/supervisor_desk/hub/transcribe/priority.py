"""The recognition worker's share of the CPU: batch work that yields to the hub, yet finishes.

Linux with autogroups (``kernel.sched_autogroup_enabled = 1``, most distributions' default)
shares the CPU between *sessions* first; ``SCHED_IDLE`` and nice only weigh inside a session.
A worker in the hub's session therefore took up to a third of a core from the hub's feed
(docs/performance.md, "Voice"). So the worker starts a session of its own and sets that
session's autogroup nice itself (``/proc/self/autogroup``; an unprivileged process may set
0..19): 19 at first, where beside a busy hub it gets about 1.5 % of a contended core and the
hub's frames are not kept waiting. On a machine that is never idle that starves it (a 52 s
call was not done after 10 minutes), so a :class:`NiceGovernor` thread watches the speed the
CPU it gets allows and lowers the nice a step at a time while that is below
:data:`FLOOR_SPEED` x real time, and raises it back a step when it is well above
(:data:`AHEAD_SPEED`). On an idle machine any nice takes a whole core.

Because the worker leaves the hub's session and process group, a signal to the hub's group
no longer reaches it: :func:`exit_with` makes the kernel kill it when the hub dies
(``PR_SET_PDEATHSIG``); the hub kills it itself on shutdown and on a job's cancel.

Without autogroups (switched off, other kernels, other systems) the worker stays in the hub's
session at ``SCHED_IDLE`` (or nice 19) and the hub logs that once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")
AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")
TASKS = Path("/proc/self/task")
# The steps of the autogroup nice, lowest priority first. Each step is about 2.4x the CPU
# weight of the one before (kernel weights 15, 36, 87, 215, 526, 1024), so a speed just
# above AHEAD_SPEED raised one step stays above FLOOR_SPEED: no see-saw between two steps.
NICE_STEPS = (19, 15, 11, 7, 3, 0)
# x real time: below it the worker is starving and gets more weight. Only a machine
# saturated for a whole window holds a worker this low: it then takes 0.1 x 0.45 = 4.5 % of
# a core from the rest.
FLOOR_SPEED = 0.1
AHEAD_SPEED = 0.3  # x real time: above it the worker gives a step of weight back
# The speed is judged over this long, never across a nice change: a burst of traffic that
# saturates the hub for a few seconds (an ingest backlog) must not lower the worker's nice,
# and a whole minute of it costs the hub 3 steps of weight. From 19 to 3 takes 80 s.
WINDOW_S = 20.0
TICK_S = 1.0
# CPU seconds per second of audio until the first segments measure it: the contact-centre
# vocabulary's two decodes per segment cost 0.30-0.45 (docs/performance.md, "Voice").
DEFAULT_COST = 0.45
_PR_SET_PDEATHSIG = 1


class AutogroupUnavailableError(Exception):
    """Why the worker keeps to the hub's session (the reason is logged once by the hub)."""


class Autogroup:
    """The nice level of this process's autogroup (the CPU weight of its session)."""

    def __init__(self, path: Path = AUTOGROUP) -> None:
        self.path = path

    def nice(self) -> int:
        # "/autogroup-123 nice 19"
        return int(self.path.read_text().split()[-1])

    def set_nice(self, nice: int) -> bool:
        """Set it; False when the kernel says not now (one write per 100 ms, machine-wide,
        for an unprivileged process: another worker may just have written)."""
        try:
            with open(self.path, "w") as file:
                file.write(str(nice))
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return False
            raise
        return True


def own_autogroup(path: Path = AUTOGROUP, switch: Path = AUTOGROUP_SWITCH) -> Autogroup:
    """Start a session of this process's own, whose autogroup it steers: at nice 19.

    Checked before leaving the hub's session: raises :class:`AutogroupUnavailableError`
    (and changes nothing) where autogroups are absent or switched off.
    """
    try:
        enabled = switch.read_text().strip() == "1"
    except OSError:
        raise AutogroupUnavailableError("this kernel has no autogroups") from None
    if not enabled:
        raise AutogroupUnavailableError("autogroups are switched off "
                                        "(kernel.sched_autogroup_enabled = 0)")
    if not path.is_file() or not hasattr(os, "setsid"):
        raise AutogroupUnavailableError(f"{path} is absent")
    if not ThreadClock.available():
        # Without run-queue waits it could not tell it starves: nice 19 could last forever.
        raise AutogroupUnavailableError("this kernel reports no run-queue waits "
                                        "(/proc/self/task/*/schedstat)")
    try:
        os.setsid()  # a new session is a new autogroup (never steer the hub's own)
    except OSError as exc:  # it leads a process group already (started by hand in a shell)
        raise AutogroupUnavailableError(f"could not start a session: {exc}") from None
    group = Autogroup(path)
    # The kernel's one-write-per-100-ms limit is machine-wide: another worker may just have
    # written. Until this write the new group has nice 0, a whole session's weight.
    while not group.set_nice(NICE_STEPS[0]):
        time.sleep(0.1)
    return group


def idle_policy() -> None:
    """``SCHED_IDLE`` for the calling thread and the threads it starts (else nice 19).

    Inside the worker's own autogroup it changes nothing of its share, but a core running
    only an idle-policy task counts as idle: a waking hub thread is placed there and
    preempts the worker at once.
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    if hasattr(os, "nice"):
        os.nice(19)


def exit_with(hub_pid: int) -> None:
    """Have the kernel kill this process when the hub dies (Linux ``PR_SET_PDEATHSIG``).

    A hub that died before this call leaves the worker to another parent: then it exits now.
    """
    library = ctypes.util.find_library("c")
    if library is not None and hasattr(signal, "SIGKILL"):
        libc = ctypes.CDLL(library, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != hub_pid:
        os._exit(1)


class ThreadClock:
    """CPU time this process's threads got and how long they waited for a CPU while runnable
    (``/proc/self/task/*/schedstat``, in ns), the governor's own thread left out. Sleeping,
    resting between segments and being stopped count in neither."""

    def __init__(self, tasks: Path = TASKS) -> None:
        self._tasks = tasks

    @staticmethod
    def available(tasks: Path = TASKS) -> bool:
        return (tasks / str(threading.get_native_id()) / "schedstat").is_file()

    def read(self) -> tuple[int, int]:
        me = str(threading.get_native_id())
        ran = waited = 0
        for task in os.listdir(self._tasks):
            if task == me:
                continue
            try:
                fields = (self._tasks / task / "schedstat").read_text().split()
            except OSError:  # the thread ended meanwhile
                continue
            ran += int(fields[0])
            waited += int(fields[1])
        return ran, waited


@dataclass(frozen=True)
class _Sample:
    at: float
    ran_ns: int
    waited_ns: int


class NiceGovernor:
    """Steers the worker's autogroup nice from the speed the CPU it gets allows.

    The speed is ``1 / (cost * (1 / share + 1 / duty - 1))``: ``share`` the part of the time
    the worker wanted a CPU that it had one (schedstat), ``cost`` the CPU seconds a second
    of audio took in the segments done so far, and after each segment it rests
    ``(1 / duty - 1)`` times the CPU time it used (``--duty``). Measured this way, a segment
    that takes long counts as it goes (the words of a segment come out only at its end),
    and the time it is stopped does not count.
    """

    def __init__(self, group: Autogroup, clock: ThreadClock, *, duty: float = 1.0,
                 report: Callable[[dict[str, object]], None] | None = None,
                 window_s: float = WINDOW_S, tick_s: float = TICK_S) -> None:
        self._group = group
        self._clock = clock
        self._report = report
        self._window_s = window_s
        self._duty = duty
        self._tick_s = tick_s
        self._step = 0  # index into NICE_STEPS: own_autogroup() starts at 19
        self._samples: deque[_Sample] = deque()
        self._audio_s = 0.0
        self._cpu_s = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def nice(self) -> int:
        return NICE_STEPS[self._step]

    def segment_done(self, audio_s: float, cpu_s: float) -> None:
        """A segment of ``audio_s`` seconds was recognised with ``cpu_s`` CPU seconds."""
        with self._lock:
            self._audio_s += audio_s
            self._cpu_s += cpu_s

    def cost(self) -> float:
        with self._lock:
            return self._cpu_s / self._audio_s if self._audio_s > 0 else DEFAULT_COST

    def speed(self) -> tuple[float, float] | None:
        """Times real time over the window, and the part of the window the worker wanted a
        CPU; None before a whole window."""
        if len(self._samples) < 2:
            return None
        first, last = self._samples[0], self._samples[-1]
        span = last.at - first.at
        if span < self._window_s - self._tick_s / 2:
            return None
        ran = (last.ran_ns - first.ran_ns) / 1e9
        wanted = ran + (last.waited_ns - first.waited_ns) / 1e9
        if ran <= 0:
            return 0.0, wanted / span  # never on a CPU (or stopped: wanted 0)
        wall_per_cpu_s = wanted / ran + 1 / self._duty - 1
        return 1 / (max(self.cost(), 1e-3) * wall_per_cpu_s), wanted / span

    def tick(self, now: float) -> None:
        """One look: sample, judge the window, change the nice a step if it says so."""
        ran, waited = self._clock.read()
        if self._samples and ran < self._samples[-1].ran_ns:
            self._samples.clear()  # a thread ended and took its counts: start afresh
        self._samples.append(_Sample(now, ran, waited))
        while now - self._samples[0].at > self._window_s + self._tick_s / 2:
            self._samples.popleft()
        judged = self.speed()
        if judged is None:
            return
        speed, wanting = judged
        step = self._step
        # Starving only if it wanted a CPU most of the window (a spell of it after a stop
        # does not count); ahead if it wanted one at all (at duty 0.3, running freely, it
        # wants one 30 % of the time). Stopped or resting: neither.
        if speed < FLOOR_SPEED and wanting >= 0.5 and step < len(NICE_STEPS) - 1:
            step += 1
        elif speed > AHEAD_SPEED and wanting >= 0.1 and step > 0:
            step -= 1
        if step == self._step or not self._group.set_nice(NICE_STEPS[step]):
            return  # same step, or written too soon after another write: next tick
        self._step = step
        latest = self._samples[-1]
        self._samples.clear()
        self._samples.append(latest)
        if self._report is not None:
            self._report({"nice": self.nice, "speed": round(speed, 3)})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nice-governor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self._tick_s):
            try:
                self.tick(time.monotonic())
            except OSError as exc:  # refused (a security module?): keep the nice it has
                if self._report is not None:
                    self._report({"nice": self.nice, "error": f"{type(exc).__name__}: {exc}"})
                return
