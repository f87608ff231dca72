"""How quiet the real app is on a real desktop: CPU, wake-ups and memory over a shift.

    python -m benchmarks.idle_bench [--quick] [--json PATH]

The app runs as its own process on Xvfb (display ``:59``, or ``SUPERVISOR_DESK_BENCH_DISPLAY``)
with openbox (minimise needs a window manager), trayer (so closing the window keeps it in the
tray), a private D-Bus with a notification capture and gnome-keyring holding the sign-in. The hub
(``EmbeddedHub``) and the simulator (``run_simulator``, ~50 live sessions) run in this process,
so the figures are the desktop's alone; the app talks to them over loopback HTTP/WebSocket.

For each rate (5 and 100 events/s) one app is started and measured, after a settling pause, in
four states: ``shown`` (Live page), ``minimised`` (``xdotool windowminimize``), ``hidden``
(closed to the tray with the window manager's close, shown again from the tray icon) and
``history`` (the History page, Ctrl+K). The app runs with its defaults: on screen the hub
gathers the Live list's changes into each second's tick (View → "Update once a second"),
off screen into up to a second. Per state:
- ``cpu_pct``: utime+stime of the whole process (``/proc/<pid>/stat``) over the window, as a
  percentage of one core; ``main_cpu_pct`` the Qt (main) thread's alone, in ns
  (``/proc/<pid>/task/<pid>/schedstat``), which resolves the differences a change makes;
- ``wakeups_s``: voluntary context switches per second of the Qt (main) thread
  (``/proc/<pid>/status``), and ``all_wakeups_s`` summed over every thread
  (``/proc/<pid>/task/*/status``).
- ``alert_p50_ms`` / ``alert_max_ms`` (``hidden`` only, measured after its window): from a
  platform's post of a customer's complaint (a keyword of the default rules) to the desktop
  notification, over five probes with the window in the tray — the promise that a quiet app
  still tells at once (the hub holds a hidden desktop's events, never one that opens an alert).

The shift-long RSS curve is time-compressed: the simulator posts ``COMPRESSION`` times the
5 events/s mix (with the window closed to the tray, ended rows kept one minute) and RSS
(``/proc/<pid>/statm``) is sampled per simulated hour; ``rss.ratio_8h_10min`` is RSS at
8 simulated hours over RSS at 10 simulated minutes (``--quick``: ``rss_ratio_30min_10min``,
half a simulated hour, so that a quick run fits beside the other modules in 4 minutes).

Measuring windows: ``--quick`` 7 s per state (a smoke run that fits the quick suite's
3 minutes), full 120 s at 5 events/s (the issue's 5-minute
average: ``SUPERVISOR_DESK_IDLE_SECONDS=300``) and 60 s at 100 events/s.

For profiling (not part of a benchmark run): ``SUPERVISOR_DESK_IDLE_RATES=5`` measures only
those rates, ``SUPERVISOR_DESK_IDLE_RSS=0`` skips the RSS curve,
``SUPERVISOR_DESK_IDLE_STATES=shown`` measures the shown window only (a comma-separated list:
those states, e.g. ``minimised,hidden``), and
``SUPERVISOR_DESK_IDLE_PROFILE=DIR`` writes, per state, the CPU of each thread by name
(``<rate>-<state>-threads.txt``) and a py-spy profile of the window
(``<rate>-<state>.pyspy.txt``, collapsed stacks; ``SUPERVISOR_DESK_IDLE_PROFILE_NATIVE=1``
adds the native frames, which stops the process at every sample;
``SUPERVISOR_DESK_IDLE_PROFILE_PERF=1`` records ``perf`` instead: whole stacks (DWARF) of the
app started with ``PYTHON_PERF_JIT_SUPPORT=1``, so Qt's frames and Python's functions are in
each sample, ``<rate>-<state>.perf.data`` after ``perf inject --jit``, and
``<rate>-<state>.perf.txt``, the main thread's samples by what ran under the event loop
(``benchmarks/perf_stacks.py``, which breaks any frame down further);
``SUPERVISOR_DESK_IDLE_PROFILE_CPROFILE=1`` runs cProfile on the app's main thread instead and
writes ``<rate>-<state>.prof`` per window: exact call counts, at cProfile's overhead;
``SUPERVISOR_DESK_IDLE_PROFILE_PAINTS=1`` instead counts, with an event filter on the app, the
paint, layout and update-request events of each widget (its class and name up to three parents)
and the pixels it painted, ``<rate>-<state>.paints.txt`` per window: what repaints the window).

``SUPERVISOR_DESK_IDLE_PIN=1`` keeps the app on the first processor and this process (the hub,
the simulator) and the desktop's servers on the last (``sched_setaffinity``): a supervisor's hub
is a server elsewhere, and here its work for each event runs just before the app's, on whichever
core is free, in the app's caches. The figures it gives are ``idle.pinned``: 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import Results, main_for

REPO = Path(__file__).resolve().parents[1]
DISPLAY = os.environ.get("SUPERVISOR_DESK_BENCH_DISPLAY", ":59")
LIVE_SESSIONS = 50
COMPRESSION = 50  # simulated seconds per real second in the RSS run
RSS_RATE = 5.0 * COMPRESSION
TOOLS = ("Xvfb", "openbox", "trayer", "gnome-keyring-daemon", "dbus-daemon", "xdotool")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------- /proc readings

def _pinning() -> tuple[set[int], set[int]] | None:
    """(the app's processors, everything else's) when ``SUPERVISOR_DESK_IDLE_PIN=1``."""
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("SUPERVISOR_DESK_IDLE_PIN") != "1" or len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` (those started later inherit it) onto ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def thread_cpu_ns(pid: int, tid: int) -> int:
    """One thread's CPU time in ns (``/proc/<pid>/task/<tid>/schedstat``): the clock-tick
    resolution of ``stat`` (10 ms) is 0.03 % of a core over a 30 s window, the size of what
    is measured here."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


def _voluntary(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def wakeups(pid: int) -> dict[str, int]:
    """Voluntary context switches per thread id (the main thread's id is the pid)."""
    out: dict[str, int] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            out[task] = _voluntary(f"/proc/{pid}/task/{task}/status")
    return out


def rss_mb_of(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def thread_cpu(pid: int) -> dict[str, tuple[str, float, int]]:
    """Per thread id: its name, CPU seconds and voluntary context switches so far."""
    out: dict[str, tuple[str, float, int]] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            name, fields = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)
            ticks = fields.split()
            cpu = (int(ticks[11]) + int(ticks[12])) / CLK_TCK
            out[task] = (name.split("(", 1)[1], cpu,
                         _voluntary(f"/proc/{pid}/task/{task}/status"))
    return out


def _thread_report(before: dict[str, tuple[str, float, int]],
                   after: dict[str, tuple[str, float, int]], took: float) -> str:
    rows = []
    for tid, (name, cpu, woke) in after.items():
        _, cpu0, woke0 = before.get(tid, (name, 0.0, 0))
        rows.append((100 * (cpu - cpu0) / took, (woke - woke0) / took, tid, name))
    rows.sort(reverse=True)
    return "".join(f"{pct:6.2f} %  {woke:7.1f} wake-ups/s  {tid:>8}  {name}\n"
                   for pct, woke, tid, name in rows)


def _profile_dir() -> Path | None:
    value = os.environ.get("SUPERVISOR_DESK_IDLE_PROFILE")
    return Path(value) if value else None


# Loaded by the app's interpreter (``sitecustomize``) in the cProfile mode: profiles the main
# thread from start-up; SIGUSR2 writes what was gathered since the last one to the file named in
# ``next-label`` and starts afresh.
_CPROFILE_HOOK = """
import cProfile, os, signal
from pathlib import Path
_dir = Path(os.environ["SUPERVISOR_DESK_IDLE_PROFILE"])
_profile = [cProfile.Profile()]
_profile[0].enable()

def _dump(*_):
    _profile[0].disable()
    label = (_dir / "next-label").read_text().strip()
    if label:
        _profile[0].dump_stats(str(_dir / (label + ".prof")))
    _profile[0] = cProfile.Profile()
    _profile[0].enable()

signal.signal(signal.SIGUSR2, _dump)
"""


# The paints mode's hook: the same cuts (SIGUSR2, ``next-label``); it wraps the app's
# ``create_qapp`` to put its event filter on the application the app makes.
_PAINTS_HOOK = """
import collections, importlib.abc, importlib.util, os, signal, sys
from pathlib import Path
_dir = Path(os.environ["SUPERVISOR_DESK_IDLE_PROFILE"])
_counts = collections.Counter()
_pixels = collections.Counter()
_keep = []

def _path(widget):
    names = []
    while widget is not None and len(names) < 4:
        name = widget.objectName()
        names.append(type(widget).__name__ + (":" + name if name else ""))
        widget = widget.parentWidget()
    return "/".join(names)

def _watch(qapp):
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QWidget
    kinds = {QEvent.Type.Paint: "paint", QEvent.Type.LayoutRequest: "layout",
             QEvent.Type.UpdateRequest: "update-request"}
    class Counter(QObject):
        def eventFilter(self, watched, event):
            kind = kinds.get(event.type())
            if kind is not None and isinstance(watched, QWidget):
                key = (kind, _path(watched))
                _counts[key] += 1
                if kind == "paint":
                    _pixels[key] += sum(r.width() * r.height() for r in event.region())
            return False
    counter = Counter(qapp)
    qapp.installEventFilter(counter)
    _keep.append(counter)

def _dump(*_):
    label = (_dir / "next-label").read_text().strip()
    if label:
        with open(_dir / (label + ".paints.txt"), "w") as out:
            for (kind, path), n in _counts.most_common():
                out.write(f"{n:7d} {_pixels[(kind, path)]:12d} px  {kind:15s} {path}\\n")
    _counts.clear()
    _pixels.clear()

signal.signal(signal.SIGUSR2, _dump)

class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner
    def create_module(self, spec):
        return self.inner.create_module(spec)
    def exec_module(self, module):
        self.inner.exec_module(module)
        made = module.create_qapp
        def create_qapp(*args, **kwargs):
            qapp = made(*args, **kwargs)
            _watch(qapp)
            return qapp
        module.create_qapp = create_qapp

class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "supervisor_desk.app":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        spec.loader = _Loader(spec.loader)
        return spec

sys.meta_path.insert(0, _Finder())
"""


def _perf_report(pid: int, profile: Path, label: str) -> None:
    """The recording with Python's functions named (``perf inject --jit``) and its main
    thread's summary beside it."""
    raw = profile / f"{label}.raw.perf.data"
    data = profile / f"{label}.perf.data"
    subprocess.run(["perf", "inject", "--jit", "-i", str(raw), "-o", str(data)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if data.exists():
        raw.unlink()
        from benchmarks import perf_stacks

        samples = [s for s in perf_stacks.read_samples(perf_stacks.script_lines(data))
                   if s.tid == pid]
        (profile / f"{label}.perf.txt").write_text(perf_stacks.report(samples))


def _cprofile_mode() -> bool:
    return (_profile_dir() is not None
            and os.environ.get("SUPERVISOR_DESK_IDLE_PROFILE_CPROFILE") == "1")


def _paints_mode() -> bool:
    return (_profile_dir() is not None and not _cprofile_mode()
            and os.environ.get("SUPERVISOR_DESK_IDLE_PROFILE_PAINTS") == "1")


def _install_cprofile_hook(work: Path, source: str = _CPROFILE_HOOK) -> None:
    """Every Python started from here on (the app) loads ``source`` first (cProfile's hook
    profiles its main thread; the paints hook counts its widgets' paints)."""
    hook = work / "cprofile-hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(source)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)


def _cprofile_cut(pid: int, profile: Path, label: str) -> None:
    (profile / "next-label").write_text(label)
    os.kill(pid, signal.SIGUSR2)
    time.sleep(0.5)  # let it write before the next window's reading starts


def measure(pid: int, seconds: float, label: str = "") -> dict[str, float]:
    profile = _profile_dir()
    spy: subprocess.Popen[bytes] | None = None
    if profile is not None and (_cprofile_mode() or _paints_mode()):
        profile.mkdir(parents=True, exist_ok=True)
        _cprofile_cut(pid, profile, "")  # what came before the window is dropped
    elif profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        native = os.environ.get("SUPERVISOR_DESK_IDLE_PROFILE_NATIVE") == "1"
        perf = os.environ.get("SUPERVISOR_DESK_IDLE_PROFILE_PERF") == "1"
        spy = subprocess.Popen(
            ["perf", "record", "-k", "1", "-F", "997", "--call-graph", "dwarf,16384",
             "-p", str(pid), "-o", str(profile / f"{label}.raw.perf.data"),
             "--", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if perf else subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
             "--duration", str(int(seconds)), "--rate", "100", "--format", "raw",
             "--threads", "--output", str(profile / f"{label}.pyspy.txt"),
             *(["--native"] if native else ["--nonblocking"])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    threads0 = thread_cpu(pid)
    main0 = thread_cpu_ns(pid, pid)
    cpu0, woke0, t0 = cpu_seconds(pid), wakeups(pid), time.monotonic()
    time.sleep(seconds)
    cpu1, woke1, t1 = cpu_seconds(pid), wakeups(pid), time.monotonic()
    main1 = thread_cpu_ns(pid, pid)
    took = t1 - t0
    if profile is not None:
        (profile / f"{label}-threads.txt").write_text(
            _thread_report(threads0, thread_cpu(pid), took))
    if spy is not None:
        spy.wait(30)
        if profile is not None and os.environ.get("SUPERVISOR_DESK_IDLE_PROFILE_PERF") == "1":
            _perf_report(pid, profile, label)
    if profile is not None and (_cprofile_mode() or _paints_mode()):
        _cprofile_cut(pid, profile, label)
    main = woke1.get(str(pid), 0) - woke0.get(str(pid), 0)
    every = sum(n - woke0.get(tid, 0) for tid, n in woke1.items())  # threads born meanwhile too
    return {"cpu_pct": round(100 * (cpu1 - cpu0) / took, 2),
            "main_cpu_pct": round(100 * (main1 - main0) / 1e9 / took, 3),
            "wakeups_s": round(main / took, 1),
            "all_wakeups_s": round(every / took, 1),
            "rss_mb": round(rss_mb_of(pid), 1)}


# ---------------------------------------------------------------------------- the desktop

def _display_answers(display: str) -> bool:
    return subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0


def _desktop_class() -> Any:
    sys.path.insert(0, str(REPO))
    from tests.e2e.desktop import _X11, VirtualDesktop

    class BenchDesktop(VirtualDesktop):
        """The e2e bench's desktop on a fixed display, with openbox for minimising."""

        def _start_xvfb(self) -> None:
            if _display_answers(DISPLAY):  # someone else's: let Xvfb pick a free one
                super()._start_xvfb()
                return
            w, h = self.size
            xvfb = self._spawn("xvfb", ["Xvfb", DISPLAY, "-screen", "0", f"{w}x{h}x24",
                                        "-nolisten", "tcp", "-noreset"],
                               env={**os.environ, **self._base_env})
            deadline = time.monotonic() + 15
            while True:
                time.sleep(0.1)
                if xvfb.poll() is not None:
                    if _display_answers(DISPLAY):  # another run took it first: not ours
                        super()._start_xvfb()
                        return
                    raise RuntimeError(f"Xvfb did not start on {DISPLAY}")
                if _display_answers(DISPLAY):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Xvfb did not start on {DISPLAY}")
            self.display = DISPLAY
            self._x11 = _X11(self.display)

        def _start_tray(self) -> None:
            self._spawn("openbox", ["openbox"])
            super()._start_tray()

        def _toplevels(self) -> list[int]:
            # openbox reparents trayer into a frame: look for its window at any depth.
            tree = self.run(["xwininfo", "-root", "-tree"]).stdout
            return [int(t, 16) for line in tree.splitlines()
                    if (t := line.strip().split(" ", 1)[0]).startswith("0x")]

    return BenchDesktop


class Traffic:
    """``run_simulator`` in a thread of its own, restartable at another rate."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self, rate: float) -> None:
        from supervisor_desk.simulator.runner import run_simulator

        self.stop()
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            ready.set()
            await run_simulator(self.url, self.token, rate=rate, seed=7, stop=self._stop,
                                target_live=LIVE_SESSIONS, wind_down=False)

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True,
                                        name=f"traffic-{rate:g}")
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        self._thread = None


class App:
    """The desktop app on the bench's desktop, signed in from the keyring."""

    def __init__(self, desktop: Any, url: str, home: Path, log: Path,
                 prefs: dict[str, Any] | None = None, cpus: set[int] | None = None) -> None:
        import json

        self.desktop = desktop
        if prefs:
            path = home / "config" / "preferences.json"
            data = json.loads(path.read_text()) if path.exists() else {}
            data.update(prefs)
            path.write_text(json.dumps(data))
        env = desktop.env
        env["SUPERVISOR_DESK_HOME"] = str(home)
        self.app_log = home / "logs" / "supervisor-desk.log"
        self.app_log.unlink(missing_ok=True)
        script = Path(sys.executable).parent / "supervisor-desk"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "supervisor_desk"]
        with log.open("ab") as fh:
            self.proc = subprocess.Popen([*command, "--server", url], env=env, stdout=fh,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.cpus = cpus  # the processors it is kept on (SUPERVISOR_DESK_IDLE_PIN), else None
        self._pin()
        self.window = 0
        self.output = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_rows(self, timeout: float = 90) -> None:
        self._wait(lambda: "first live rows shown" in self._log(), timeout, "live rows")
        self._wait(lambda: bool(self._windows()), 30, "the window")
        self.window = self._windows()[0]
        self._pin()  # threads started before the first pin

    def _pin(self) -> None:
        if self.cpus is not None:
            pin(self.pid, self.cpus)

    def _log(self) -> str:
        return self.app_log.read_text(errors="replace") if self.app_log.exists() else ""

    def _windows(self) -> list[int]:
        tray = set(self.desktop.tray_embedded_windows())
        return [w for w in self.desktop.visible_windows(name="^Supervisor Desk", pid=self.pid)
                if w not in tray]

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.proc.poll() is not None:
                tail = self.output.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"app exited ({self.proc.returncode}) waiting for {what}:\n"
                                   f"{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {what} within {timeout} s")
            time.sleep(0.2)

    def xdotool(self, *args: str) -> None:
        self.desktop.run(["xdotool", *args])

    def minimise(self) -> None:
        self.xdotool("windowminimize", "--sync", str(self.window))

    def restore(self) -> None:
        self.xdotool("windowactivate", "--sync", str(self.window))

    def hide_to_tray(self) -> None:
        self.desktop.close_window(self.window)
        self._wait(lambda: not self.desktop.is_viewable(self.window), 20, "hidden window")

    def show_from_tray(self) -> None:
        icons: list[int] = []

        def found() -> bool:
            icons[:] = self._tray_icons()
            return bool(icons)

        self._wait(found, 20, "tray icon")
        self.desktop.click(icons[0])
        self._wait(lambda: self.desktop.is_viewable(self.window), 20, "shown window")

    def _tray_icons(self) -> list[int]:
        return [w for w in self.desktop.tray_embedded_windows()
                if self.desktop._window_pid(w) == self.pid]

    def history(self) -> None:
        self.restore()
        self.xdotool("key", "--window", str(self.window), "ctrl+k")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- the run

ALERT_PROBES = 5


def _alert_latency(app: App, traffic: Traffic, probes: int = ALERT_PROBES) -> dict[str, float]:
    """With the window in the tray: from a platform's post of a customer's complaint (a
    keyword of the default rules) to the desktop notification, per probe (ms)."""
    import httpx

    def post(events: list[dict[str, Any]]) -> None:
        answer = httpx.post(f"{traffic.url}/api/v1/ingest", json={"events": events},
                            headers={"Authorization": f"Bearer {traffic.token}"}, timeout=30)
        answer.raise_for_status()

    def told() -> int:
        return sum("complain" in f"{n.get('summary')} {n.get('body')}".lower()
                   for n in app.desktop.notifications())

    from tests.client.hub_events import message, started

    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    latencies: list[float] = []
    for n in range(probes):
        sid = f"alert-probe-{tag}-{n}"
        post([started(sid)])
        time.sleep(1.5)  # the new session is told and the hub holds again
        before = told()
        began = time.monotonic()
        post([message(sid, "This is a complaint: cancel my account")])
        deadline = began + 10
        while told() == before and time.monotonic() < deadline:
            time.sleep(0.005)
        latencies.append((time.monotonic() - began) * 1000)
        time.sleep(0.5)
    latencies.sort()
    return {"alert_p50_ms": round(latencies[len(latencies) // 2], 1),
            "alert_max_ms": round(latencies[-1], 1)}


def _states(app: App, window_s: float, settle_s: float,
            rate: float, traffic: Traffic | None = None) -> dict[str, dict[str, float]]:
    wanted = set(os.environ.get("SUPERVISOR_DESK_IDLE_STATES", "").split(",")) - {""}
    wanted = wanted or {"shown", "minimised", "hidden", "history"}
    out: dict[str, dict[str, float]] = {}

    def measure_state(state: str) -> None:
        if state in wanted:
            time.sleep(settle_s)
            out[state] = measure(app.pid, window_s, f"{rate:g}-{state}")

    measure_state("shown")
    if wanted <= {"shown"}:
        return out
    app.minimise()
    measure_state("minimised")
    app.restore()
    app.hide_to_tray()
    measure_state("hidden")
    if "hidden" in wanted and traffic is not None:
        out.setdefault("hidden", {}).update(_alert_latency(app, traffic))
    app.show_from_tray()
    app.history()
    measure_state("history")
    return out


def _rss_curve(app: App, traffic: Traffic, points: list[str]) -> dict[str, float]:
    """RSS at simulated moments ("10min", "1h"…) with the window in the tray, at
    COMPRESSION x 5 ev/s."""
    app.hide_to_tray()
    traffic.start(RSS_RATE)
    started = time.monotonic()
    curve: dict[str, float] = {}
    for point in points:
        sim_s = int(point[:-3]) * 60 if point.endswith("min") else int(point[:-1]) * 3600
        time.sleep(max(0.0, started + sim_s / COMPRESSION - time.monotonic()))
        curve[point] = rss_mb_of(app.pid)
    traffic.stop()
    return curve


def run(quick: bool) -> Results:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"idle_bench needs {', '.join(missing)} (scripts/system-deps.sh)")
    override = float(os.environ.get("SUPERVISOR_DESK_IDLE_SECONDS", "0"))
    windows = {5.0: override or (7.0 if quick else 120.0),
               100.0: override or (7.0 if quick else 60.0)}
    if rates := os.environ.get("SUPERVISOR_DESK_IDLE_RATES"):
        windows = {float(r): windows.get(float(r), override or 10.0) for r in rates.split(",")}
    with_rss = os.environ.get("SUPERVISOR_DESK_IDLE_RSS", "1") != "0"
    settle = 2.0 if quick else 15.0
    points = ["10min", "30min"] if quick else ["10min"] + [f"{h}h" for h in range(1, 9)]
    from supervisor_desk.hub.embedded import EmbeddedHub

    # SIGTERM (a timeout, Ctrl+C of the runner) still stops the desktop and the app below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results: Results = {"idle.display": DISPLAY, "idle.live_sessions": LIVE_SESSIONS}
    pinning = _pinning()
    app_cpus = None
    if pinning is not None:
        app_cpus, others = pinning
        pin(os.getpid(), others)  # the desktop's servers started below inherit it
        results["idle.pinned"] = 1
    with tempfile.TemporaryDirectory(prefix="sd-idle-bench-") as tmp:
        work = Path(tmp)
        home = work / "profile"
        (home / "config").mkdir(parents=True)
        saved_env = dict(os.environ)
        os.environ["SUPERVISOR_DESK_HOME"] = str(home)
        if _profile_dir() is not None and os.environ.get(
                "SUPERVISOR_DESK_IDLE_PROFILE_PERF") == "1":
            os.environ["PYTHON_PERF_JIT_SUPPORT"] = "1"  # Python's frames in perf's stacks
        if _cprofile_mode():
            _install_cprofile_hook(work)
        elif _paints_mode():
            _install_cprofile_hook(work, _PAINTS_HOOK)
        desktop = _desktop_class()(size=(1600, 1000), workdir=work / "desktop").start()
        hub = EmbeddedHub(work / "hub.db")
        traffic: Traffic | None = None
        try:
            hub.start()
            hub.add_user("supervisor", "supervisor", "supervisor-pass")
            traffic = Traffic(hub.url, hub.create_token("bench", "ingest"))
            from tests.e2e.conftest import seed_sign_in

            seed_sign_in(desktop, hub.url, "supervisor", "supervisor-pass")
            for rate, window_s in windows.items():
                traffic.start(rate)
                app = App(desktop, hub.url, home, work / f"app-{rate:g}.log", cpus=app_cpus)
                try:
                    app.wait_rows()
                    for state, figures in _states(app, window_s, settle, rate,
                                                  traffic).items():
                        for key, value in figures.items():
                            results[f"idle.{state}_{rate:g}eps.{key}"] = value
                finally:
                    app.stop()
            load = os.getloadavg()[0]
            results["idle.load_avg_1min"] = load
            if not with_rss:
                return results
            traffic.stop()
            traffic.start(5.0)
            app = App(desktop, hub.url, home, work / "app-rss.log",
                      prefs={"live_keep_ended_minutes": 1}, cpus=app_cpus)
            try:
                app.wait_rows()
                curve = _rss_curve(app, traffic, points)
            finally:
                app.stop()
            for key, value in curve.items():
                results[f"idle.rss_{key}_mb"] = round(value, 1)
            results[f"idle.rss_ratio_{points[-1]}_10min"] = round(
                curve[points[-1]] / curve["10min"], 3)
        finally:
            if traffic is not None:
                traffic.stop()
            hub.stop()
            desktop.stop()
            os.environ.clear()
            os.environ.update(saved_env)
    return results


if __name__ == "__main__":
    main_for(run)
