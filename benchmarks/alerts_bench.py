"""Alert rules under load: 10,000 live sessions, 50 rules, 1,000 events/s, on a Qt loop.

    python -m benchmarks.alerts_bench [--quick] [--json PATH]

What runs is the desktop's path from applied feed changes to the user being told: each
applied change goes to ``AlertsViewModel.queue`` and the live view-model's frame to
``AlertsViewModel.flush`` (the Qt-free ``AlertEngine``), whose notices go to
``AlertNotifier`` (banner in an offscreen window; the desktop-notification D-Bus call is not
made: there is no server in this process). Feed events
are produced in this process as the client parses them (``StoredEvent``) at 1,000 events/s
from a 5 ms QTimer and applied to a ``SessionStore`` and handed to ``AlertsViewModel.queue`` as
the live view-model does, so the engine gets the store's change records (a parsed update
shares no part with the stored summary; a message the store counts replaces the summary with
a copy); the reducer's own cost is measured by ``feed_bench``. A frame flushes 80 ms after its
first change, as in ``LiveViewModel``. The wait rules' deadlines
fire from the engine's single-shot timer.

Figures:
- ``alerts.batch_p50_ms`` / ``alerts.batch_p99_ms``: wall time of the alert rules' frame
  (``AlertsViewModel.flush`` per ≈80 events), i.e. what judging 50 rules on the changed
  sessions costs the Qt thread at once;
- ``alerts.engine_p50_ms`` / ``_p99_ms``: the engine's share of a frame (``judge_taken``);
- ``alerts.take_frame_p50_ms`` / ``_p99_ms``: the engine's part per event, summed over a frame
  (``AlertEngine.take`` as each change is applied: the session's facts follow it), which runs
  in the feed's turns, not the frame's; ``alerts.frame_total_*``: the frame and the per-event
  part together; ``alerts.evaluation_*``: judging and the per-event part per frame, the rules'
  whole evaluation of a frame's events without the receivers;
- ``alerts.batch_own_p50_ms`` / ``_p99_ms``: the rest of a batch, per frame: the view-model
  telling its subscribers what changed — the app's, with the window closed to the tray: the
  hidden Alerts panel, the live table's row tints (``tint_rows``) and ``AlertNotifier``, which
  queues the notices for the loop's next turn (the Wall, not open, is left out) — and
  re-arming the deadline timer;
- ``alerts.engine_cpu_p50_ms`` / ``_p99_ms``: the same, as CPU time of the Qt thread: what
  the work costs, without the time the thread waited for a core (other processes, a loaded
  machine);
- ``alerts.tell_p50_ms`` / ``_p99_ms``: telling the user about one frame's notices (the words,
  the tray call, banners when their interval ends, the sound), on the event loop's turn after
  the frame (``AlertNotifier`` defers it so the frame's cost is the judging);
- ``alerts.tick_p99_ms``: one timer-driven ``tick`` (due deadlines, repeats);
- ``alerts.event_to_notice_p50_ms`` / ``_p99_ms``: from the moment a triggering event (a
  failed ending, a customer keyword) arrived to ``AlertNotifier.delivered`` for its session;
- ``alerts.reset_ms``: judging the whole 10,000-session snapshot once (sign-in/resync).
- ``alerts.probe_p50_ms`` / ``_p99_ms``: ``MachineProbe``, a constant piece of Python work
  shaped like a frame's evaluation, run every 80 ms between the frames: what the machine's own
  spread is in the same run (its p99 over its p50 next to the evaluation's says how much of a
  tail is the machine's).
"""

from __future__ import annotations

import gc
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks._common import Results, main_for, percentile


def _rules() -> Any:
    from supervisor_desk.models.alerts.defaults import default_rules
    from supervisor_desk.models.alerts.rules import (
        Actions,
        AllCondition,
        AnyCondition,
        DurationCondition,
        FilterCondition,
        KeywordCondition,
        MetadataCondition,
        NoReplyCondition,
        Rule,
        RuleSet,
        WaitCondition,
    )
    from supervisor_desk.models.filters import SessionFilter

    base = list(default_rules().rules)
    channels = ["web", "phone", "whatsapp", "telegram", "email"]
    extra: list[Rule] = []
    i = 0
    while len(base) + len(extra) < 50:
        i += 1
        kind = i % 7
        condition: Any
        if kind == 0:
            condition = AllCondition(conditions=(
                WaitCondition(seconds=30 + i),
                FilterCondition(filter=SessionFilter(channel=(channels[i % 5],)))))
        elif kind == 1:
            condition = NoReplyCondition(seconds=60 + i)
        elif kind == 2:
            condition = KeywordCondition(phrases=(f"word{i}", f"refund now {i}", "supervisor"))
        elif kind == 3:
            condition = MetadataCondition(key="tier", value=f"gold{i}")
        elif kind == 4:
            condition = DurationCondition(minutes=20 + i)
        elif kind == 5:
            condition = AnyCondition(conditions=(
                FilterCondition(filter=SessionFilter(agent=(f"agent-{i}",), status=("queued",))),
                MetadataCondition(key="vip", value="yes")))
        else:
            condition = FilterCondition(filter=SessionFilter(country=f"X{i % 10}"))
        extra.append(Rule(id=f"bench-{i}", name=f"Bench rule {i}", severity="warning",
                          condition=condition, actions=Actions(sound=None)))
    return RuleSet(rules=(*base, *extra), muted=True)


def _summary(sid: str, status: str, now: datetime, rng: random.Random, version: int,
             **extra: Any) -> Any:
    from supervisor_desk.models.wire import SessionSummary

    started = now - timedelta(seconds=rng.uniform(0, 50))
    # As the wire carries it (milliseconds): the snapshot is what a client parses, so the
    # updates parsed later start and queue at equal times.
    started = started.replace(microsecond=started.microsecond // 1000 * 1000)
    data: dict[str, Any] = {
        "id": sid, "agent": {"id": f"agent-{rng.randrange(40)}", "name": "Bot"},
        "channel": rng.choice(["web", "phone", "whatsapp", "telegram", "email"]),
        "status": status, "user": {"id": f"u-{sid}", "name": f"Customer {sid}"},
        "location": {"country_code": f"X{rng.randrange(20)}"},
        "started_at": started, "queued_at": started if status == "queued" else None,
        "version": version, "metadata": {"tier": "silver"},
    }
    data.update(extra)
    return SessionSummary.model_validate(data)


class _ProbeItem:
    __slots__ = ("count", "flag", "ref")

    def __init__(self, ref: dict[str, int], flag: bool) -> None:
        self.ref = ref
        self.flag = flag
        self.count = 0


class MachineProbe:
    """A fixed piece of Python work shaped like a frame's evaluation, timed beside it: 80
    lookups of random entries among 10,000 objects (a read of each one's own dict, a count
    written), gathered in a fresh dict, then walked again. Its work never changes, so the
    spread of its times (p99 over p50) in the same run is the machine's, not the code's."""

    def __init__(self, rng: random.Random, entries: int = 10_000, per_run: int = 80) -> None:
        keys = [f"s{n}" for n in range(entries)]
        self._table = {k: _ProbeItem({"v": n}, n % 3 == 0) for n, k in enumerate(keys)}
        self._order = [rng.choice(keys) for _ in range(per_run * 997)]
        self._per_run = per_run
        self._at = 0
        self.checksum = 0
        self.ms: list[float] = []

    def run(self) -> None:
        begun = time.perf_counter()
        table = self._table
        start = self._at
        self._at = (start + self._per_run) % (len(self._order) - self._per_run)
        gathered: dict[str, int] = {}
        for key in self._order[start:start + self._per_run]:
            item = table[key]
            item.count += 1
            gathered[key] = item.ref["v"] + item.count
        total = 0
        for key, value in gathered.items():
            item = table[key]
            if item.flag:
                total += value
        self.checksum = total  # the walk's result, kept so the work is real
        self.ms.append((time.perf_counter() - begun) * 1000)


def run(quick: bool) -> Results:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    from supervisor_desk.models.state import SessionStore
    from supervisor_desk.models.wire import StoredEvent
    from supervisor_desk.views.alerts.highlight import tint_rows
    from supervisor_desk.views.alerts.notify import AlertNotifier
    from supervisor_desk.views.alerts.panel import AlertsPanel
    from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
    from supervisor_desk.views.gc_policy import GarbageCollectionPolicy
    from supervisor_desk.views.notifications import NotificationArea
    from supervisor_desk.views.session_table_model import SessionTableModel
    from supervisor_desk.views.tray import TrayController

    app = QApplication.instance() or QApplication(sys.argv[:1])
    sessions_n = 10_000
    seconds = 12.0 if quick else 60.0
    rate = 1000
    rng = random.Random(7)
    rules = _rules()
    now = datetime.now(UTC)
    versions: dict[str, int] = {}
    sessions = {}
    for n in range(sessions_n):
        sid = f"s{n}"
        versions[sid] = 1
        sessions[sid] = _summary(sid, "queued" if n % 5 == 0 else "active", now, rng, 1)
    vm = AlertsViewModel(rules)
    # The app's receivers, window closed to the tray (when notifications matter): the Alerts
    # panel docked and hidden with its View menu entry, the live table's model holding the
    # snapshot still (a hidden table does) and tinting its rows, the notifier.
    window = QMainWindow()
    panel = AlertsPanel(vm, window)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
    window.menuBar().addMenu("View").addAction(panel.toggleViewAction())
    panel.hide()
    table = SessionTableModel()
    table.set_alerts(vm.highlight, list(rules.wait_thresholds()))
    table.set_sessions(sessions.values())
    vm.subscribe(table, lambda update: tint_rows(table, update))
    area = NotificationArea()
    area.resize(800, 200)
    tray = TrayController(area, spawn=lambda coro, name: coro.close())
    notifier = AlertNotifier(tray, area)
    notifier.set_rules(rules)
    vm.subscribe(notifier, notifier.on_alerts_changed)
    store = SessionStore()
    store.reset(sessions.values())
    t0 = time.perf_counter()
    vm.reset(sessions.values())
    reset_ms = (time.perf_counter() - t0) * 1000
    # As the app does (views/gc_policy.py): the collector runs on this thread between frames,
    # and once the snapshot is applied the 10,000 long-lived sessions leave its passes.
    gc_policy = GarbageCollectionPolicy()
    gc_policy.install()
    gc_policy.freeze_long_lived()

    taken = [0.0]  # this frame's ms in the engine's take (per event, as the events come)
    take_ms: list[float] = []  # per frame
    # Ended rows leave the live list after their end was judged (the app judges a row's last
    # changes before it forgets it): here right after their frame.
    ended_ids: list[str] = []
    triggers: dict[str, float] = {}
    latencies: list[float] = []
    batch_ms: list[float] = []
    tick_ms: list[float] = []
    produced = [0]
    next_id = [sessions_n]
    seq: dict[str, int] = {}

    def on_delivered(notice: Any, _alert: Any) -> None:
        done = time.perf_counter()
        for alert in notice.alerts:
            at = triggers.pop(alert.session_id, None)
            if at is not None:
                latencies.append((done - at) * 1000)

    notifier.delivered.connect(on_delivered)
    engine_ms: list[float] = []
    engine_cpu_ms: list[float] = []
    engine = vm.engine
    engine_judge = engine.judge_taken
    engine_take = engine.take

    class TimedEngine:
        """The view-model's engine with its two halves timed (a stand-in, not a patch of the
        engine's methods: a compiled engine's cannot be replaced)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        def judge_taken(self, now_ms: int) -> Any:
            begun = time.perf_counter()
            begun_cpu = time.thread_time()
            result = engine_judge(now_ms)
            engine_cpu_ms.append((time.thread_time() - begun_cpu) * 1000)
            engine_ms.append((time.perf_counter() - begun) * 1000)
            return result

        def take(self, change: Any, replayed: bool = False) -> None:
            begun = time.perf_counter()
            engine_take(change, replayed)
            taken[0] += (time.perf_counter() - begun) * 1000

    vm.engine = TimedEngine()  # type: ignore[assignment]
    original_tick = vm._on_timer_timeout

    def timed_tick() -> None:
        start = time.perf_counter()
        original_tick()
        tick_ms.append((time.perf_counter() - start) * 1000)

    tell_ms: list[float] = []
    original_tell = getattr(notifier, "_tell", None)  # None: a tree that told inside the frame

    def timed_tell(notices: list[Any]) -> None:
        begun = time.perf_counter()
        assert original_tell is not None
        original_tell(notices)
        tell_ms.append((time.perf_counter() - begun) * 1000)

    if original_tell is not None:
        notifier._tell = timed_tell  # type: ignore[method-assign]
    vm._timer.timeout.disconnect()
    vm._timer.timeout.connect(timed_tick)
    live_ids = list(sessions)
    start_time = time.perf_counter()

    def feed(event_type: str, sid: str, moment: datetime, data: dict[str, Any]) -> None:
        produced[0] += 1
        event = StoredEvent(id=f"e{produced[0]}", type=event_type, session_id=sid, at=moment,
                            data=data)
        change = store.apply(event)
        if change is not None:
            # As LiveViewModel.on_event: the frame starts with its first change, and the
            # alert rules take each change in as it comes (AlertsViewModel.queue).
            if not frames.isActive():
                frames.start()
            vm.queue(change, False)

    def produce() -> None:
        due = int((time.perf_counter() - start_time) * rate) - produced[0]
        moment = datetime.now(UTC)
        for _ in range(max(0, due)):
            roll = rng.random()
            sid = rng.choice(live_ids)
            s = sessions[sid]
            if roll < 0.6:
                seq[sid] = seq.get(sid, s.message_count) + 1
                keyword = rng.random() < 0.01
                role = "customer" if rng.random() < 0.5 else "ai"
                text = "I want to file a complaint" if keyword else "thanks, that helps a lot"
                if keyword and role == "customer":
                    triggers.setdefault(sid, time.perf_counter())
                feed("message.created", sid, moment, {
                    "id": f"m{sid}-{seq[sid]}", "session_id": sid, "seq": seq[sid],
                    "at": moment.isoformat(), "author": {"role": role}, "text": text})
            elif roll < 0.9:
                versions[sid] += 1
                status = "active" if s.status == "queued" and rng.random() < 0.3 else s.status
                s = s.model_copy(update={"version": versions[sid], "status": status})
                sessions[sid] = s
                feed("session.updated", sid, moment, s.model_dump(mode="json"))
            else:
                versions[sid] += 1
                failed = rng.random() < 0.3
                ended = s.model_copy(update={
                    "version": versions[sid], "status": "failed" if failed else "completed",
                    "end_reason": "error" if failed else "resolved", "ended_at": moment})
                if failed:
                    triggers.setdefault(sid, time.perf_counter())
                feed("session.ended", sid, moment, ended.model_dump(mode="json"))
                live_ids.remove(sid)
                del sessions[sid]
                new = f"s{next_id[0]}"
                next_id[0] += 1
                versions[new] = 1
                sessions[new] = _summary(new, "queued", moment, rng, 1)
                live_ids.append(new)
                feed("session.started", new, moment, sessions[new].model_dump(mode="json"))
                ended_ids.append(sid)

    def frame() -> None:
        started = time.perf_counter()
        vm.flush()
        batch_ms.append((time.perf_counter() - started) * 1000)
        take_ms.append(taken[0])
        taken[0] = 0.0
        if ended_ids:
            vm.forget(ended_ids)
            store.drop_ended(ended_ids)
            ended_ids.clear()
        gc_policy.end_of_frame()  # as LiveViewModel.flush does after the frame is applied

    producer = QTimer()
    producer.setInterval(5)
    producer.timeout.connect(produce)
    frames = QTimer()
    frames.setSingleShot(True)
    frames.setInterval(80)
    frames.timeout.connect(frame)
    probe = MachineProbe(random.Random(11))
    # Half a frame out of step with the frames: after a rest, as a frame's judging comes.
    probe_timer = QTimer()
    probe_timer.setInterval(80)
    probe_timer.timeout.connect(probe.run)
    QTimer.singleShot(40, probe_timer.start)
    producer.start()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    producer.stop()
    frames.stop()
    probe_timer.stop()
    notifier.close()
    gc_policy.uninstall()
    gc.unfreeze()
    elapsed = time.perf_counter() - start_time
    # The batch's own part: what the view-model adds to the engine in the frame.
    own_ms = [b - e for b, e in zip(batch_ms, engine_ms, strict=True)]
    frame_ms = [b + t for b, t in zip(batch_ms, take_ms, strict=True)]
    # The rules' evaluation of a frame's events, whole: judging and the per-event part (what
    # the view-model's receivers do with the answer left out).
    evaluation_ms = [e + t for e, t in zip(engine_ms, take_ms, strict=True)]
    return {
        "alerts.sessions": sessions_n,
        "alerts.rules": len(rules.rules),
        "alerts.events_per_s": round(produced[0] / elapsed),
        "alerts.seconds": round(elapsed, 1),
        "alerts.batches": len(batch_ms),
        "alerts.batch_p50_ms": round(percentile(batch_ms, 50), 3),
        "alerts.batch_p99_ms": round(percentile(batch_ms, 99), 3),
        "alerts.batch_max_ms": round(max(batch_ms, default=0.0), 3),
        "alerts.batch_own_p50_ms": round(percentile(own_ms, 50), 3),
        "alerts.batch_own_p99_ms": round(percentile(own_ms, 99), 3),
        "alerts.take_frame_p50_ms": round(percentile(take_ms, 50), 3),
        "alerts.take_frame_p99_ms": round(percentile(take_ms, 99), 3),
        "alerts.frame_total_p50_ms": round(percentile(frame_ms, 50), 3),
        "alerts.frame_total_p99_ms": round(percentile(frame_ms, 99), 3),
        "alerts.evaluation_p50_ms": round(percentile(evaluation_ms, 50), 3),
        "alerts.evaluation_p99_ms": round(percentile(evaluation_ms, 99), 3),
        "alerts.engine_p50_ms": round(percentile(engine_ms, 50), 3),
        "alerts.engine_p99_ms": round(percentile(engine_ms, 99), 3),
        "alerts.engine_cpu_p50_ms": round(percentile(engine_cpu_ms, 50), 3),
        "alerts.engine_cpu_p99_ms": round(percentile(engine_cpu_ms, 99), 3),
        "alerts.tell_p50_ms": round(percentile(tell_ms, 50), 3),
        "alerts.tell_p99_ms": round(percentile(tell_ms, 99), 3),
        "alerts.tick_p99_ms": round(percentile(tick_ms, 99), 3),
        "alerts.ticks": len(tick_ms),
        "alerts.notices_timed": len(latencies),
        "alerts.event_to_notice_p50_ms": round(percentile(latencies, 50), 1),
        "alerts.event_to_notice_p99_ms": round(percentile(latencies, 99), 1),
        "alerts.open_alerts": len(vm.alerts()),
        "alerts.reset_ms": round(reset_ms, 1),
        # The machine's own spread at the same moments (MachineProbe): a constant workload.
        "alerts.probe_p50_ms": round(percentile(probe.ms, 50), 3),
        "alerts.probe_p99_ms": round(percentile(probe.ms, 99), 3),
    }


def engine_loop(frames: int = 300, events_per_frame: int = 80) -> Results:
    """The engine alone, without Qt: ``AlertEngine.apply`` on pre-built frames of the run's mix
    (events parsed and applied to a ``SessionStore`` while the frames are built), CPU time per
    frame, the collector off while judging and a young collection between frames.

        python -c "from benchmarks.alerts_bench import engine_loop; print(engine_loop())"
    """
    from supervisor_desk.models.alerts.engine import AlertEngine
    from supervisor_desk.models.state import SessionChange, SessionStore
    from supervisor_desk.models.wire import StoredEvent

    rng = random.Random(7)
    start = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    sessions = {f"s{n}": _summary(f"s{n}", "queued" if n % 5 == 0 else "active", start, rng, 1)
                for n in range(10_000)}
    snapshot = list(sessions.values())
    store = SessionStore()
    store.reset(snapshot)
    live_ids = list(sessions)
    seq: dict[str, int] = {}
    built: list[tuple[int, list[SessionChange], list[str]]] = []
    produced = 0
    for f in range(frames):
        moment = start + timedelta(milliseconds=80 * (f + 1))
        batch: list[SessionChange] = []
        ended: list[str] = []

        def feed(event_type: str, sid: str, data: dict[str, Any], moment: datetime = moment,
                 batch: list[SessionChange] = batch) -> None:
            nonlocal produced
            produced += 1
            change = store.apply(StoredEvent(id=f"e{produced}", type=event_type,
                                             session_id=sid, at=moment, data=data))
            if change is not None:
                batch.append(change)

        while produced < (f + 1) * events_per_frame:
            roll = rng.random()
            sid = rng.choice(live_ids)
            s = sessions[sid]
            if roll < 0.6:
                seq[sid] = seq.get(sid, s.message_count) + 1
                text = ("I want to file a complaint" if rng.random() < 0.01
                        else "thanks, that helps a lot")
                role = "customer" if rng.random() < 0.5 else "ai"
                feed("message.created", sid, {
                    "id": f"m{sid}-{seq[sid]}", "session_id": sid, "seq": seq[sid],
                    "at": moment.isoformat(), "author": {"role": role}, "text": text})
            elif roll < 0.9:
                status = "active" if s.status == "queued" and rng.random() < 0.3 else s.status
                s = sessions[sid] = s.model_copy(update={"version": s.version + 1,
                                                         "status": status})
                feed("session.updated", sid, s.model_dump(mode="json"))
            else:
                failed = rng.random() < 0.3
                feed("session.ended", sid, s.model_copy(update={
                    "version": s.version + 1, "status": "failed" if failed else "completed",
                    "end_reason": "error" if failed else "resolved", "ended_at": moment,
                }).model_dump(mode="json"))
                live_ids.remove(sid)
                del sessions[sid]
                new = f"s{10_000 + produced}"
                sessions[new] = _summary(new, "queued", moment, rng, 1)
                live_ids.append(new)
                feed("session.started", new, sessions[new].model_dump(mode="json"))
                ended.append(sid)
        store.drop_ended(ended)
        built.append((int(moment.timestamp() * 1000), batch, ended))
    engine = AlertEngine(_rules())
    engine.reset(snapshot, int(start.timestamp() * 1000))
    cpu_ms: list[float] = []
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        for now_ms, batch, ended in built:
            engine.tick(now_ms)
            begun = time.thread_time_ns()
            engine.apply(batch, now_ms)
            cpu_ms.append((time.thread_time_ns() - begun) / 1e6)
            engine.forget(ended, now_ms)
            gc.collect(0)
    finally:
        gc.enable()
        gc.unfreeze()
    return {
        "alerts.loop_frames": frames,
        "alerts.loop_cpu_mean_ms": round(sum(cpu_ms) / len(cpu_ms), 3),
        "alerts.loop_cpu_p50_ms": round(percentile(cpu_ms, 50), 3),
        "alerts.loop_cpu_p99_ms": round(percentile(cpu_ms, 99), 3),
        "alerts.loop_open_alerts": engine.open_count(),
    }


if __name__ == "__main__":
    main_for(run)
