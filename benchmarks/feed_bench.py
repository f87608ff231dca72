"""The live wall under load: a real hub, a platform posting 1,000 events/s, the real desktop path.

    python -m benchmarks.feed_bench [--quick] [--json PATH]

Processes: the hub (``EmbeddedHub`` on a temp SQLite file, pre-loaded with the live sessions)
and the platform posting events each run in their own process (``benchmarks._feed_parts``);
this process is the desktop: ``FeedClient`` -> ``LiveViewModel`` (``SessionStore``, 80 ms
frames) -> ``SessionTableModel`` -> the app's ``SessionTableView`` shown offscreen at 1400x900,
all on the app's one loop (``views/qt_loop.py``) as in ``app.py``.

Timestamps (one system-wide monotonic clock):
- *arrival*: ``LiveViewModel.on_event`` entered, i.e. the websocket frame was read and parsed
  by ``FeedClient`` (wrapped on the instance, the app's code runs unchanged);
- *emitted*: the model emitted ``dataChanged``/``rowsInserted``/``rowsMoved``/``layoutChanged``
  inside the ``apply_changes`` call that carried the event's session;
- *painted*: the end of the view's next ``paintEvent`` after that, for a row among the rows
  on screen; a row off screen is up to date once emitted (there is nothing to paint: the view
  repaints only what it shows, and scrolling to the row paints it from the model), so its
  *painted* is *emitted*; so is a row on screen whose shown cells did not change (an update of
  hidden columns, or of columns beyond the viewport's width, paints nothing; nor does an
  insert, move or removal below it), and a frame that signalled nothing is *emitted* when
  applied.
``feed.event_to_row_*`` = painted - arrival. ``feed.ingest_to_row_*`` = painted - the moment the
platform started the POST carrying the event (end to end, the like-for-like comparison with the
polling baseline). ``feed.max_stall_ms``: the longest gap between ticks of a 5 ms precise
QTimer during the load; ``feed.busiest_gaps``: the five gaps with the most Qt-thread CPU, each
broken down into named pieces of work (the frame's flush and apply, layout, paint, clock tick,
metrics cards, sort-key idle slices, collections; ``other`` is what none covered), and
``feed.work_max_in_gap_ms`` the most each piece took in one gap. ``feed.rss_mb``: this
(desktop) process's RSS from /proc at the end.

Baseline, afterwards and with the same load: a poller ``GET /api/v1/live`` every 1 s (fetched
and parsed with the app's ``HubClient``); staleness of an event = the first poll whose snapshot
``seq`` covers it minus the POST time. The 10 s poller is not run: its staleness is bounded
analytically from the 1 s run's fetch times (say so in ``feed.poll_10s_method``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QApplication

from benchmarks._common import Results, main_for, percentile, rss_mb
from benchmarks._stall import GapWork, StallMonitor
from supervisor_desk.client.feed import ConnectionState
from supervisor_desk.client.rest import HubClient
from supervisor_desk.models.wire import SessionSummary, StoredEvent
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy
from supervisor_desk.views.live_viewmodel import LiveViewModel
from supervisor_desk.views.qt_loop import DeskEventLoop
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView

ROOT = Path(__file__).resolve().parent.parent
VIEW_SIZE = (1400, 900)


def sizes(quick: bool) -> dict[str, float]:
    """Sizes; ``SUPERVISOR_DESK_BENCH_FEED_LIVE`` / ``..._SECONDS`` override the live sessions
    and the load's length (a reduced run that still has the full table, e.g. 10,000 for 20 s)."""
    if os.environ.get("SUPERVISOR_DESK_BENCH_TINY"):
        return {"live": 100, "rate": 100, "seconds": 1.5, "poll_seconds": 2.5}
    if quick:
        size: dict[str, float] = {"live": 2_000, "rate": 1_000, "seconds": 10, "poll_seconds": 8}
    else:
        size = {"live": 10_000, "rate": 1_000, "seconds": 60, "poll_seconds": 30}
    for key in ("live", "seconds"):
        if value := os.environ.get(f"SUPERVISOR_DESK_BENCH_FEED_{key.upper()}"):
            size[key] = float(value)
    return size


# Upper bounds (ms) of the garbage-collection pause histogram's buckets; the last is open.
GC_BUCKETS_MS = (1, 5, 20, 50, 100)


def gc_histogram(pauses: list[float]) -> dict[str, int]:
    """How many collections took up to 1, 5, 20, 50, 100 ms, and more."""
    counts = dict.fromkeys([*(f"<={b}" for b in GC_BUCKETS_MS), f">{GC_BUCKETS_MS[-1]}"], 0)
    for pause in pauses:
        bucket = next((f"<={b}" for b in GC_BUCKETS_MS if pause <= b),
                      f">{GC_BUCKETS_MS[-1]}")
        counts[bucket] += 1
    return counts


def _part(role: str, *args: Any, stdin: Any = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks._feed_parts", role,
                             *(str(a) for a in args)], cwd=ROOT, stdin=stdin)


# The pieces of Qt-thread work each stall gap is broken down into (feed.busiest_gaps):
# named here once, so the figures and the docs use the same words.
WORK_PARSE = "feed frame parse"
WORK_EVENT = "event into store"
WORK_FLUSH = "frame flush"
WORK_APPLY = "apply_changes"
WORK_LAYOUT = "items layout"
WORK_PAINT = "paint"
WORK_FULL_PAINT = "paint of the whole viewport"  # >= 90 % of its area
WORK_TICK = "clock tick"
WORK_METRICS = "metrics cards"
WORK_SORT_KEYS = "sort-key idle slice"
WORK_GC = "gc collection"
WORK_GC_POLICY = "gc policy"


class _NoWork(GapWork):
    """Before the stall monitor starts: nothing is recorded."""

    def take(self) -> dict[str, float]:
        self.current.clear()
        return {}


class _Model(SessionTableModel):  # type: ignore[misc]
    """The app's model; its idle sort-key slices are measured as one piece of work."""

    work: GapWork = _NoWork()

    def _on_warm_timer_timeout(self) -> None:
        with self.work.measure(WORK_SORT_KEYS):
            super()._on_warm_timer_timeout()


class _View(SessionTableView):  # type: ignore[misc]
    """The app's view; calls ``on_painted`` after each paint (the probe's last timestamp)."""

    on_painted: Any = None
    recording = False
    paint_cpu: list[float]  # Qt-thread CPU ms of each paint while recording
    paint_area: int = 0  # painted pixels while recording
    full_paints: int = 0  # paints of >= 90 % of the viewport while recording
    work: GapWork = _NoWork()

    def doItemsLayout(self) -> None:
        with self.work.measure(WORK_LAYOUT):
            super().doItemsLayout()

    def _on_clock_tick(self) -> None:
        with self.work.measure(WORK_TICK):
            super()._on_clock_tick()

    def paintEvent(self, event: QPaintEvent) -> None:
        cpu = time.thread_time()
        rect, viewport = event.rect(), self.viewport()
        full = rect.width() * rect.height() >= 0.9 * viewport.width() * viewport.height()
        with self.work.measure(WORK_FULL_PAINT if full else WORK_PAINT):
            super().paintEvent(event)
        if self.recording:
            self.paint_cpu.append((time.thread_time() - cpu) * 1000)
            self.paint_area += rect.width() * rect.height()
            self.full_paints += full
        if self.on_painted is not None:
            self.on_painted()


class LatencyProbe:
    """Timestamps each event at arrival, model emission and the paint that follows."""

    def __init__(self, vm: LiveViewModel, model: SessionTableModel, view: _View,
                 work: GapWork) -> None:
        self.arrivals: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.emitted: list[tuple[int, float, float]] = []  # seq, arrival, emitted
        self.painted: dict[int, float] = {}  # seq -> paint time
        self.event_to_row: list[float] = []
        self.event_to_model: list[float] = []
        self.on_screen = 0  # events whose row was on screen (waited for a paint)
        self.applied = 0
        self.first_applied_at = 0.0
        self.last_applied_at = 0.0
        self.recording = False
        self.apply_cpu: list[float] = []  # Qt-thread CPU ms of each apply_changes (a frame)
        self._signal_at: float | None = None
        self._in_apply = False
        # Within one apply: rows whose shown cells changed (dataChanged over a column on
        # screen; an insert, move or removal changes every row from its first one down), or
        # None after a layout change or reset (any row may have moved).
        self._repainted_rows: list[tuple[int, int]] | None = []
        self._vm_on_event = vm.on_event
        self._apply = model.apply_changes
        self._model = model
        self._view = view
        self._work = work
        vm.on_event = self._on_event
        model.apply_changes = self._apply_changes
        for signal in (model.dataChanged, model.rowsInserted, model.rowsMoved,
                       model.layoutChanged, model.modelReset):
            signal.connect(self._on_model_signal)
        model.dataChanged.connect(self._on_model_data_changed)
        model.rowsInserted.connect(self._on_model_rows_changed)
        model.rowsRemoved.connect(self._on_model_rows_changed)
        model.rowsMoved.connect(self._on_model_rows_moved)
        model.layoutChanged.connect(self._on_model_layout_changed)
        model.modelReset.connect(self._on_model_layout_changed)
        view.on_painted = self._on_painted

    def _on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        now = time.monotonic()
        if self.recording:
            self.arrivals[event.session_id].append((seq, now))
            if not self.applied:
                self.first_applied_at = now
            self.applied += 1
            self.last_applied_at = now
        with self._work.measure(WORK_EVENT):
            self._vm_on_event(seq, event, replayed)

    def _on_model_signal(self, *args: Any) -> None:
        if self._in_apply and self._signal_at is None:
            self._signal_at = time.monotonic()

    def _on_model_data_changed(self, top_left: Any, bottom_right: Any, *args: Any) -> None:
        if not self._in_apply or self._repainted_rows is None:
            return
        # A change of hidden columns only (Stage, Team, IP...), or of columns scrolled out of
        # the viewport's width, paints nothing.
        view, width = self._view, self._view.viewport().width()
        if any(not view.isColumnHidden(c) and view.columnViewportPosition(c) < width
               and view.columnViewportPosition(c) + view.columnWidth(c) > 0
               for c in range(top_left.column(), bottom_right.column() + 1)):
            self._repainted_rows.append((top_left.row(), bottom_right.row()))

    def _on_model_rows_changed(self, parent: Any, first: int, last: int) -> None:
        if self._in_apply and self._repainted_rows is not None:
            self._repainted_rows.append((first, sys.maxsize))

    def _on_model_rows_moved(self, parent: Any, first: int, last: int, destination: Any,
                             row: int) -> None:
        if self._in_apply and self._repainted_rows is not None:
            self._repainted_rows.append((min(first, row), sys.maxsize))

    def _on_model_layout_changed(self, *args: Any) -> None:
        if self._in_apply:
            self._repainted_rows = None

    def _apply_changes(self, batch: list[SessionSummary]) -> None:
        self._in_apply, self._signal_at = True, None
        self._repainted_rows = []
        cpu = time.thread_time()
        try:
            with self._work.measure(WORK_APPLY):
                self._apply(batch)
        finally:
            self._in_apply = False
        if self.recording:
            self.apply_cpu.append((time.thread_time() - cpu) * 1000)
        # A frame that changed nothing any view shows signals nothing: its rows are up to
        # date once it is applied.
        applied_at = time.monotonic()
        emitted_at = self._signal_at if self._signal_at is not None else applied_at
        first, last = self._view.visible_rows()
        # A row on screen waits for a paint only if something it shows changed: an update of
        # hidden columns only is on screen as it is (no paint will come for it).
        shown_rows: Iterable[int] = range(first, last + 1)
        if self._repainted_rows is not None:
            changed: set[int] = set()
            for a, b in self._repainted_rows:
                changed.update(range(max(a, first), min(b, last) + 1))
            shown_rows = sorted(changed)
        on_screen = {row.id for r in shown_rows if (row := self._model.session_at(r)) is not None}
        for s in batch:
            pending = self.arrivals.pop(s.id, None)
            if pending:
                if s.id in on_screen:
                    self.emitted.extend((seq, at, emitted_at) for seq, at in pending)
                    self.on_screen += len(pending)
                else:
                    for seq, at in pending:
                        self.event_to_row.append((emitted_at - at) * 1000)
                        self.event_to_model.append((emitted_at - at) * 1000)
                        self.painted[seq] = emitted_at

    def _on_painted(self) -> None:
        if not self.emitted:
            return
        now = time.monotonic()
        for seq, arrived, emitted in self.emitted:
            self.event_to_row.append((now - arrived) * 1000)
            self.event_to_model.append((emitted - arrived) * 1000)
            self.painted[seq] = now
        self.emitted.clear()


class GcWatch:
    """Durations of the interpreter's cyclic garbage collections (a stall with no code of ours
    running is often one: 10,000 sessions are a big heap to walk)."""

    def __init__(self, work: GapWork | None = None) -> None:
        self.pauses: list[tuple[int, float]] = []  # generation, ms
        self.cpu: list[float] = []  # thread CPU ms of each (no waiting for a core)
        self._started = 0.0
        self._started_cpu = 0.0
        self._work = work  # collections on this (the Qt) thread are charged to it
        self._thread = threading.get_ident()

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1000))
            self.cpu.append((time.thread_time() - self._started_cpu) * 1000)
            if self._work is not None and threading.get_ident() == self._thread:
                self._work.add(WORK_GC, self.cpu[-1])


class FeedStallMonitor(StallMonitor):
    """The Qt thread's stalls, and how many feed events it handled within each gap."""

    def __init__(self, probe: LatencyProbe, work: GapWork) -> None:
        super().__init__()
        self.work = work
        self._probe = probe
        self.events_in_gap: list[int] = []
        self._last_applied = 0

    def ticked(self) -> None:
        applied = self._probe.applied
        self.events_in_gap.append(applied - self._last_applied)
        self._last_applied = applied


async def _wait_for(predicate: Any, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _ingest_log(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "ingest.json").read_text())
    (directory / "ingest.json").unlink()
    return data


def _sent_at_by_seq(log: list[list[float]]) -> dict[int, float]:
    sent: dict[int, float] = {}
    for before, last_seq, n in log:
        for seq in range(int(last_seq) - int(n) + 1, int(last_seq) + 1):
            sent[seq] = before
    return sent


async def _desktop(info: dict[str, Any], size: dict[str, float], directory: Path) -> Results:
    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    out: Results = {}
    client = HubClient(info["url"], info["token"])
    model = _Model()
    # As the real app process does (app.AppOptions.freeze_gc from __main__): the collector
    # runs on the Qt thread between frames (views/gc_policy.py).
    gc_policy = GarbageCollectionPolicy()
    gc_policy.install()
    vm = LiveViewModel(client, model, spawn=spawn, gc_policy=gc_policy)
    # SUPERVISOR_DESK_BENCH_GC_REFREEZE=0: only the freeze after the snapshot (for comparison).
    if (refreeze := os.environ.get("SUPERVISOR_DESK_BENCH_GC_REFREEZE")) is not None:
        gc_policy.refreeze_s = float(refreeze)
    out["feed.gc_refreeze_s"] = gc_policy.refreeze_s
    view = _View()
    view.paint_cpu = []
    view.setModel(model)
    view.resize(*VIEW_SIZE)
    view.show()
    # Every named piece of Qt-thread work goes to this, gap by gap, once the monitor starts.
    work = GapWork()
    probe = LatencyProbe(vm, model, view, work)
    feed = vm.feed
    feed._parse = work.wrap(WORK_PARSE, feed._parse)
    vm.flush = work.wrap(WORK_FLUSH, vm.flush)
    vm._emit_metrics = work.wrap(WORK_METRICS, vm._emit_metrics)
    gc_policy.end_of_frame = work.wrap(
        WORK_GC_POLICY, gc_policy.end_of_frame)
    n_live = int(size["live"])
    try:
        started = time.monotonic()
        vm.start()
        await _wait_for(lambda: model.rowCount() >= n_live
                        and vm.connection_state is ConnectionState.CONNECTED, 180, "snapshot")
        out["feed.snapshot_to_rows_ms"] = round((time.monotonic() - started) * 1000, 1)
        await asyncio.sleep(1.0)  # first paints and timers settle
        stall = FeedStallMonitor(probe, work)
        model.work = view.work = work
        gc_watch = GcWatch(work).__enter__()
        probe.recording = view.recording = True
        stall.start()
        cpu_before = time.process_time()
        load_started = time.monotonic()
        ingest = _part("ingest", directory, size["rate"], size["seconds"])
        if await asyncio.get_running_loop().run_in_executor(None, ingest.wait) != 0:
            raise RuntimeError(f"the ingest process failed ({ingest.returncode})")
        log = _ingest_log(directory)
        last_seq = max(int(entry[1]) for entry in log["log"])
        # Drain: every posted event applied, then a frame and its paint. A desktop that cannot
        # keep up is a finding, not an error: the figures cover what it applied, and the
        # events still queued at the end are reported.
        try:
            await _wait_for(lambda: vm.feed.seq >= last_seq, size["seconds"] + 30, "drain")
        except TimeoutError:
            pass
        out["feed.backlog_at_end"] = max(0, last_seq - vm.feed.seq)
        await asyncio.sleep(0.3)
        stall.stop()
        gc_watch.__exit__()
        view.recording = False
        out["feed.gc_max_ms"] = round(max((p[1] for p in gc_watch.pauses), default=0.0), 1)
        out["feed.gc_gen2_runs"] = sum(1 for p in gc_watch.pauses if p[0] == 2)
        out["feed.gc_runs"] = len(gc_watch.pauses)
        out["feed.gc_max_cpu_ms"] = round(max(gc_watch.cpu, default=0.0), 1)
        out["feed.gc_gen2_max_ms"] = round(
            max((p[1] for p in gc_watch.pauses if p[0] == 2), default=0.0), 1)
        out["feed.gc_pause_histogram"] = gc_histogram([p[1] for p in gc_watch.pauses])
        cpu_ms = (time.process_time() - cpu_before) * 1000
        load_s = time.monotonic() - load_started
        viewport = view.viewport().width() * view.viewport().height()
        out["feed.paints_per_s"] = round(len(view.paint_cpu) / load_s, 1)
        out["feed.paint_cpu_p50_ms"] = round(percentile(view.paint_cpu, 50), 1)
        out["feed.paint_cpu_share"] = round(sum(view.paint_cpu) / 1000 / load_s, 3)
        out["feed.painted_viewports_per_s"] = round(view.paint_area / viewport / load_s, 1)
        out["feed.full_paints"] = view.full_paints
        out["feed.rss_mb"] = round(rss_mb(), 1)
        busy = max(1e-9, probe.last_applied_at - probe.first_applied_at)
        out["feed.events_per_s"] = round(probe.applied / busy, 1)
        out["feed.events_posted_per_s"] = round(log["sent"] / log["seconds"], 1)
        out["feed.events_applied"] = probe.applied
        out["feed.desktop_cpu_share"] = round(
            cpu_ms / 1000 / (time.monotonic() - load_started), 2)
        lat = probe.event_to_row
        out["feed.event_to_row_p50_ms"] = round(percentile(lat, 50), 1)
        out["feed.event_to_row_p99_ms"] = round(percentile(lat, 99), 1)
        out["feed.event_to_row_max_ms"] = round(max(lat, default=float("nan")), 1)
        out["feed.event_to_model_p99_ms"] = round(percentile(probe.event_to_model, 99), 1)
        out["feed.events_measured"] = len(lat)
        out["feed.events_on_screen"] = probe.on_screen
        sent = _sent_at_by_seq(log["log"])
        e2e = [(probe.painted[s] - t) * 1000 for s, t in sent.items() if s in probe.painted]
        out["feed.ingest_to_row_p50_ms"] = round(percentile(e2e, 50), 1)
        out["feed.ingest_to_row_p99_ms"] = round(percentile(e2e, 99), 1)
        out.update(stall.figures("feed."))
        out["feed.max_stall_thread_cpu_ms"] = round(max(stall.busy, default=float("nan")), 1)
        # Where the longest-busy gap went: feed events handled in it, and the costliest
        # single frame (apply_changes) and paint, to tell the feed loop from the table.
        busiest = max(range(len(stall.busy)), key=stall.busy.__getitem__, default=None)
        out["feed.events_in_busiest_gap"] = (
            stall.events_in_gap[busiest] if busiest is not None else 0)
        out["feed.max_events_in_one_gap"] = max(stall.events_in_gap, default=0)
        out.update(stall.work_figures("feed."))
        out["feed.apply_cpu_max_ms"] = round(max(probe.apply_cpu, default=float("nan")), 1)
        out["feed.apply_cpu_p50_ms"] = round(percentile(probe.apply_cpu, 50), 1)
        out["feed.paint_cpu_max_ms"] = round(max(view.paint_cpu, default=float("nan")), 1)
        out["feed.rows_at_end"] = model.rowCount()
    finally:
        await vm.stop()
        await client.aclose()
        view.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        gc_policy.uninstall()
    return out


def _weighted_staleness(ingest_log: list[list[float]], polls: list[list[float]]) -> list[float]:
    """Per event: first poll whose snapshot covers its seq, minus the POST time."""
    polls = sorted(polls, key=lambda p: p[0])
    out: list[float] = []
    i = 0
    for before, last_seq, n in sorted(ingest_log, key=lambda e: e[1]):
        while i < len(polls) and polls[i][1] < last_seq:
            i += 1
        if i == len(polls):
            break  # posted after the last poll: never seen within the run
        out.extend([(polls[i][0] - before) * 1000] * int(n))
    return out


def _polling(size: dict[str, float], directory: Path) -> Results:
    seconds = size["poll_seconds"]
    ingest = _part("ingest", directory, size["rate"], seconds)
    poller = _part("poll", directory, 1, seconds + 2)
    if ingest.wait(seconds + 120) != 0 or poller.wait(seconds + 120) != 0:
        raise RuntimeError("the polling baseline's processes failed")
    log = _ingest_log(directory)["log"]
    polls = json.loads((directory / "poll-1.json").read_text())["log"]
    stale = _weighted_staleness(log, polls)
    fetch = [p[2] for p in polls]
    fetch_median = statistics.median(fetch) if fetch else float("nan")
    return {
        "feed.poll_1s_staleness_p50_ms": round(percentile(stale, 50), 1),
        "feed.poll_1s_staleness_p99_ms": round(percentile(stale, 99), 1),
        "feed.poll_fetch_p50_ms": round(fetch_median, 1),
        "feed.poll_fetch_max_ms": round(max(fetch, default=float("nan")), 1),
        "feed.polls": len(polls),
        # Events arrive uniformly between polls: wait U(0, 10 s), then one fetch.
        "feed.poll_10s_staleness_p50_ms": round(0.5 * 10_000 + fetch_median, 1),
        "feed.poll_10s_staleness_p99_ms": round(0.99 * 10_000 + fetch_median, 1),
        "feed.poll_10s_method": "analytic: 0.99 x 10 s (uniform wait for the next poll) + "
                                "the median measured /live fetch of the 1 s run",
    }


def run(quick: bool) -> Results:
    size = sizes(quick)
    results: Results = {
        "quick": quick,
        "sizes.feed_live_sessions": int(size["live"]),
        "sizes.feed_rate": size["rate"],
        "sizes.feed_seconds": size["seconds"],
        "sizes.feed_poll_seconds": size["poll_seconds"],
    }
    with tempfile.TemporaryDirectory(prefix="sd-feed-bench-") as tmp:
        directory = Path(tmp)
        hub = _part("hub", directory, int(size["live"]), stdin=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 300
            while not (directory / "hub.json").exists():
                if hub.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the hub process did not come up")
                time.sleep(0.1)
            info = json.loads((directory / "hub.json").read_text())
            results["feed.hub_preload_s"] = info["preload_s"]
            app = QApplication.instance() or QApplication([])
            loop = DeskEventLoop(app)  # the app's loop
            asyncio.set_event_loop(loop)
            try:
                results.update(loop.run_until_complete(_desktop(info, size, directory)))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                asyncio.set_event_loop(None)
            results.update(_polling(size, directory))
        finally:
            if hub.stdin is not None:
                hub.stdin.close()
            try:
                hub.wait(60)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()
    return results


if __name__ == "__main__":
    main_for(run)
