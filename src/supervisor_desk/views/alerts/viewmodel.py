"""The alerts view-model: drives the Qt-free :class:`AlertEngine` from the live feed.

The live view-model hands it each applied change (:meth:`queue`), each snapshot and each batch
of rows that left the list. Changes are judged in frames of their own (``ALERT_FRAME_MS``,
or with the live table's frame, :meth:`flush`): the table may hold still for longer while the
window is hidden, but the supervisor is told within the same fifth of a second. Time-based
rules wake one single-shot timer at the engine's next deadline — never a poll of every row.
What it tells its subscribers (:meth:`AlertsViewModel.subscribe`), at most once per frame,
timer tick or user action, and only when something changed (most ticks change nothing): the
engine's :class:`AlertUpdate` — the alerts opened and resolved, ``changed`` when others changed
state in place (acknowledged, snoozed, the rules replaced: read the engine's list again), and
the notices to tell the user about (desktop notification, banner, sound). Receivers read it
and never change it.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from PySide6.QtCore import QObject, QTimer, Signal

from supervisor_desk.models.alerts.engine import Alert, AlertEngine, AlertUpdate
from supervisor_desk.models.alerts.rules import Rule, RuleSet, Severity
from supervisor_desk.models.state import SessionChange
from supervisor_desk.models.wire import SessionSummary

SNOOZE_MINUTES = (5, 15, 60)
# From a triggering event to the notification within 200 ms (p99), window shown or hidden.
ALERT_FRAME_MS = 80
# Qt timers take int milliseconds; a far deadline is re-armed when it comes closer.
_MAX_TIMER_MS = 3_600_000


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


AlertsCallback = Callable[[AlertUpdate], None]


class AlertsViewModel(QObject):
    rules_changed = Signal(object)  # RuleSet

    def __init__(
        self,
        rules: RuleSet,
        *,
        user: str = "",
        clock: Callable[[], int] = wall_clock_ms,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = AlertEngine(rules)
        self.user = user
        self._clock = clock
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        # The deadline the timer is armed for: most frames leave it where it was, and
        # re-arming costs more than comparing.
        self._armed_for: int | None = None
        # Changes taken by the engine since the last frame (judged at the frame).
        self._pending = False
        self._frame = QTimer(self)
        self._frame.setSingleShot(True)
        self._frame.setInterval(ALERT_FRAME_MS)
        self._frame.timeout.connect(self.flush)
        self.batches = 0
        # Called before a deadline is judged, with the judging to run once every event held
        # back on the way (the hub's held delivery) has been taken: a deadline must not fire
        # on facts an event already changed. None: judged at once.
        self.before_deadline: Callable[[Callable[[], None]], None] | None = None
        self.deadline_waits = 0  # deadlines that waited for held events, for tests
        # (id of the owner, callback), in the order subscribed; the callbacks alone, as
        # _publish reads them.
        self._subscribers: list[tuple[int, AlertsCallback]] = []
        self._callbacks: tuple[AlertsCallback, ...] = ()

    def subscribe(self, owner: QObject, callback: AlertsCallback) -> None:
        """Call ``callback(update)`` after each frame, tick or action that changed something,
        until ``owner`` is destroyed.

        A plain call rather than a Qt signal: right after judging, a signal's dispatch to a
        Python slot runs on cold caches — 24 us a receiver in the bench's frames (3-4 us
        warm), the cost of judging a dozen changes, and the app has three receivers.
        """
        key = id(owner)
        if all(k != key for k, _ in self._subscribers):
            # Weakly: an owner (the view-model itself, in tests) does not keep it alive.
            owner.destroyed.connect(partial(_owner_destroyed, weakref.ref(self), key))
        self._subscribers.append((key, callback))
        self._callbacks = tuple(cb for _, cb in self._subscribers)

    def _unsubscribe(self, key: int) -> None:
        self._subscribers = [(k, cb) for k, cb in self._subscribers if k != key]
        self._callbacks = tuple(cb for _, cb in self._subscribers)

    # ------------------------------------------------------------------ reading

    @property
    def rules(self) -> RuleSet:
        return self.engine.rules

    def alerts(self) -> list[Alert]:
        return self.engine.active_alerts()

    def open_count(self) -> int:
        return self.engine.open_count()

    def now_ms(self) -> int:
        return self._clock()

    def highlight(self, session_id: str) -> Severity | None:
        return self.engine.session_severity(session_id)

    def matching(self, rule: Rule, sessions: Iterable[SessionSummary]) -> list[SessionSummary]:
        return self.engine.matching(rule, sessions, self._clock())

    # ------------------------------------------------------------------ feed

    def reset(self, sessions: Iterable[SessionSummary]) -> None:
        self._frame.stop()
        self._pending = False  # the snapshot holds them (the engine drops what it took)
        self._publish(self.engine.reset(sessions, self._clock()))

    def queue(self, change: SessionChange, replayed: bool) -> None:
        """An applied feed change: the engine takes it in now (AlertEngine.take), in the
        feed's turn; judged with the next frame (at most ALERT_FRAME_MS away)."""
        self.engine.take(change, replayed)
        if not self._pending:  # the frame's first change: its timer (flush stops it)
            self._pending = True
            self._frame.start()

    def flush(self) -> None:
        """Judge the queued changes now (the live table's frame, or our own)."""
        self._frame.stop()
        if self._pending:
            self._pending = False
            self.batches += 1
            self._publish(self.engine.judge_taken(self._clock()))

    def apply_batch(self, fresh: Sequence[SessionChange],
                    replays: Sequence[SessionChange] = ()) -> None:
        """One frame of applied feed changes at once: the fresh ones, then the replayed ones
        (a reconnect's catch-up, which announce nothing routine)."""
        for change in fresh:
            self.engine.take(change, False)
        for change in replays:
            self.engine.take(change, True)
        self._pending = True
        self.flush()

    def forget(self, session_ids: Iterable[str]) -> None:
        self.flush()  # what the rows did before they left is judged first
        self._publish(self.engine.forget(session_ids, self._clock()))

    # ------------------------------------------------------------------ user actions

    def acknowledge(self, alert_id: str) -> bool:
        alert = self.engine.acknowledge(alert_id, self.user or "me", self._clock())
        if alert is not None:
            self._publish(AlertUpdate(changed=True))
        return alert is not None

    def acknowledge_session(self, session_id: str) -> int:
        """Acknowledge every open alert of one session (the row's shortcut)."""
        ids = [a.id for a in self.engine.active_alerts()
               if a.session_id == session_id and a.state == "open"]
        now = self._clock()
        for alert_id in ids:
            self.engine.acknowledge(alert_id, self.user or "me", now)
        if ids:
            self._publish(AlertUpdate(changed=True))
        return len(ids)

    def snooze(self, alert_id: str, minutes: int) -> bool:
        alert = self.engine.snooze(alert_id, self._clock() + minutes * 60_000)
        if alert is not None:
            self._publish(AlertUpdate(changed=True))
        return alert is not None

    def set_rules(self, rules: RuleSet) -> None:
        self._publish(self.engine.set_rules(rules, self._clock()))
        self.rules_changed.emit(rules)

    # ------------------------------------------------------------------ internals

    def _on_timer_timeout(self) -> None:
        self._armed_for = None  # single-shot: no longer armed
        gate = self.before_deadline
        if gate is None:
            self._judge_deadlines()
            return
        self.deadline_waits += 1
        gate(self._judge_deadlines)

    def _judge_deadlines(self) -> None:
        self._publish(self.engine.tick(self._clock()))

    def _publish(self, update: AlertUpdate) -> None:
        if update.opened or update.resolved or update.notices or update.changed:
            # The engine does not use the record again: it goes out as it is.
            for callback in self._callbacks:
                try:
                    callback(update)
                except Exception:
                    # As a failing Qt slot: reported, and the others and the frame go on.
                    sys.excepthook(*sys.exc_info())
        self._arm()

    def _arm(self) -> None:
        due = self.engine.next_deadline()
        if due is None:
            if self._armed_for is not None:
                self._armed_for = None
                self._timer.stop()
            return
        if due == self._armed_for:
            return  # armed for it already (a frame rarely moves the earliest deadline)
        self._armed_for = due
        wait = max(0, min(_MAX_TIMER_MS, due - self._clock()))
        self._timer.start(wait)


def _owner_destroyed(vm: weakref.ref[AlertsViewModel], key: int, _obj: object = None) -> None:
    alive = vm()
    if alive is not None:
        alive._unsubscribe(key)
