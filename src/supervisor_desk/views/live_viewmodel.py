"""The live view-model: feed -> reducer -> table, in frames.

It owns the FeedClient task and the SessionStore and is the FeedListener. Feed events are
reduced as they arrive (cheap, Qt-free) but reach the table only on a frame timer (~80 ms):
each frame becomes one ``apply_changes`` batch with ranged signals, so 1,000 events/s cost
~12 model updates per second instead of 1,000; a batch of a few events read after a calm
spell (nothing for a frame's length: a quiet floor's lone event) is its own frame, painted in
the turn that read it. Alerts are gathered only from events that are not replays and never
from snapshots (a reconnect must not announce the whole backlog).

The live list stays live: ended rows leave the table after ``keep_ended_minutes`` (0: only on
Refresh) or at once with ``hide_ended``; while ``paused`` the table holds still (the store, the
cards, the open chat and the alerts keep following the feed) and ``waiting_changes`` counts
the sessions that changed meanwhile; resuming applies them in one batch. Off screen (the window
closed to the tray or minimised, ``set_on_screen``) the table holds still the same way without
counting, and frames follow the feed's batches instead of a timer: the feed reads a busy socket
at most every ``HIDDEN_READ_INTERVAL_S`` and each batch it read is applied (and judged by the
alert rules) at once, so an event costs one wake-up, not one for the socket plus one per frame
timer; showing the window applies everything before it paints. With nothing live on screen at
all (``hold_feed(FeedHold.HIDDEN)``, the app's call: no Wall either) the hub itself gathers the
events for up to ``HIDDEN_HOLD_MS`` and sends them together, except any that could open an alert
other than the routine "started" and "ended" notices (which the tray tells once a minute).
On screen the app may ask for the same in step with its one-second clock
(``FeedHold.EACH_SECOND``): the hub sends what it gathered just before each second, so the
table's changes are painted with the second's tick; the session the supervisor has open, and
anything that could open an alert other than the routine "started" and "ended" notices, still
come at once.
The metric cards move on the app's one-second clock (``tick``), not on a timer of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient, HubError
from supervisor_desk.models.alerts.defaults import BUILTIN_IDS
from supervisor_desk.models.alerts.rules import Rule

# LiveMetrics is re-exported: it is what metrics_changed carries.
from supervisor_desk.models.metrics import LiveMetrics as LiveMetrics
from supervisor_desk.models.metrics import live_metrics_of_counts
from supervisor_desk.models.state import SessionStore
from supervisor_desk.models.wire import LiveSnapshot, Message, Metrics, SessionSummary, StoredEvent
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from supervisor_desk.views.clock import screen_clock
from supervisor_desk.views.gc_policy import GarbageCollectionPolicy
from supervisor_desk.views.properties import ObservableProperty
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.tasks import TaskScope

log = logging.getLogger(__name__)

FRAME_MS = 80
METRICS_POLL_S = 15.0
# When the hub's totals cannot be followed from the feed (a session seen first past its
# first version, the window back on screen): ask again this soon rather than after a full poll.
METRICS_SOON_S = 1.0
RECENT_WINDOW = timedelta(hours=24)  # the hub's "last 24 h" card
EXPIRE_CHECK_MS = 5000
# Closed to the tray or minimised: frames gather longer (the alert rules keep their own 80 ms
# frames, views/alerts/viewmodel.py) and ended rows leave the hidden table once a minute, so
# it does no work per event.
HIDDEN_FRAME_MS = 500
# On screen, a batch of at most this many events after a calm spell is its own frame.
CALM_BATCH_EVENTS = 8
HIDDEN_EXPIRE_CHECK_MS = 60_000
# Off screen the feed leaves a busy socket unread this long between batches (client/feed.py):
# an alert is told at most this late plus its handling, inside the 200 ms it is promised in.
HIDDEN_READ_INTERVAL_S = 0.12
# With nothing of the live state on screen the hub may hold events this long and send them
# together (hold_feed); what could open an alert it sends at once.
HIDDEN_HOLD_MS = 1000
# On screen, in step with the app's clock: the hub sends what it held just before each second.
EACH_SECOND_HOLD_MS = 1000
DEFAULT_KEEP_ENDED_MINUTES = 2

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class FeedHold(Enum):
    """What the hub may hold of the feed for this desktop (client/feed.py, "Held delivery")."""

    NONE = "none"  # each event at once
    EACH_SECOND = "each_second"  # on screen: gathered into the second's tick
    HIDDEN = "hidden"  # nothing live on screen: gathered up to HIDDEN_HOLD_MS


def urgent_rules(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The rules whose alerts may not wait for the hub's next release (the second's tick on
    screen, up to a second off screen): all but the routine notices of a session starting or
    ending. The tray tells those at most once a minute per kind and gathers the rest of the
    minute's, so only the first after a calm could come sooner, and by a second at most; on
    screen the table shows the row with that tick anyway."""
    return tuple(rule for rule in rules if rule.id not in BUILTIN_IDS)


def connection_text(state: ConnectionState | None, retry_in: float | None, detail: str) -> str:
    """The header's words for a connection state (with the live countdown)."""
    seconds = max(1, round(retry_in)) if retry_in is not None else None
    match state:
        case ConnectionState.CONNECTED:
            return "Connected"
        case ConnectionState.CONNECTING:
            return "Connecting…"
        case ConnectionState.RECONNECTING:
            return f"Reconnecting in {seconds} s" if seconds is not None else "Reconnecting…"
        case ConnectionState.UNREACHABLE:
            suffix = f" — retrying in {seconds} s" if seconds is not None else ""
            return f"Hub unreachable{suffix}"
        case ConnectionState.UNAUTHORIZED:
            return "Signed out"
        case ConnectionState.STOPPED:
            return "Offline"
    return "Not connected"


class LiveViewModel(QObject):
    """Live sessions for one signed-in hub connection."""

    # state (ConnectionState value), seconds until retry or None, human text for the header
    connection_changed = Signal(str, object, str)
    sessions_changed = Signal()
    message_received = Signal(object)  # Message of the watched session
    messages_received = Signal(list)  # [Message] of every session this frame (the Wall)
    logs_appended = Signal(str)  # session id: the watched session got new log entries
    session_updated = Signal(object)  # SessionSummary: every session that changed this frame
    sessions_started = Signal(list)  # [SessionSummary] new, live (never replays)
    sessions_ended = Signal(list)  # [SessionSummary] ended while we watched (never replays)
    metrics_changed = Signal(object)  # LiveMetrics
    signed_out = Signal(str)  # the hub refused our token: reason
    first_rows_shown = Signal()
    paused_changed = Signal(bool)
    waiting_changes_changed = Signal(int)
    keep_ended_minutes_changed = Signal(int)
    hide_ended_changed = Signal(bool)

    paused = ObservableProperty(False)
    # Sessions changed while paused (what resuming will apply to the table).
    waiting_changes = ObservableProperty(0)
    keep_ended_minutes = ObservableProperty(DEFAULT_KEEP_ENDED_MINUTES)
    hide_ended = ObservableProperty(False)

    def __init__(
        self,
        client: HubClient,
        model: SessionTableModel,
        *,
        tasks: TaskScope | None = None,
        spawn: Spawn | None = None,
        parent: QObject | None = None,
        frame_ms: int = FRAME_MS,
        metrics_poll_s: float = METRICS_POLL_S,
        feed_factory: Callable[[HubClient, LiveViewModel], FeedClient] | None = None,
        gc_policy: GarbageCollectionPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        # The process's garbage collection (the app's): the snapshot's objects frozen, and a
        # collection between frames rather than inside one.
        self._gc_policy = gc_policy
        self._client = client
        self.model = model
        self.store = SessionStore()
        if tasks is None and spawn is None:
            raise TypeError("LiveViewModel needs a TaskScope (tasks=) or a spawn callable")
        self._tasks = tasks
        self._spawn: Spawn = tasks.spawn if tasks is not None else spawn  # type: ignore[assignment]
        self._feed = (feed_factory or (lambda c, listener: FeedClient(c, listener)))(client, self)
        self._feed_task: asyncio.Task[Any] | None = None
        self._metrics_task: asyncio.Task[Any] | None = None
        self._metrics_poll_s = metrics_poll_s
        self._metrics_soon = asyncio.Event()
        self._pending: dict[str, SessionSummary] = {}
        # Alert rules judge every applied change (set by the app: attach_alerts), in frames of
        # their own so an alert is told within 200 ms while the hidden table gathers longer.
        self.alerts: AlertsViewModel | None = None
        # What the table has not been shown yet because the list is paused.
        self._held: dict[str, SessionSummary] = {}
        self._held_reload = False
        # When each ended session was first seen ended (monotonic): its time on screen.
        self._ended_seen: dict[str, float] = {}
        self._monotonic = monotonic
        self._started: dict[str, SessionSummary] = {}
        self._ended: dict[str, SessionSummary] = {}
        self._watched_messages: list[Message] = []
        self._watched_id: str | None = None
        self._frame_messages: list[Message] = []
        self._state: ConnectionState | None = None
        self._retry_deadline: float | None = None
        self._detail = ""
        self._hub_metrics: Metrics | None = None
        self._first_rows_seen = False
        self.events_applied = 0
        self.last_event_at: float | None = None
        # One shot per frame, armed by the frame's first event: no wake-up without events.
        self._frame_ms = frame_ms
        self._batch_done_at = -math.inf  # when the feed last handed over a batch
        self._batch_events = 0  # events in the batch the feed is handing over
        self._frame = QTimer(self)
        self._frame.setSingleShot(True)
        self._frame.timeout.connect(self._on_frame_timeout)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._on_countdown_timeout)
        # Not on screen (closed to the tray, minimised): the table holds still like when
        # paused, and everything else (store, alerts, History, chat, Wall) follows the feed.
        self._on_screen = True
        self._feed_hold = FeedHold.NONE
        self._on_screen_event = asyncio.Event()
        self._on_screen_event.set()
        self._expired_at = 0.0
        self._metrics_at = 0.0
        # Cards follow frames at most once a second; a frame that comes sooner is shown by
        # this one shot at the second's end, so the last change of a burst is never dropped.
        self._metrics_trailing = QTimer(self)
        self._metrics_trailing.setSingleShot(True)
        self._metrics_trailing.timeout.connect(self._on_metrics_trailing_timeout)
        # While the app's clock ticks the cards (``tick``), the next tick is that one shot: the
        # cards are shown with it instead of a second wake-up a few ms before it.
        self._ticked_at: float | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def client(self) -> HubClient:
        return self._client

    @property
    def feed(self) -> FeedClient:
        return self._feed

    @property
    def running(self) -> bool:
        return self._feed_task is not None and not self._feed_task.done()

    def hold_feed(self, hold: FeedHold) -> None:
        """Let the hub gather events and send them together, one wake-up (and one paint) for
        several (client/feed.py, "Held delivery"):
        - ``HIDDEN``, nothing of the live state on screen (the window in the tray or minimised,
          no Wall): for up to ``HIDDEN_HOLD_MS``, except any that could open an alert other
          than the routine notices (``urgent_rules``), which it sends at once;
        - ``EACH_SECOND``, the window on screen: just before each second of the wall clock, so
          the table shows them with the second's tick, except the events of the session
          watched (its chat follows each message) and any that could open an alert other than
          the routine notices (``urgent_rules``);
        - ``NONE``: each at once."""
        self._feed_hold = hold
        self._ask_feed_hold()

    @property
    def feed_hold(self) -> FeedHold:
        return self._feed_hold

    def _ask_feed_hold(self) -> None:
        hold = self._feed_hold
        rules = self.alerts.rules.rules if self.alerts is not None else None
        urgent = None if rules is None else urgent_rules(rules)
        if hold is FeedHold.HIDDEN:
            self._feed.hold(HIDDEN_HOLD_MS, urgent)
        elif hold is FeedHold.EACH_SECOND:
            watched = (self._watched_id,) if self._watched_id is not None else ()
            self._feed.hold(EACH_SECOND_HOLD_MS, urgent, watch=watched, align=True)
        else:
            self._feed.hold(0)

    def flush_feed(self, then: Callable[[], None]) -> None:
        """Run ``then`` once everything the hub holds for us has been applied."""
        self._feed.flush(then)

    def start(self) -> None:
        if self.running:
            return
        self.model.set_loading(True)
        self.model.layoutChanged.emit()  # repaint the overlay as "Loading…"
        self._feed_task = self._spawn(self._run_feed(), "live-feed")
        self._metrics_task = self._spawn(self._poll_metrics(), "live-metrics")

    async def stop(self) -> None:
        """Cancel the feed and metrics tasks and wait for them (idempotent)."""
        self._frame.stop()
        screen_clock().cancel_before_tick(self.flush)
        self._countdown.stop()
        tasks = [t for t in (self._feed_task, self._metrics_task) if t is not None]
        self._feed_task = self._metrics_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_feed(self) -> None:
        await self._feed.run()
        if self._feed.state is ConnectionState.UNAUTHORIZED:
            self.signed_out.emit(self._detail or "The hub refused your sign-in.")

    async def _poll_metrics(self) -> None:
        # Total and last-24h counts include history, which only the hub knows.
        while True:
            try:
                self._hub_metrics = await self._client.metrics()
                self._emit_metrics()
            except HubError as exc:
                log.info("metrics unavailable: %s", exc.code)
            self._metrics_soon.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._metrics_soon.wait(), self._metrics_poll_s)
                await asyncio.sleep(METRICS_SOON_S)  # one request for a burst of new sessions
            await self._on_screen_event.wait()  # no cards on screen: nobody to ask the hub for

    # ---------------------------------------------------------------- FeedListener

    def attach_alerts(self, alerts: AlertsViewModel) -> None:
        """Drive ``alerts`` with every applied frame, snapshot and dropped row."""
        self.alerts = alerts
        alerts.reset(self.store.sessions())

    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        self._pending.clear()
        self.store.reset(snapshot.sessions, keep_ended=True)
        if self.alerts is not None:
            self.alerts.reset(self.store.sessions())
        self._ended_seen = {sid: t for sid, t in self._ended_seen.items() if sid in self.store}
        now = self._monotonic()
        for s in self.store:
            if not s.is_live:
                self._ended_seen.setdefault(s.id, now)
        if self.paused:
            self._held.clear()
            self._held_reload = True
            self.waiting_changes = len(self.store)
        elif not self._on_screen:
            self._held.clear()
            self._held_reload = True
        else:
            self.model.set_sessions(self._table_sessions())
        self.sessions_changed.emit()
        self._emit_metrics()
        if self._watched_id is not None:
            watched = self.store.get(self._watched_id)
            if watched is not None:
                self.session_updated.emit(watched)
        self._check_first_rows()
        if self._gc_policy is not None:
            self._gc_policy.freeze_long_lived()

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        if event.type == "log.appended" and event.session_id == self._watched_id:
            self.logs_appended.emit(event.session_id)
        change = self.store.apply(event)
        self.events_applied += 1
        self._batch_events += 1
        self.last_event_at = time.monotonic()
        if change is None:
            return
        if not self._frame.isActive():
            self._frame.start(self._frame_ms if self._on_screen else HIDDEN_FRAME_MS)
        if self.alerts is not None:
            self.alerts.queue(change, replayed)
        session = change.session
        if session is not None:
            self._pending[session.id] = session
            if change.kind == "ended":
                self._ended_seen.setdefault(session.id, self._monotonic())
            if not replayed:
                if change.kind == "added":
                    self._started[session.id] = session
                    self._count_new_session(session)
                elif change.kind == "ended":
                    self._started.pop(session.id, None)
                    self._ended[session.id] = session
        if change.kind == "message" and change.message is not None:
            self._frame_messages.append(change.message)
            if change.message.session_id == self._watched_id:
                self._watched_messages.append(change.message)

    def on_batch_done(self) -> None:
        """The feed handed over all it had read. Off screen that is the frame (nothing paints,
        and the alert rules judge it now rather than on a timer of their own). On screen a
        batch of a few events that came after a calm spell (nothing read for a frame's length:
        a quiet floor) is the frame too: a lone event is painted in the turn that read it,
        instead of waking the app again 80 ms later for its frame. Otherwise the frame timer
        keeps its 80 ms: a frame at every batch's end once the last frame was 80 ms old made
        more and larger paints under feed load (feed_bench: longest stall's thread CPU 16-20
        -> 24-31 ms), and a big batch after a pause (a stall, a platform's burst) is what
        frames are for. While the hub holds the feed, its batches are the frames (it gathered
        them); on screen one that comes just before the second's tick (the hub sends them so)
        is applied by that tick, so rows that come, go or move paint with the clock's cells in
        one paint, not two a few dozen milliseconds apart."""
        now = self._monotonic()
        calm = (now - self._batch_done_at >= self._frame_ms / 1000
                and self._batch_events <= CALM_BATCH_EVENTS)
        self._batch_done_at = now
        self._batch_events = 0
        if not self._on_screen:
            self.flush()
        elif self._feed.holding:
            if not screen_clock().before_next_tick(self.flush, self):
                self.flush()
        elif calm:
            self.flush()

    def on_state(self, state: ConnectionState, retry_in: float | None, detail: str) -> None:
        self._state = state
        self._detail = detail
        self._retry_deadline = time.monotonic() + retry_in if retry_in is not None else None
        if self._retry_deadline is not None:
            self._countdown.start()
        else:
            self._countdown.stop()
        if state is ConnectionState.CONNECTED and self.model.loading:
            self.model.set_loading(False)
            self.model.layoutChanged.emit()
        self._emit_connection()

    # ---------------------------------------------------------------- frames

    def flush(self) -> None:
        """Push the pending frame to the table now (also run by the frame timer)."""
        self._frame.stop()  # this is the frame: no wake-up for it later
        if self._pending:
            batch = list(self._pending.values())
            self._pending.clear()
            if self.paused or not self._on_screen:
                self._held.update((s.id, s) for s in batch)
                if self.paused and not self._held_reload:
                    self.waiting_changes = len(self._held)
            else:
                self._show(batch)
            self.sessions_changed.emit()
            # Once per session per frame: History rows and the open detail follow the feed.
            for s in batch:
                self.session_updated.emit(s)
            self._check_first_rows()
            if self._on_screen:
                since = self._monotonic() - self._metrics_at
                if since >= 1.0 and not (screen_clock().in_tick and self._ticking()):
                    self._emit_metrics()  # cards follow the frames at most once a second
                elif not self._metrics_trailing.isActive() and not self._ticking():
                    self._metrics_trailing.start(max(1, int((1.0 - since) * 1000)))
        if self._frame_messages:
            frame, self._frame_messages = self._frame_messages, []
            self.messages_received.emit(frame)
        if self._watched_messages:
            messages, self._watched_messages = self._watched_messages, []
            for message in messages:
                self.message_received.emit(message)
        if self._started:
            started = list(self._started.values())
            self._started.clear()
            self.sessions_started.emit(started)
        if self._ended:
            ended = list(self._ended.values())
            self._ended.clear()
            self.sessions_ended.emit(ended)
        if self.alerts is not None:
            self.alerts.flush()  # the rows' highlights change in the same paint as the rows
        self._expire_when_due()
        if self._gc_policy is not None:
            self._gc_policy.end_of_frame()  # after the frame is applied, before it paints

    def _on_frame_timeout(self) -> None:
        self.flush()

    def _check_first_rows(self) -> None:
        if not self._first_rows_seen and self.model.rowCount() > 0:
            self._first_rows_seen = True
            self.first_rows_shown.emit()

    # ---------------------------------------------------------------- connection state

    @property
    def connection_state(self) -> ConnectionState | None:
        return self._state

    @property
    def connection_detail(self) -> str:
        return self._detail

    def retry_in(self) -> float | None:
        if self._retry_deadline is None:
            return None
        return max(0.0, self._retry_deadline - time.monotonic())

    def connection_text(self) -> str:
        return connection_text(self._state, self.retry_in(), self._detail)

    def _emit_connection(self) -> None:
        state = self._state.value if self._state is not None else ""
        self.connection_changed.emit(state, self.retry_in(), self.connection_text())

    def _on_countdown_timeout(self) -> None:
        self._emit_connection()

    # ---------------------------------------------------------------- selection and refresh

    def watch(self, session_id: str | None) -> None:
        """Forward live messages/updates of this session only (the one on screen); a hub
        holding the feed in step with the clock sends its events at once."""
        changed = session_id != self._watched_id
        self._watched_id = session_id
        self._watched_messages.clear()
        if changed and self._feed_hold is FeedHold.EACH_SECOND:
            self._ask_feed_hold()

    @property
    def watched_id(self) -> str | None:
        return self._watched_id

    def refresh(self) -> int:
        """F5: drop the ended sessions kept on screen. Returns how many went.

        While paused, Refresh also shows what was waiting (the list stays paused after).
        """
        self.flush()
        if self.paused or not self._on_screen:
            self._apply_held()
        dropped = self.store.drop_ended()
        if self.alerts is not None and dropped:
            self.alerts.forget(dropped)
        self._ended_seen.clear()
        removed = self.model.remove_ended()
        self.sessions_changed.emit()
        self._emit_metrics()
        return removed

    # ---------------------------------------------------------------- live list options

    def set_paused(self, paused: bool) -> None:
        """Hold the table still (reading a moving list); resuming applies what arrived."""
        if paused == self.paused:
            return
        if paused:
            self.flush()
            self.paused = True
            return
        self.paused = False
        if not self._on_screen:
            self.waiting_changes = 0  # applied with the rest when the window shows
            return
        self._apply_held()
        self._expire_ended()

    def set_keep_ended_minutes(self, minutes: int) -> None:
        """Ended rows stay this long after they end (0: until Refresh)."""
        self.keep_ended_minutes = max(0, int(minutes))
        self._expire_ended()

    def set_hide_ended(self, hide: bool) -> None:
        if hide == self.hide_ended:
            return
        self.hide_ended = hide
        if self.paused or not self._on_screen:
            return  # applied on resume (or on show), with everything else that waits
        ended = [s for s in self.store if not s.is_live]
        if hide:
            self.model.remove_sessions(s.id for s in ended)
        else:
            self.model.apply_changes(ended)
        self.sessions_changed.emit()

    def _table_sessions(self) -> list[SessionSummary]:
        if self.hide_ended:
            return [s for s in self.store if s.is_live]
        return self.store.sessions()

    def _show(self, batch: list[SessionSummary]) -> None:
        """One frame of changes into the table, leaving out what the options hide."""
        if self.hide_ended:
            gone = [s.id for s in batch if not s.is_live]
            batch = [s for s in batch if s.is_live]
            if gone:
                self.model.remove_sessions(gone)
        if batch:
            self.model.apply_changes(batch)

    def _apply_held(self) -> None:
        held, self._held = self._held, {}
        if self._held_reload:
            self._held_reload = False
            self.model.set_sessions(self._table_sessions())
        else:
            store = self.store
            shown = self.model.sessions()
            # Rows that left the store meanwhile, or that hide_ended (changed while paused)
            # now hides; and ended rows it no longer hides.
            gone = [r.id for r in shown
                    if r.id not in store or (self.hide_ended and not r.is_live)]
            if gone:
                self.model.remove_sessions(gone)
            changed = {sid: s for sid in held if (s := store.get(sid)) is not None}
            if not self.hide_ended:
                on_screen = {r.id for r in shown}
                changed.update((s.id, s) for s in store
                               if not s.is_live and s.id not in on_screen)
            self._show(list(changed.values()))
        self.waiting_changes = 0
        self.sessions_changed.emit()

    def _expire_when_due(self) -> None:
        every = EXPIRE_CHECK_MS if self._on_screen else HIDDEN_EXPIRE_CHECK_MS
        now = self._monotonic()
        if (now - self._expired_at) * 1000 >= every:
            self._expired_at = now
            self._expire_ended()

    def _expire_ended(self) -> None:
        """Drop ended rows whose time on screen is up (never while paused)."""
        if self.paused or self.keep_ended_minutes <= 0 or not self._ended_seen:
            return
        cutoff = self._monotonic() - self.keep_ended_minutes * 60
        due = [sid for sid, seen in self._ended_seen.items() if seen <= cutoff]
        if not due:
            return
        self._expired_at = self._monotonic()  # the flush below must not expire them again
        self.flush()
        for sid in due:
            del self._ended_seen[sid]
        gone = self.store.drop_ended(due)
        if gone and self.alerts is not None:
            self.alerts.forget(gone)
        if gone:
            for sid in gone:
                self._held.pop(sid, None)
            # Also off screen (once a minute there): the hidden table must not keep them.
            self.model.remove_sessions(gone)
            self.sessions_changed.emit()
            self._emit_metrics()

    # ---------------------------------------------------------------- metrics

    def metrics(self) -> LiveMetrics:
        tally = self.store.live_tally()
        return live_metrics_of_counts(tally.by_status, tally.by_channel,
                                      tally.oldest_waiting_since_ms, self._hub_metrics)

    def _count_new_session(self, session: SessionSummary) -> None:
        """A session the hub just created adds one to its total (and to its last 24 h): counted
        from the feed at once, and the next poll reconciles. Asking the hub a second after
        each new session was a request every 3 s at 5 events/s (1.9 ms of CPU each, and the
        hub's). A session first seen past its first version (reopened, or created while the
        feed was away) may already be in the hub's figures: only the hub can say."""
        hub = self._hub_metrics
        if hub is None or session.version != 1:
            self._metrics_soon.set()
            return
        recent = session.started_at >= datetime.now(UTC) - RECENT_WINDOW
        self._hub_metrics = hub.model_copy(update={
            "total": hub.total + 1, "recent_24h": hub.recent_24h + int(recent)})
        self._metrics_at = 0.0  # the cards show it with this frame

    def _on_metrics_trailing_timeout(self) -> None:
        if self._on_screen:
            self._emit_metrics()

    def _emit_metrics(self) -> None:
        self._metrics_at = self._monotonic()
        self.metrics_changed.emit(self.metrics())

    # ---------------------------------------------------------------- on screen or not

    def tick(self) -> None:
        """Once a second while the cards are on screen (the app's clock): times moved on."""
        self._ticked_at = self._monotonic()
        self._metrics_trailing.stop()  # shown now
        self._emit_metrics()
        self._expire_when_due()

    def _ticking(self) -> bool:
        """The clock ticked the cards within the last second or so: it will again."""
        return (self._ticked_at is not None and self._on_screen
                and self._monotonic() - self._ticked_at < 1.5)

    @property
    def on_screen(self) -> bool:
        return self._on_screen

    def set_on_screen(self, on_screen: bool) -> None:
        """The window came on screen or left it (tray, minimised).

        Off screen the table holds still (no row, layout or paint work per event) while the
        store, alerts and every other follower stay current; coming back applies what arrived
        in one batch before the first paint, with fresh cards."""
        if on_screen == self._on_screen:
            return
        self._on_screen = on_screen
        if not on_screen:
            self._ticked_at = None  # no tick off screen; on screen again it says so itself
            self._on_screen_event.clear()
            self._feed.read_interval = HIDDEN_READ_INTERVAL_S
            return
        self._on_screen_event.set()
        self._feed.read_interval = 0.0
        self._feed.read_now()
        self.flush()
        if not self.paused:
            self._apply_held()
        self._expired_at = self._monotonic()
        self._expire_ended()
        self._emit_metrics()
        self._metrics_soon.set()  # the hub's totals too, not after a whole poll period
