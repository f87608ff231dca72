"""The live view-model: feed -> reducer -> table, in frames.

It owns the FeedClient task and the SessionStore and is the FeedListener. Feed events are
reduced as they arrive (cheap, Qt-free) but reach the table only on a frame timer (~80 ms):
each frame becomes one ``apply_changes`` batch with ranged signals, so 1,000 events/s cost
~12 model updates per second instead of 1,000. Alerts are gathered only from events that are
not replays and never from snapshots (a reconnect must not announce the whole backlog).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from supervisor_desk.client.feed import ConnectionState, FeedClient
from supervisor_desk.client.rest import HubClient, HubError

# LiveMetrics is re-exported: it is what metrics_changed carries.
from supervisor_desk.models.metrics import LiveMetrics as LiveMetrics
from supervisor_desk.models.metrics import live_metrics
from supervisor_desk.models.state import SessionStore
from supervisor_desk.models.wire import LiveSnapshot, Message, Metrics, SessionSummary, StoredEvent
from supervisor_desk.views.session_table_model import SessionTableModel

log = logging.getLogger(__name__)

FRAME_MS = 80
METRICS_POLL_S = 15.0

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


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
    logs_appended = Signal(str)  # session id: the watched session got new log entries
    session_updated = Signal(object)  # SessionSummary: every session that changed this frame
    sessions_started = Signal(list)  # [SessionSummary] new, live (never replays)
    sessions_ended = Signal(list)  # [SessionSummary] ended while we watched (never replays)
    metrics_changed = Signal(object)  # LiveMetrics
    signed_out = Signal(str)  # the hub refused our token: reason
    first_rows_shown = Signal()

    def __init__(
        self,
        client: HubClient,
        model: SessionTableModel,
        *,
        spawn: Spawn,
        parent: QObject | None = None,
        frame_ms: int = FRAME_MS,
        metrics_poll_s: float = METRICS_POLL_S,
        feed_factory: Callable[[HubClient, LiveViewModel], FeedClient] | None = None,
        freeze_gc_after_snapshot: bool = False,
    ) -> None:
        super().__init__(parent)
        self._freeze_gc = freeze_gc_after_snapshot
        self._client = client
        self.model = model
        self.store = SessionStore()
        self._spawn = spawn
        self._feed = (feed_factory or (lambda c, listener: FeedClient(c, listener)))(client, self)
        self._feed_task: asyncio.Task[Any] | None = None
        self._metrics_task: asyncio.Task[Any] | None = None
        self._metrics_poll_s = metrics_poll_s
        self._pending: dict[str, SessionSummary] = {}
        self._started: dict[str, SessionSummary] = {}
        self._ended: dict[str, SessionSummary] = {}
        self._watched_messages: list[Message] = []
        self._watched_id: str | None = None
        self._state: ConnectionState | None = None
        self._retry_deadline: float | None = None
        self._detail = ""
        self._hub_metrics: Metrics | None = None
        self._first_rows_seen = False
        self.events_applied = 0
        self.last_event_at: float | None = None
        self._frame = QTimer(self)
        self._frame.setInterval(frame_ms)
        self._frame.timeout.connect(self._on_frame_timeout)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._on_countdown_timeout)
        self._metrics_timer = QTimer(self)
        self._metrics_timer.setInterval(1000)
        self._metrics_timer.timeout.connect(self._emit_metrics)

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

    def start(self) -> None:
        if self.running:
            return
        self.model.set_loading(True)
        self.model.layoutChanged.emit()  # repaint the overlay as "Loading…"
        self._frame.start()
        self._metrics_timer.start()
        self._feed_task = self._spawn(self._run_feed(), "live-feed")
        self._metrics_task = self._spawn(self._poll_metrics(), "live-metrics")

    async def stop(self) -> None:
        """Cancel the feed and metrics tasks and wait for them (idempotent)."""
        self._frame.stop()
        self._countdown.stop()
        self._metrics_timer.stop()
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
            await asyncio.sleep(self._metrics_poll_s)

    # ---------------------------------------------------------------- FeedListener

    def on_snapshot(self, snapshot: LiveSnapshot) -> None:
        self._pending.clear()
        self.store.reset(snapshot.sessions, keep_ended=True)
        self.model.set_sessions(self.store.sessions())
        self.sessions_changed.emit()
        self._emit_metrics()
        if self._watched_id is not None:
            watched = self.store.get(self._watched_id)
            if watched is not None:
                self.session_updated.emit(watched)
        self._check_first_rows()
        if self._freeze_gc:
            # Thousands of long-lived session objects made each full GC pass stall the Qt
            # thread for 0.3-0.6 s (benchmarks/feed_bench.py); frozen, later passes skip them.
            # Replaced sessions are still freed by reference counting (they hold no cycles).
            gc.freeze()

    def on_event(self, seq: int, event: StoredEvent, replayed: bool) -> None:
        if event.type == "log.appended" and event.session_id == self._watched_id:
            self.logs_appended.emit(event.session_id)
        change = self.store.apply(event)
        self.events_applied += 1
        self.last_event_at = time.monotonic()
        if change is None:
            return
        session = change.session
        if session is not None:
            self._pending[session.id] = session
            if not replayed:
                if change.kind == "added":
                    self._started[session.id] = session
                elif change.kind == "ended":
                    self._started.pop(session.id, None)
                    self._ended[session.id] = session
        if (
            change.kind == "message"
            and change.message is not None
            and change.message.session_id == self._watched_id
        ):
            self._watched_messages.append(change.message)

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
        if self._pending:
            batch = list(self._pending.values())
            self._pending.clear()
            self.model.apply_changes(batch)
            self.sessions_changed.emit()
            # Once per session per frame: History rows and the open detail follow the feed.
            for s in batch:
                self.session_updated.emit(s)
            self._check_first_rows()
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
        """Forward live messages/updates of this session only (the one on screen)."""
        self._watched_id = session_id
        self._watched_messages.clear()

    @property
    def watched_id(self) -> str | None:
        return self._watched_id

    def refresh(self) -> int:
        """F5: drop the ended sessions kept on screen. Returns how many went."""
        self.flush()
        self.store.drop_ended()
        removed = self.model.remove_ended()
        self.sessions_changed.emit()
        self._emit_metrics()
        return removed

    # ---------------------------------------------------------------- metrics

    def metrics(self) -> LiveMetrics:
        return live_metrics(self.store, self._hub_metrics)

    def _emit_metrics(self) -> None:
        self.metrics_changed.emit(self.metrics())
